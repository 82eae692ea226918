"""Tests of assignment 4: training and evaluating the medical CNN.

One pytest marker per task: ``python -m pytest -m a4_binary_auc`` runs one task's tests.
Each test calls its task's function alone and compares it with a formula or a computation
written here: the training-step tests, for instance, redo the step by hand with the
autograd of assignments 1–3 and compare the weights. The notebook task's tests run the
graded cell of ``notebooks/assignment4.ipynb`` by itself.
"""

import itertools
import json
import pathlib

import numpy as np
import pytest

import tinydl as td
from tinydl.metrics import _binary_auc
from tinydl.train import Normalizer, Trainer, balanced_class_weights

RNG = np.random.default_rng(4)


# ---------------------------------------------------------------------------- data preparation
@pytest.mark.a4_normalizer_fit
def test_normalizer_fit_per_channel():
    x = RNG.normal(size=(40, 3, 5, 5)) * np.array([1.0, 2.0, 5.0]).reshape(1, 3, 1, 1) + 3
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(np.ravel(norm.mean), x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(norm.std), x.std(axis=(0, 2, 3)), rtol=1e-5)


@pytest.mark.a4_normalizer_fit
def test_normalizer_fit_then_apply_standardises_each_channel():
    x = (RNG.normal(size=(30, 2, 4, 4)) * np.array([0.5, 8.0]).reshape(1, 2, 1, 1) - 4).astype(np.float32)
    z = np.asarray(Normalizer.fit(x)(x), dtype=np.float64)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), [0.0, 0.0], atol=1e-4)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), [1.0, 1.0], rtol=1e-4)


@pytest.mark.a4_normalizer_fit
def test_normalizer_fit_on_feature_vectors():
    x = RNG.normal(size=(50, 4)) * np.array([1.0, 3.0, 0.1, 10.0]) + np.array([0.0, 5.0, -1.0, 2.0])
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(np.ravel(norm.mean), x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(np.ravel(norm.std), x.std(axis=0), rtol=1e-5)


@pytest.mark.a4_class_weights
def test_balanced_class_weights():
    np.testing.assert_allclose(balanced_class_weights(np.array([0, 0, 0, 1]), 2), [4 / 6, 4 / 2], rtol=1e-6)
    np.testing.assert_allclose(balanced_class_weights(np.array([1, 1]), 3), [0, 2 / (3 * 2), 0], rtol=1e-6)


@pytest.mark.a4_class_weights
def test_balanced_class_weights_equalise_the_classes():
    labels = RNG.integers(0, 4, size=200)
    weights = np.asarray(balanced_class_weights(labels, 4), dtype=np.float64)
    counts = np.bincount(labels, minlength=4)
    np.testing.assert_allclose(weights * counts, np.full(4, 200 / 4), rtol=1e-5)  # every class weighs N / K


# ---------------------------------------------------------------------------- metrics
@pytest.mark.a4_confusion_matrix
def test_confusion_matrix_by_hand():
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0, 2]
    expected = [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    np.testing.assert_array_equal(td.metrics.confusion_matrix(y_true, y_pred), expected)


@pytest.mark.a4_confusion_matrix
def test_confusion_matrix_against_a_count_and_with_unseen_classes():
    y_true, y_pred = RNG.integers(0, 5, size=300), RNG.integers(0, 5, size=300)
    expected = np.zeros((6, 6), dtype=np.int64)
    for t, p in zip(y_true, y_pred):
        expected[t, p] += 1
    cm = td.metrics.confusion_matrix(y_true, y_pred, num_classes=6)  # class 5 never occurs: a row and column of 0
    np.testing.assert_array_equal(cm, expected)
    assert cm.sum() == 300


def auc_by_pairs(y, s):
    """P(score of a positive > score of a negative), ties counting one half: the AUC's meaning."""
    pairs = list(itertools.product(s[y == 1], s[y == 0]))
    return np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])


@pytest.mark.a4_binary_auc
def test_roc_auc_is_the_probability_of_a_correct_ordering():
    y = RNG.integers(0, 2, size=40)
    y[:2] = [0, 1]
    s = RNG.integers(0, 5, size=40).astype(float)  # many ties
    assert td.metrics.roc_auc(y, s) == pytest.approx(auc_by_pairs(y, s))


@pytest.mark.a4_binary_auc
def test_binary_auc_extremes_and_continuous_scores():
    y = np.array([0, 0, 1, 1, 0, 1])
    assert _binary_auc(y, y.astype(float)) == pytest.approx(1.0)
    assert _binary_auc(y, -y.astype(float)) == pytest.approx(0.0)
    assert _binary_auc(y, np.zeros(6)) == pytest.approx(0.5)
    y = RNG.integers(0, 2, size=60)
    y[:2] = [0, 1]
    s = RNG.normal(size=60) + y
    assert _binary_auc(y, s) == pytest.approx(auc_by_pairs(y, s))


# ---------------------------------------------------------------------------- training
def tiny_problem(seed=0):
    """A linear model and two batches of a small two-class problem."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(24, 1, 2, 2)).astype(np.float32)
    y = (x[:, 0, 0, 0] > x[:, 0, 1, 1]).astype(np.int64)
    td.manual_seed(seed)
    model = td.nn.Sequential(td.nn.Flatten(), td.nn.Linear(4, 2))
    return model, [(x[:12], y[:12]), (x[12:], y[12:])]


def sgd_by_hand(model, batches, lr, prepare=lambda images: images):
    """What one epoch of plain SGD must do, step by step: the expected weights and batch losses."""
    weights = [p.numpy().copy() for p in model.parameters()]
    losses = []
    for images, labels in batches:
        for p, w in zip(model.parameters(), weights):
            p.data = w.copy()
            p.grad = None
        loss = td.cross_entropy(model(td.tensor(prepare(images))), labels)
        loss.backward()
        weights = [w - lr * p.grad.numpy() for p, w in zip(model.parameters(), weights)]
        losses.append(float(loss.item()))
    return weights, losses


@pytest.mark.a4_train_step
def test_trainer_epoch_is_plain_sgd_step_by_step():
    model, batches = tiny_problem()
    expected, expected_losses = sgd_by_hand(tiny_problem()[0], batches, lr=0.5)
    trainer = Trainer(model, task="multi-class", normalize=False, progress=False)
    row = trainer.train_epoch(batches, td.optim.SGD(model.parameters(), lr=0.5))
    for p, w in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-5, atol=1e-6)  # two steps, gradients not accumulated
    assert row["train_loss"] == pytest.approx(np.mean(expected_losses), rel=1e-5)


@pytest.mark.a4_train_step
def test_training_lowers_the_loss():
    x = RNG.normal(size=(64, 1, 4, 4)).astype(np.float32)
    y = (x[:, 0, :2].mean(axis=(1, 2)) > x[:, 0, 2:].mean(axis=(1, 2))).astype(np.int64)
    td.manual_seed(0)
    model = td.nn.Sequential(td.nn.Flatten(), td.nn.Linear(16, 8), td.nn.ReLU(), td.nn.Linear(8, 2))
    trainer = Trainer(model, task="binary-class", lr=0.05, batch_size=16, epochs=5, normalize=False, progress=False)
    history = trainer.fit((x, y))
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert history["train_acc"][-1] > 0.8


# ---------------------------------------------------------------------------- the notebook's graded cell
def notebook_path():
    """notebooks/assignment4.ipynb beside the tinydl being tested (a hand-out), or tinydl's own copy."""
    package = pathlib.Path(td.__file__).resolve().parent
    for path in (
        package.parent / "notebooks" / "assignment4.ipynb",
        package / "assignments/notebooks/assignment4.ipynb",
    ):
        if path.is_file():
            return path
    pytest.fail(f"no notebooks/assignment4.ipynb beside {package}")


def graded_cell_function():
    """Run the notebook's graded cell alone (as the notebook says) and return its train_one_epoch."""
    cells = json.loads(notebook_path().read_text(encoding="utf-8"))["cells"]
    sources = [
        "".join(c["source"]) if isinstance(c["source"], list) else c["source"]
        for c in cells
        if c["cell_type"] == "code"
    ]
    graded = [s for s in sources if "a4_notebook_training_loop" in s or "task=notebook_training_loop" in s]
    assert len(graded) == 1, "the notebook must keep exactly one graded cell (with its BEGIN TASK line)"
    namespace = {}
    exec(compile(graded[0], "assignment4.ipynb (graded cell)", "exec"), namespace)
    assert "train_one_epoch" in namespace, "the graded cell must define train_one_epoch"
    return namespace["train_one_epoch"]


@pytest.mark.a4_notebook_training_loop
def test_notebook_loop_is_plain_sgd_step_by_step():
    train_one_epoch = graded_cell_function()
    model, batches = tiny_problem(1)
    expected, expected_losses = sgd_by_hand(tiny_problem(1)[0], batches, lr=0.5)
    losses = train_one_epoch(model, td.optim.SGD(model.parameters(), lr=0.5), batches, lambda images: images)
    assert len(losses) == 2 and all(isinstance(v, float) for v in losses), "one float loss per batch"
    np.testing.assert_allclose(losses, expected_losses, rtol=1e-5)
    for p, w in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-5, atol=1e-6)


@pytest.mark.a4_notebook_training_loop
def test_notebook_loop_applies_the_normalizer():
    train_one_epoch = graded_cell_function()
    model, batches = tiny_problem(2)

    def shift(images):
        return images * 2.0 - 1.0

    expected, _ = sgd_by_hand(tiny_problem(2)[0], batches, lr=0.3, prepare=shift)
    train_one_epoch(model, td.optim.SGD(model.parameters(), lr=0.3), batches, shift)
    for p, w in zip(model.parameters(), expected):
        np.testing.assert_allclose(p.numpy(), w, rtol=1e-5, atol=1e-6)
