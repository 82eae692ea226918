"""td.metrics.evaluate against the MedMNIST v2 benchmark's official evaluator.

The official code (``medmnist/evaluator.py``: ``getACC`` and ``getAUC``) is restated below as
``official_acc`` / ``official_auc``, line for line in meaning, with scikit-learn's
``roc_auc_score`` replaced by its definition — the Mann–Whitney probability over all
(positive, negative) pairs, ties counting ½ — and ``accuracy_score`` by a mean of equalities.
Hypothesis draws the inputs; the edge cases (a probability of exactly 0.5, softmax rows that do
not sum to one, ordinal labels, multi-label findings, a class missing from the test set) are
written out.
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import tinydl.metrics as M


def pairwise_auc(y, s):
    """roc_auc_score(y, s) by its definition: P(s_pos > s_neg) + ½ P(s_pos = s_neg)."""
    y, s = np.asarray(y).astype(bool), np.asarray(s, dtype=np.float64)
    pos, neg = s[y], s[~y]
    if len(pos) == 0 or len(neg) == 0:
        raise ValueError("Only one class present in y_true. ROC AUC score is not defined in that case.")
    greater = (pos[:, None] > neg[None, :]).sum()
    equal = (pos[:, None] == neg[None, :]).sum()
    return (greater + 0.5 * equal) / (len(pos) * len(neg))


def official_auc(y_true, y_score, task):
    y_true, y_score = np.squeeze(y_true), np.squeeze(y_score)
    if task == "multi-label, binary-class":
        return sum(pairwise_auc(y_true[:, i], y_score[:, i]) for i in range(y_score.shape[1])) / y_score.shape[1]
    if task == "binary-class":
        if y_score.ndim == 2:
            y_score = y_score[:, -1]
        return pairwise_auc(y_true, y_score)
    return sum(pairwise_auc(y_true == i, y_score[:, i]) for i in range(y_score.shape[1])) / y_score.shape[1]


def official_acc(y_true, y_score, task, threshold=0.5):
    y_true, y_score = np.squeeze(y_true), np.squeeze(y_score)
    if task == "multi-label, binary-class":
        y_pre = y_score > threshold
        return sum(np.mean(y_true[:, i] == y_pre[:, i]) for i in range(y_true.shape[1])) / y_true.shape[1]
    if task == "binary-class":
        if y_score.ndim == 2:
            y_score = y_score[:, -1]
        return np.mean(y_true == (y_score > threshold))
    return np.mean(y_true == np.argmax(y_score, axis=-1))


# Probabilities on a coarse grid, so that ties (equal scores, P = 0.5 exactly) are common.
grid = st.sampled_from([0.0, 0.1, 0.25, 0.5, 0.5, 0.75, 0.9, 1.0])


@st.composite
def single_label_cases(draw, task):
    k = 2 if task == "binary-class" else draw(st.integers(3, 6))
    n = draw(st.integers(2 * k, 40))
    y = np.array([i % k for i in range(k)] + draw(st.lists(st.integers(0, k - 1), min_size=n - k, max_size=n - k)))
    y = y[np.asarray(draw(st.permutations(range(n))))]
    raw = draw(hnp.arrays(np.float64, (n, k), elements=grid))
    if draw(st.booleans()):  # rows that sum to one, as a softmax gives
        raw = raw + 1e-3
        raw = raw / raw.sum(axis=1, keepdims=True)
    return y.reshape(-1, 1), raw  # labels as MedMNIST stores them: an (N, 1) column


@pytest.mark.parametrize("task", ["binary-class", "multi-class", "ordinal-regression"])
@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_single_label_acc_and_auc_equal_the_official_evaluator(task, data):
    y, p = data.draw(single_label_cases(task))
    for protocol in M.PROTOCOLS:
        result = M.evaluate(y, p, task=task, protocol=protocol)
        assert result["accuracy"] == pytest.approx(official_acc(y, p, task), abs=1e-12)
        assert result["auc"] == pytest.approx(official_auc(y, p, task), abs=1e-12)


@settings(max_examples=60, deadline=None)
@given(data=st.data())
def test_multi_label_acc_and_auc_equal_the_official_evaluator(data):
    # two findings at least: the official code squeezes (N, 1) to (N,) and then fails on a single finding
    n, findings = data.draw(st.integers(4, 30)), data.draw(st.integers(2, 5))
    y = data.draw(hnp.arrays(np.int64, (n, findings), elements=st.integers(0, 1)))
    y[0], y[1] = 0, 1  # every finding has a positive and a negative, so every AUC is defined
    p = data.draw(hnp.arrays(np.float64, (n, findings), elements=grid))
    for protocol in M.PROTOCOLS:
        result = M.evaluate(y, p, task="multi-label, binary-class", protocol=protocol)
        assert result["accuracy"] == pytest.approx(official_acc(y, p, "multi-label, binary-class"), abs=1e-12)
        assert result["auc"] == pytest.approx(official_auc(y, p, "multi-label, binary-class"), abs=1e-12)


def test_binary_probability_of_exactly_one_half_is_class_zero():
    # P(class 1) = 0.5 exactly: the official evaluator tests P > 0.5, so both images are called 0.
    y = np.array([[0], [1], [1], [0]])
    p1 = np.array([0.5, 0.5, 0.9, 0.1])
    result = M.evaluate(y, p1, task="binary-class")
    assert result["accuracy"] == 0.75  # the positive at 0.5 is missed, the negative at 0.5 is right
    assert result["confusion_matrix"] == [[2, 0], [1, 1]]


def test_binary_decision_reads_class_one_only_not_the_argmax():
    # float32 softmax rows need not sum to exactly one: here P(0) > P(1) > 0.5. The argmax says 0,
    # the official evaluator (P(class 1) > 0.5) says 1 — and so does evaluate().
    p = np.array([[0.50000006, 0.50000003], [0.9, 0.1]], dtype=np.float64)
    y = np.array([1, 0])
    assert p[0].argmax() == 0
    assert M.evaluate(y, p, task="binary-class")["accuracy"] == 1.0
    assert official_acc(y, p, "binary-class") == 1.0
    assert M.predicted_classes(p, "binary-class").tolist() == [1, 0]  # what the plots and `predict` use
    assert M.predicted_classes(p, "multi-class").tolist() == [0, 0]


def test_binary_threshold_moves_the_decision():
    y = np.array([0, 1, 1])
    p1 = np.array([0.3, 0.35, 0.8])
    assert M.evaluate(y, p1, task="binary-class")["accuracy"] == pytest.approx(2 / 3)
    assert M.evaluate(y, p1, task="binary-class", threshold=0.3)["accuracy"] == 1.0  # 0.3 is not > 0.3


def test_ordinal_grades_are_scored_as_classes():
    # RetinaMNIST's grades 0-4: grade 4 predicted as 3 is as wrong as predicted as 0 (argmax ACC),
    # and the AUC is the mean over the five one-vs-rest columns.
    y = np.array([0, 1, 2, 3, 4, 4])
    p = np.eye(5)[[0, 1, 2, 3, 3, 0]] * 0.8 + 0.04
    result = M.evaluate(y, p, task="ordinal-regression")
    assert result["accuracy"] == pytest.approx(4 / 6)
    assert result["auc"] == pytest.approx(official_auc(y, p, "ordinal-regression"))
    assert result["auc"] == pytest.approx(np.mean(result["auc_per_class"]))


def test_a_class_missing_from_the_test_set():
    y = np.array([0, 0, 1, 1])  # class 2 has no sample: its one-vs-rest AUC is undefined
    p = np.array([[0.8, 0.1, 0.1], [0.6, 0.3, 0.1], [0.2, 0.7, 0.1], [0.3, 0.4, 0.3]])
    lenient = M.evaluate(y, p, task="multi-class")
    assert lenient["auc_per_class"][2] is None and "class '2'" in lenient["warnings"][0]
    assert lenient["auc"] == pytest.approx(np.mean(lenient["auc_per_class"][:2]))
    with pytest.raises(ValueError, match="protocol='medmnist'.*class '2'"):
        M.evaluate(y, p, task="multi-class", protocol="medmnist")
    with pytest.raises(ValueError, match="Only one class"):
        official_auc(y, p, "multi-class")  # the official code has no number either


def test_a_finding_without_positives_under_the_strict_protocol():
    y = np.array([[0, 1], [0, 0], [0, 1]])
    p = np.array([[0.2, 0.9], [0.1, 0.2], [0.4, 0.6]])
    assert M.evaluate(y, p, task="multi-label, binary-class")["auc_per_class"][0] is None
    with pytest.raises(ValueError, match="protocol='medmnist'.*finding '0'"):
        M.evaluate(y, p, task="multi-label, binary-class", protocol="medmnist")


def test_unknown_protocol_is_named():
    with pytest.raises(ValueError, match="protocol must be one of .*'medmnist'.*got 'paper'"):
        M.evaluate([0, 1], [0.2, 0.7], task="binary-class", protocol="paper")
