"""Autograder, assignment 4: training and evaluating the medical CNN.

One pytest marker per task (the README's table): python -m pytest -m a4_TASK.
Some tests still cover two tasks (to be split).
"""

import itertools

import numpy as np
import pytest

import tinydl as td
from tinydl.train import Normalizer, Trainer, balanced_class_weights

RNG = np.random.default_rng(4)


@pytest.mark.a4_normalizer_fit
def test_normalizer_fit_per_channel():
    x = RNG.normal(size=(40, 3, 5, 5)) * np.array([1.0, 2.0, 5.0]).reshape(1, 3, 1, 1) + 3
    norm = Normalizer.fit(x)
    np.testing.assert_allclose(norm.mean, x.mean(axis=(0, 2, 3)), rtol=1e-5)
    np.testing.assert_allclose(norm.std, x.std(axis=(0, 2, 3)), rtol=1e-5)


@pytest.mark.a4_class_weights
def test_balanced_class_weights():
    np.testing.assert_allclose(balanced_class_weights(np.array([0, 0, 0, 1]), 2), [4 / 6, 4 / 2], rtol=1e-6)
    np.testing.assert_allclose(balanced_class_weights(np.array([1, 1]), 3), [0, 2 / (3 * 2), 0], rtol=1e-6)


@pytest.mark.a4_confusion_matrix
def test_confusion_matrix_by_hand():
    y_true = [0, 0, 1, 1, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 0, 2]
    expected = [[1, 1, 0], [0, 2, 0], [1, 0, 2]]
    np.testing.assert_array_equal(td.metrics.confusion_matrix(y_true, y_pred), expected)


@pytest.mark.a4_binary_auc
def test_roc_auc_is_the_probability_of_a_correct_ordering():
    y = RNG.integers(0, 2, size=40)
    y[:2] = [0, 1]
    s = RNG.integers(0, 5, size=40).astype(float)  # many ties
    pairs = [(a, b) for a, b in itertools.product(s[y == 1], s[y == 0])]
    expected = np.mean([1.0 if a > b else 0.5 if a == b else 0.0 for a, b in pairs])
    assert td.metrics.roc_auc(y, s) == pytest.approx(expected)


@pytest.mark.a4_train_step
def test_training_step_lowers_the_loss():
    x = RNG.normal(size=(64, 1, 4, 4)).astype(np.float32)
    y = (x[:, 0, :2].mean(axis=(1, 2)) > x[:, 0, 2:].mean(axis=(1, 2))).astype(np.int64)
    td.manual_seed(0)
    model = td.nn.Sequential(td.nn.Flatten(), td.nn.Linear(16, 8), td.nn.ReLU(), td.nn.Linear(8, 2))
    trainer = Trainer(model, task="binary-class", lr=0.05, batch_size=16, epochs=5, progress=False, seed=0)
    history = trainer.fit((x, y))
    assert history["train_loss"][-1] < 0.7 * history["train_loss"][0]
    assert history["train_acc"][-1] > 0.8
