"""tinydl.metrics, checked against numbers worked out by hand in the comments.

Each example writes out TP/FP/FN/TN and the expected values as fractions, so a
reader can redo the arithmetic. The AUC is also checked against its
definition, the Mann–Whitney probability, by a brute-force loop over all
(positive, negative) pairs on hypothesis-drawn inputs.
"""

import json
import warnings
from fractions import Fraction as Fr

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinydl as td
import tinydl.metrics as M

# --------------------------------------------------------------------------- a 3-class example
#   y_true = 0 0 0 0 | 1 1 1 | 2 2 2
#   y_pred = 0 0 0 1 | 1 1 2 | 0 0 2
#
#   confusion matrix (rows = true, columns = predicted)
#             pred 0  pred 1  pred 2    support
#   true 0       3       1       0         4
#   true 1       0       2       1         3
#   true 2       2       0       1         3
#   column sums  5       3       2        N = 10
#
#   class 0: TP = 3, FN = 4-3 = 1, FP = 5-3 = 2, TN = 10-3-1-2 = 4
#   class 1: TP = 2, FN = 3-2 = 1, FP = 3-2 = 1, TN = 10-2-1-1 = 6
#   class 2: TP = 1, FN = 3-1 = 2, FP = 2-1 = 1, TN = 10-1-2-1 = 6
Y3_TRUE = [0, 0, 0, 0, 1, 1, 1, 2, 2, 2]
Y3_PRED = [0, 0, 0, 1, 1, 1, 2, 0, 0, 2]
CM3 = [[3, 1, 0], [0, 2, 1], [2, 0, 1]]
SUPPORT3 = [4, 3, 3]
PRECISION3 = [Fr(3, 5), Fr(2, 3), Fr(1, 2)]  # TP / (TP + FP)
RECALL3 = [Fr(3, 4), Fr(2, 3), Fr(1, 3)]  # TP / (TP + FN)
SPECIFICITY3 = [Fr(4, 6), Fr(6, 7), Fr(6, 7)]  # TN / (TN + FP)
F13 = [Fr(6, 9), Fr(4, 6), Fr(2, 5)]  # 2TP / (2TP + FP + FN)


def close(value, expected):
    """Compare floats (or arrays) with Fractions (or lists of them) to rounding error."""
    return np.allclose(np.asarray(value, dtype=float), np.array(expected, dtype=float), rtol=0, atol=1e-12)


def test_confusion_matrix_by_hand():
    assert M.confusion_matrix(Y3_TRUE, Y3_PRED).tolist() == CM3
    # Rows sum to the support of each class, the whole to N.
    assert M.confusion_matrix(Y3_TRUE, Y3_PRED).sum(axis=1).tolist() == SUPPORT3


def test_confusion_matrix_num_classes_adds_empty_classes():
    cm = M.confusion_matrix([0, 1], [1, 1], num_classes=4)
    assert cm.shape == (4, 4)
    assert cm.tolist() == [[0, 1, 0, 0], [0, 1, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]]


def test_accuracy_by_hand():
    # The diagonal 3 + 2 + 1 = 6 correct out of 10.
    assert M.accuracy(Y3_TRUE, Y3_PRED) == pytest.approx(6 / 10)


@pytest.mark.parametrize(
    "metric, per_class",
    [
        (M.precision, PRECISION3),
        (M.recall, RECALL3),
        (M.specificity, SPECIFICITY3),
        (M.f1_score, F13),
    ],
)
def test_per_class_and_averages_by_hand(metric, per_class):
    assert close(metric(Y3_TRUE, Y3_PRED, average=None), per_class)
    # macro: plain mean over the 3 classes
    assert close(metric(Y3_TRUE, Y3_PRED, average="macro"), sum(per_class) / 3)
    # weighted: by support 4, 3, 3
    weighted = sum(s * v for s, v in zip(SUPPORT3, per_class)) / 10
    assert close(metric(Y3_TRUE, Y3_PRED, average="weighted"), weighted)


def test_averages_as_fractions():
    # The same, with the fractions written out:
    #   macro precision = (3/5 + 2/3 + 1/2) / 3 = (18 + 20 + 15)/30 / 3 = 53/90
    #   weighted precision = (4·3/5 + 3·2/3 + 3·1/2) / 10 = (2.4 + 2 + 1.5) / 10 = 59/100
    #   macro recall = (3/4 + 2/3 + 1/3) / 3 = 7/12;  weighted recall = (3 + 2 + 1)/10 = accuracy
    #   macro F1 = (2/3 + 2/3 + 2/5) / 3 = 26/45;   weighted F1 = (8/3 + 2 + 6/5)/10 = 44/75
    #   macro specificity = (2/3 + 6/7 + 6/7) / 3 = 50/63;  weighted = (8/3 + 18/7 + 18/7)/10 = 82/105
    assert close(M.precision(Y3_TRUE, Y3_PRED, average="macro"), Fr(53, 90))
    assert close(M.precision(Y3_TRUE, Y3_PRED, average="weighted"), Fr(59, 100))
    assert close(M.recall(Y3_TRUE, Y3_PRED, average="macro"), Fr(7, 12))
    assert close(M.recall(Y3_TRUE, Y3_PRED, average="weighted"), M.accuracy(Y3_TRUE, Y3_PRED))
    assert close(M.f1_score(Y3_TRUE, Y3_PRED, average="macro"), Fr(26, 45))
    assert close(M.f1_score(Y3_TRUE, Y3_PRED, average="weighted"), Fr(44, 75))
    assert close(M.specificity(Y3_TRUE, Y3_PRED, average="macro"), Fr(50, 63))
    assert close(M.specificity(Y3_TRUE, Y3_PRED, average="weighted"), Fr(82, 105))


# --------------------------------------------------------------------------- a binary example
#   y_true = 1 1 1 0 0 0 0 0
#   y_pred = 1 1 0 1 1 0 0 0
#   positive class 1:  TP = 2, FN = 1, FP = 2, TN = 3
YB_TRUE = [1, 1, 1, 0, 0, 0, 0, 0]
YB_PRED = [1, 1, 0, 1, 1, 0, 0, 0]


def test_binary_by_hand():
    assert close(M.precision(YB_TRUE, YB_PRED), Fr(2, 4))  # TP/(TP+FP)
    assert close(M.recall(YB_TRUE, YB_PRED), Fr(2, 3))  # TP/(TP+FN)
    assert M.sensitivity is M.recall
    assert close(M.specificity(YB_TRUE, YB_PRED), Fr(3, 5))  # TN/(TN+FP)
    # F1 = 2PR/(P+R) = 2·(1/2)(2/3) / (1/2 + 2/3) = (2/3)/(7/6) = 4/7 = 2TP/(2TP+FP+FN) = 4/(4+2+1)
    assert close(M.f1_score(YB_TRUE, YB_PRED), Fr(4, 7))
    assert close(M.accuracy(YB_TRUE, YB_PRED), Fr(5, 8))
    # With class 0 as the positive class the roles swap: precision = TN/(TN+FN) = 3/4.
    assert close(M.precision(YB_TRUE, YB_PRED, positive=0), Fr(3, 4))
    assert close(M.recall(YB_TRUE, YB_PRED, positive=0), Fr(3, 5))


def test_binary_average_needs_two_classes():
    with pytest.raises(ValueError, match="average='binary' needs two classes, found 3"):
        M.precision(Y3_TRUE, Y3_PRED)
    with pytest.raises(ValueError, match="average must be one of"):
        M.precision(YB_TRUE, YB_PRED, average="micro")


def test_zero_division_is_zero():
    # Class 1 is never predicted: precision = 0/(0+0) -> 0.0; recall = 0/2 = 0; F1 = 0/(0+0+2) = 0.
    y_true, y_pred = [0, 0, 1, 1], [0, 0, 0, 0]
    assert M.precision(y_true, y_pred) == 0.0
    assert M.recall(y_true, y_pred) == 0.0
    assert M.f1_score(y_true, y_pred) == 0.0
    assert M.specificity(y_true, y_pred) == 1.0  # TN = 2, FP = 0
    # No positives at all: recall = 0/(0+0) -> 0.0, not nan, and no RuntimeWarning
    # (pyproject turns tinydl's RuntimeWarnings into errors).
    assert M.recall([0, 0, 0], [0, 0, 0]) == 0.0
    assert M.precision([0, 0, 0], [0, 0, 0]) == 0.0
    assert M.specificity([0, 0, 0], [0, 0, 0]) == 1.0


def test_classification_report_and_table():
    report = M.classification_report(Y3_TRUE, Y3_PRED, class_names=["normal", "benign", "malignant"])
    assert report["classes"] == ["normal", "benign", "malignant"]
    assert close(report["per_class"]["malignant"]["recall"], Fr(1, 3))
    assert close(report["per_class"]["normal"]["precision"], Fr(3, 5))
    assert report["per_class"]["benign"]["support"] == 3
    assert close(report["macro"]["f1"], Fr(26, 45))
    assert close(report["weighted"]["precision"], Fr(59, 100))
    assert close(report["accuracy"], Fr(6, 10))
    assert report["macro"]["support"] == report["num_samples"] == 10
    json.dumps(report)  # plain Python numbers only
    table = M.format_report(report)
    assert "malignant" in table and "macro avg" in table and "weighted avg" in table and "accuracy" in table
    assert "0.333" in table  # malignant recall 1/3
    with pytest.raises(ValueError, match="class_names has 2 names but there are 3 classes"):
        M.classification_report(Y3_TRUE, Y3_PRED, class_names=["a", "b"], num_classes=3)


# --------------------------------------------------------------------------- ROC and AUC
def test_roc_curve_by_hand():
    # Sorted by score: 0.8 (pos), 0.4 (neg), 0.35 (pos), 0.1 (neg); 2 positives, 2 negatives.
    # Lowering the threshold through them: (FP, TP) = (0,1), (1,1), (1,2), (2,2).
    fpr, tpr, thresholds = M.roc_curve([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8])
    assert close(fpr, [0, 0, Fr(1, 2), Fr(1, 2), 1])
    assert close(tpr, [0, Fr(1, 2), Fr(1, 2), 1, 1])
    assert thresholds[0] == np.inf and close(thresholds[1:], [0.8, 0.4, 0.35, 0.1])
    # AUC: pairs (pos, neg) correctly ordered: 0.35>0.1, 0.8>0.1, 0.8>0.4, but not 0.35>0.4 -> 3/4.
    assert M.roc_auc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(3 / 4)


def test_roc_with_ties_by_hand():
    # positives score 0.5, 0.5, 0.9; negatives 0.2, 0.5.  The 6 pairs:
    #   0.5 vs 0.2 win, 0.5 vs 0.5 tie (x2 positives), 0.9 wins both -> 4 wins + 2 ties.
    #   AUC = (4 + 2·½) / 6 = 5/6.
    y = [0, 1, 0, 1, 1]
    s = [0.2, 0.5, 0.5, 0.5, 0.9]
    fpr, tpr, thresholds = M.roc_curve(y, s)
    # The three samples scoring 0.5 enter together: one point per distinct score.
    assert close(thresholds[1:], [0.9, 0.5, 0.2])
    assert close(fpr, [0, 0, Fr(1, 2), 1])
    assert close(tpr, [0, Fr(1, 3), 1, 1])
    assert M.roc_auc(y, s) == pytest.approx(5 / 6)
    # ... whatever order the tied samples come in.
    for order in ([2, 1, 0, 3, 4], [3, 2, 1, 4, 0], [4, 3, 2, 1, 0]):
        assert M.roc_auc(np.array(y)[order], np.array(s)[order]) == pytest.approx(5 / 6)


def test_auc_perfect_inverted_and_constant():
    y = [0, 0, 1, 1]
    assert M.roc_auc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert M.roc_auc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert M.roc_auc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5  # every pair a tie: ½
    # Logits work too: AUC only depends on the order of the scores.
    assert M.roc_auc(y, [-3.0, -1.0, 2.0, 7.0]) == 1.0


def test_auc_uses_column_1_of_two_column_probabilities():
    probs = np.array([[0.9, 0.1], [0.6, 0.4], [0.65, 0.35], [0.2, 0.8]])
    assert M.roc_auc([0, 0, 1, 1], probs) == pytest.approx(3 / 4)  # same scores as test_roc_curve_by_hand


def test_auc_of_one_class_raises():
    with pytest.raises(ValueError, match=r"y_true \(shape \(3,\)\) contains only class 1"):
        M.roc_auc([1, 1, 1], [0.2, 0.5, 0.7])
    with pytest.raises(ValueError, match="only class 0"):
        M.roc_curve([0, 0], [0.2, 0.5])


def brute_force_auc(y, s):
    """P(score_pos > score_neg) + ½·P(score_pos = score_neg), over every (positive, negative) pair."""
    positives = [si for yi, si in zip(y, s) if yi == 1]
    negatives = [si for yi, si in zip(y, s) if yi == 0]
    total = 0.0
    for p in positives:
        for n in negatives:
            total += 1.0 if p > n else 0.5 if p == n else 0.0
    return total / (len(positives) * len(negatives))


@given(
    st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6)), min_size=2, max_size=40).filter(
        lambda pairs: len({label for label, _ in pairs}) == 2
    )
)
def test_auc_equals_mann_whitney(pairs):
    # Scores from a small set of values, so that ties are frequent.
    y = [label for label, _ in pairs]
    s = [value / 6 for _, value in pairs]
    assert M.roc_auc(y, s) == pytest.approx(brute_force_auc(y, s), abs=1e-12)


@given(
    st.lists(st.tuples(st.integers(0, 1), st.floats(-1e3, 1e3)), min_size=2, max_size=30).filter(
        lambda pairs: len({label for label, _ in pairs}) == 2
    ),
    st.randoms(use_true_random=False),
)
def test_roc_curve_does_not_depend_on_sample_order(pairs, rnd):
    shuffled = list(pairs)
    rnd.shuffle(shuffled)
    a = M.roc_curve(*zip(*pairs))
    b = M.roc_curve(*zip(*shuffled))
    for x, z in zip(a, b):
        np.testing.assert_array_equal(x, z)
    fpr, tpr, _ = a
    assert fpr[0] == tpr[0] == 0 and fpr[-1] == tpr[-1] == 1
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)


# One-vs-rest on 3 classes:
#   y      = 0,               1,               2,               2
#   scores = [.6, .3, .1],    [.2, .5, .3],    [.1, .2, .7],    [.3, .4, .3]
#   class 0: positive 0.6 vs negatives .2 .1 .3        -> 3/3 = 1
#   class 1: positive 0.5 vs negatives .3 .2 .4        -> 3/3 = 1
#   class 2: positives .7 .3 vs negatives .1 .3: .7 wins twice, .3 beats .1 and ties .3
#            -> (2 + 1 + ½) / 4 = 7/8
#   macro = (1 + 1 + 7/8) / 3 = 23/24
Y_OVR = [0, 1, 2, 2]
S_OVR = np.array([[0.6, 0.3, 0.1], [0.2, 0.5, 0.3], [0.1, 0.2, 0.7], [0.3, 0.4, 0.3]])


def test_one_vs_rest_auc_by_hand():
    assert close(M.roc_auc_per_class(Y_OVR, S_OVR), [1, 1, Fr(7, 8)])
    assert M.roc_auc(Y_OVR, S_OVR) == pytest.approx(23 / 24)


def test_one_vs_rest_skips_an_absent_class_with_a_warning():
    y = [0, 0, 1, 1]
    scores = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.4, 0.4, 0.2]])
    per_class = M.roc_auc_per_class(y, scores)
    assert np.isnan(per_class[2])  # class 2 never occurs: its AUC is undefined
    with pytest.warns(UserWarning, match=r"class\(es\) \[2\] skipped"):
        auc = M.roc_auc(y, scores)
    assert auc == pytest.approx(np.mean(per_class[:2]))


# Multi-label (2 findings, as ChestMNIST's 14):
#   y      = [1,0], [0,1], [1,1], [0,0]
#   scores = [.9,.2], [.3,.6], [.4,.4], [.5,.4]
#   finding 0: positives .9 .4, negatives .3 .5: .9 wins twice, .4 beats .3 loses to .5 -> 3/4
#   finding 1: positives .6 .4, negatives .2 .4: .6 wins twice, .4 beats .2 ties .4     -> 3.5/4 = 7/8
#   mean = (3/4 + 7/8) / 2 = 13/16
Y_ML = np.array([[1, 0], [0, 1], [1, 1], [0, 0]])
S_ML = np.array([[0.9, 0.2], [0.3, 0.6], [0.4, 0.4], [0.5, 0.4]])


def test_multilabel_auc_by_hand():
    assert close(M.roc_auc_per_class(Y_ML, S_ML), [Fr(3, 4), Fr(7, 8)])
    assert M.roc_auc(Y_ML, S_ML) == pytest.approx(13 / 16)
    with pytest.raises(ValueError, match=r"same shape, got \(4, 2\) and \(4, 3\)"):
        M.roc_auc(Y_ML, np.zeros((4, 3)))


# --------------------------------------------------------------------------- calibration
#   probs        true  prediction  confidence  correct
#   [.9, .1]      0        0           .9         1
#   [.8, .2]      1        0           .8         0
#   [.3, .7]      1        1           .7         1
#   [.45, .55]    0        1           .55        0
#   4 bins: (0, .25], (.25, .5], (.5, .75], (.75, 1]
#   bin 3 (.75, 1]:  {.9, .8}   accuracy 1/2, confidence .85   -> gap .35
#   bin 2 (.5, .75]: {.7, .55}  accuracy 1/2, confidence .625  -> gap .125
#   ECE = 2/4 · .35 + 2/4 · .125 = .2375
Y_CAL = [0, 1, 1, 0]
P_CAL = np.array([[0.9, 0.1], [0.8, 0.2], [0.3, 0.7], [0.45, 0.55]])


def test_ece_by_hand():
    assert M.expected_calibration_error(Y_CAL, P_CAL, n_bins=4) == pytest.approx(0.2375)
    # 1-D P(class 1) means the same as the two columns.
    assert M.expected_calibration_error(Y_CAL, P_CAL[:, 1], n_bins=4) == pytest.approx(0.2375)


def test_reliability_curve_by_hand():
    curve = M.reliability_curve(Y_CAL, P_CAL, n_bins=4)
    assert curve["count"].tolist() == [0, 0, 2, 2]
    assert np.allclose(curve["bin_lower"], [0, 0.25, 0.5, 0.75]) and np.allclose(
        curve["bin_upper"], [0.25, 0.5, 0.75, 1]
    )
    assert np.isnan(curve["confidence"][:2]).all() and np.isnan(curve["accuracy"][:2]).all()  # empty bins
    assert np.allclose(curve["confidence"][2:], [0.625, 0.85])
    assert np.allclose(curve["accuracy"][2:], [0.5, 0.5])


def test_ece_of_confident_and_right_is_zero():
    # Every confidence is 1.0 (lands in the last bin) and every prediction is right.
    assert M.expected_calibration_error([0, 1, 2], np.eye(3)) == 0.0


def test_ece_matches_a_direct_loop(rng):
    probs = rng.dirichlet([1, 1, 1], size=200)
    y = rng.integers(0, 3, size=200)
    n_bins = 15
    conf, pred = probs.max(1), probs.argmax(1)
    ece = 0.0
    for b in range(n_bins):
        lo, hi = b / n_bins, (b + 1) / n_bins
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.mean() * abs((pred[inside] == y[inside]).mean() - conf[inside].mean())
    assert M.expected_calibration_error(y, probs, n_bins) == pytest.approx(ece)


def test_ece_rejects_logits():
    with pytest.raises(ValueError, match=r"probs must be probabilities in \[0, 1\].*apply softmax"):
        M.expected_calibration_error([0, 1], [[2.0, -1.0], [0.5, 3.0]])


# --------------------------------------------------------------------------- operating points
#   y      = 1   1   1   0   0   0   0   0
#   scores = .9  .6  .3  .7  .5  .2  .1  .4
#   threshold .5 (score >= .5 is positive): flagged .9 .6 .7 .5
#   TP = 2 (.9 .6), FP = 2 (.7 .5), FN = 1 (.3), TN = 3 (.2 .1 .4)
Y_T = [1, 1, 1, 0, 0, 0, 0, 0]
S_T = [0.9, 0.6, 0.3, 0.7, 0.5, 0.2, 0.1, 0.4]


def test_threshold_metrics_by_hand():
    m = M.threshold_metrics(Y_T, S_T, threshold=0.5)
    assert (m["tp"], m["fp"], m["fn"], m["tn"]) == (2, 2, 1, 3)
    assert close(
        [m["sensitivity"], m["specificity"], m["precision"], m["npv"], m["f1"], m["accuracy"]],
        [Fr(2, 3), Fr(3, 5), Fr(1, 2), Fr(3, 4), Fr(4, 7), Fr(5, 8)],
    )
    assert close(m["youden"], Fr(2, 3) + Fr(3, 5) - 1)  # = 4/15


def test_best_threshold_by_hand():
    # Youden J = TP/3 − FP/5 at each distinct score:
    #   .9: 1/3 − 0 = 5/15   .7: 1/3 − 1/5 = 2/15   .6: 2/3 − 1/5 = 7/15   .5: 2/3 − 2/5 = 4/15
    #   .4: 1/15             .3: 1 − 3/5 = 6/15     .2: 3/15               .1: 0
    assert M.best_threshold(Y_T, S_T) == 0.6
    # F1 = 2TP/(2TP+FP+FN): .9: 2/4  .7: 2/5  .6: 4/6  .5: 4/7  .4: 4/8  .3: 6/9  .2: 6/10  .1: 6/11
    # .6 and .3 tie at 2/3: the higher threshold wins.
    assert M.best_threshold(Y_T, S_T, criterion="f1") == 0.6
    with pytest.raises(ValueError, match="criterion must be"):
        M.best_threshold(Y_T, S_T, criterion="accuracy")


# --------------------------------------------------------------------------- evaluate()
def test_evaluate_binary_by_hand():
    # P(class 1) = .9 .6 .3 .7 .45 .2 .1 .4 for y = 1 1 1 0 0 0 0 0; prediction = argmax = (p > .5)
    #   predicted 1 1 0 1 0 0 0 0: TP = 2, FN = 1, FP = 1, TN = 4; accuracy 6/8
    #   AUC: .9 beats all 5 negatives, .6 beats 4 (not .7), .3 beats .2 and .1 -> 11/15
    p1 = np.array([0.9, 0.6, 0.3, 0.7, 0.45, 0.2, 0.1, 0.4])
    result = M.evaluate(
        np.array(Y_T)[:, None], np.stack([1 - p1, p1], axis=1), task="binary-class", class_names=["normal", "pneumonia"]
    )
    json.dumps(result, allow_nan=False)
    assert result["confusion_matrix"] == [[4, 1], [1, 2]]
    assert close(result["accuracy"], Fr(6, 8))
    assert close(result["auc"], Fr(11, 15))
    assert result["positive_class"]["name"] == "pneumonia"
    assert close(result["positive_class"]["sensitivity"], Fr(2, 3))
    assert close(result["positive_class"]["specificity"], Fr(4, 5))
    assert close(result["recall"]["per_class"], [Fr(4, 5), Fr(2, 3)])
    assert result["support"] == [5, 3]
    assert 0 <= result["ece"] <= 1 and result["warnings"] == []
    # 1-D P(class 1) gives the same result.
    same = M.evaluate(Y_T, p1, task="binary-class", class_names=["normal", "pneumonia"])
    assert same == result


def test_evaluate_multiclass_by_hand():
    # Argmax of S_OVR's rows: 0, 1, 2, 1 for y = 0, 1, 2, 2 -> 3/4 right; AUC 23/24 (see above).
    result = M.evaluate(Y_OVR, S_OVR, task="multi-class")
    json.dumps(result, allow_nan=False)
    assert result["confusion_matrix"] == [[1, 0, 0], [0, 1, 0], [0, 1, 1]]
    assert close(result["accuracy"], Fr(3, 4))
    assert close(result["auc"], Fr(23, 24))
    assert close(result["auc_per_class"], [1, 1, Fr(7, 8)])
    # class 1: TP = 1, FP = 1 -> precision 1/2; class 2: TP = 1, FN = 1 -> recall 1/2
    assert close(result["precision"]["per_class"], [1, Fr(1, 2), 1])
    assert close(result["recall"]["per_class"], [1, 1, Fr(1, 2)])
    assert close(result["f1"]["macro"], (1 + Fr(2, 3) + Fr(2, 3)) / 3)


def test_evaluate_multiclass_with_an_absent_class_reports_none():
    y = [0, 0, 1, 1]
    probs = np.array([[0.8, 0.1, 0.1], [0.5, 0.3, 0.2], [0.2, 0.7, 0.1], [0.4, 0.4, 0.2]])
    result = M.evaluate(y, probs, task="multi-class", class_names=["a", "b", "c"])
    json.dumps(result, allow_nan=False)
    assert result["auc_per_class"][2] is None
    assert any("'c'" in note for note in result["warnings"])


def test_evaluate_multilabel_by_hand():
    # Predictions probs > .5 (strictly, MedMNIST's convention; the .5 in row 3 counts as 0):
    #   finding 0: .9 .3 .4 .5 -> 1 0 0 0 vs y 1 0 1 0: 3/4 right; TP 1, FN 1, FP 0, TN 2
    #   finding 1: .2 .6 .4 .4 -> 0 1 0 0 vs y 0 1 1 0: 3/4 right
    #   accuracy = mean(3/4, 3/4) = 3/4; rows entirely right: 0, 1, 3 -> exact match 3/4
    probs = np.array([[0.9, 0.2], [0.3, 0.6], [0.4, 0.4], [0.5, 0.4]])
    result = M.evaluate(Y_ML, probs, task="multi-label, binary-class", class_names=["effusion", "mass"])
    json.dumps(result, allow_nan=False)
    assert close(result["accuracy_per_class"], [Fr(3, 4), Fr(3, 4)])
    assert close(result["accuracy"], Fr(3, 4)) and close(result["exact_match"], Fr(3, 4))
    assert close(result["auc_per_class"], [Fr(3, 4), Fr(7, 8)])  # see test_multilabel_auc_by_hand
    assert close(result["auc"], Fr(13, 16))
    assert result["confusion_matrix"][0] == [[2, 0], [1, 1]]  # [[TN, FP], [FN, TP]]
    assert close(result["recall"]["per_class"][0], Fr(1, 2))
    assert result["class_names"] == ["effusion", "mass"]


def test_evaluate_rejects_bad_task():
    with pytest.raises(ValueError, match="task must be one of"):
        M.evaluate(Y_OVR, S_OVR, task="regression")


# --------------------------------------------------------------------------- input checking
def test_mismatched_lengths():
    with pytest.raises(
        ValueError, match=r"y_true and y_pred must have one entry per sample, got shapes \(3,\) and \(4,\)"
    ):
        M.accuracy([0, 1, 1], [0, 1, 1, 0])
    with pytest.raises(ValueError, match=r"y_true and scores .* \(3,\) and \(2,\)"):
        M.roc_auc([0, 1, 1], [0.2, 0.4])


def test_labels_out_of_range():
    with pytest.raises(ValueError, match=r"y_pred has label 5 but num_classes=3"):
        M.confusion_matrix([0, 1, 2], [0, 5, 2], num_classes=3)
    with pytest.raises(ValueError, match=r"y_true has label 3 but probs has 3 columns \(shape \(4, 3\)\)"):
        M.evaluate([0, 1, 2, 3], S_OVR)
    with pytest.raises(ValueError, match="y_true has a negative label -1"):
        M.accuracy([0, -1], [0, 1])
    with pytest.raises(ValueError, match="y_true must be binary"):
        M.roc_curve([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="whole-number class labels.*did you pass scores"):
        M.accuracy([0.2, 0.9], [0, 1])


def test_nan_scores():
    with pytest.raises(ValueError, match=r"scores contains NaN or inf \(1 of 3 values; shape \(3,\)\)"):
        M.roc_auc([0, 1, 1], [0.2, np.nan, 0.4])
    with pytest.raises(ValueError, match=r"probs contains NaN"):
        M.evaluate(Y_OVR, np.full((4, 3), np.nan))


def test_tensors_and_label_columns_are_accepted():
    # tinydl Tensors, and MedMNIST-style (N, 1) label columns.
    y = td.tensor(np.array(Y3_TRUE)[:, None])
    assert M.accuracy(y, td.tensor(Y3_PRED)) == pytest.approx(0.6)
    assert M.roc_auc(td.tensor([0, 0, 1, 1]), td.tensor([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.75)


def test_no_warning_for_well_defined_inputs():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        M.evaluate(Y_OVR, S_OVR)
        M.roc_auc(Y_ML, S_ML)


# --------------------------------------------------------------------------- optional cross-check
def test_agrees_with_scikit_learn(rng):
    sklearn_metrics = pytest.importorskip("sklearn.metrics")
    y = rng.integers(0, 4, 300)
    probs = rng.dirichlet([1, 1, 1, 1], size=300)
    pred = probs.argmax(1)
    for average in ("macro", "weighted"):
        assert M.f1_score(y, pred, average=average) == pytest.approx(sklearn_metrics.f1_score(y, pred, average=average))
        assert M.precision(y, pred, average=average) == pytest.approx(
            sklearn_metrics.precision_score(y, pred, average=average, zero_division=0)
        )
    assert M.roc_auc(y, probs) == pytest.approx(sklearn_metrics.roc_auc_score(y, probs, multi_class="ovr"))
    yb, sb = rng.integers(0, 2, 300), rng.integers(0, 10, 300) / 10
    assert M.roc_auc(yb, sb) == pytest.approx(sklearn_metrics.roc_auc_score(yb, sb))
