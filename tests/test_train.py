"""td.train: the training loop, model selection, early stopping, class weights, errors, ensembles."""

import numpy as np
import pytest

import tinydl as td
from tinydl.train import Ensemble, History, Normalizer, Trainer, TrainingError, balanced_class_weights


def small_lesions(split, n, seed=0):
    return td.data.SyntheticLesions(split, n=n, seed=seed)


def tiny_cnn(seed=0, num_classes=2):
    td.manual_seed(seed)
    return td.models.SmallCNN(1, num_classes, channels=4, hidden=8)


def test_training_learns_the_synthetic_lesions_and_records_history():
    train, val = small_lesions("train", 400), small_lesions("val", 200)
    trainer = Trainer(tiny_cnn(), lr=3e-3, batch_size=32, epochs=4, seed=0, progress=False)
    history = trainer.fit(train, val)
    assert len(history) == 4
    assert {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "val_auc", "lr", "seconds"} <= set(
        history.columns()
    )
    assert history["train_loss"][-1] < history["train_loss"][0]
    assert max(history["val_auc"]) > 0.8  # chance is 0.5
    report = trainer.evaluate(small_lesions("test", 200))
    assert report["accuracy"] > 0.7 and report["auc"] > 0.8


def test_same_seed_same_run_different_seed_different_run():
    train = small_lesions("train", 200)

    def run(seed):
        trainer = Trainer(tiny_cnn(seed), lr=3e-3, epochs=2, seed=seed, progress=False, normalize=True)
        return trainer.fit(train)["train_loss"]

    assert run(1) == run(1)
    assert run(1) != run(2)


def test_best_epoch_weights_are_restored():
    train, val = small_lesions("train", 300), small_lesions("val", 150)
    trainer = Trainer(tiny_cnn(), lr=3e-3, epochs=4, seed=0, progress=False, monitor="val_loss")
    history = trainer.fit(train, val)
    best = int(np.argmin(history["val_loss"]))
    assert trainer.best_epoch == best + 1
    x, y = val.arrays()
    probs = trainer.predict_proba(x)
    loss = -np.mean(np.log(np.clip(probs[np.arange(len(y)), y], 1e-7, 1)))
    assert loss == pytest.approx(history["val_loss"][best], rel=1e-5)


def test_early_stopping_stops_when_the_monitor_stops_improving():
    train, val = small_lesions("train", 200), small_lesions("val", 100)
    trainer = Trainer(
        tiny_cnn(), lr=1e-9, epochs=20, seed=0, progress=False, early_stopping=2, min_delta=1e-3, monitor="val_loss"
    )
    history = trainer.fit(train, val)  # lr ~0: nothing improves after the first epoch
    assert trainer.stopped_early and len(history) < 20


def test_balanced_class_weights_formula():
    # 6 of class 0, 2 of class 1, none of class 2: w_c = N / (K · n_c) = 8/(3·6), 8/(3·2), 0
    w = balanced_class_weights(np.array([0] * 6 + [1] * 2), 3)
    np.testing.assert_allclose(w, [8 / 18, 8 / 6, 0.0], rtol=1e-6)


def test_normalizer_uses_training_statistics_per_channel():
    rng = np.random.default_rng(0)
    x = rng.random((50, 3, 4, 4)).astype(np.float32) * np.array([1, 2, 3], np.float32).reshape(1, 3, 1, 1)
    norm = Normalizer.fit(x)
    z = norm(x)
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0, atol=1e-5)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1, atol=1e-4)
    again = Normalizer.from_dict(norm.to_dict())
    np.testing.assert_array_equal(again(x), z)
    with pytest.raises(ValueError, match="channels"):
        norm(x[:, :1])


def test_nan_loss_stops_with_a_clear_error():
    class Broken(td.nn.Module):
        def __init__(self):
            super().__init__()
            self.linear = td.nn.Linear(28 * 28, 2)

        def forward(self, x):
            return self.linear(x.reshape(x.shape[0], -1)) * float("nan")

    with pytest.raises(TrainingError, match="loss became nan at epoch 1, batch 1"):
        Trainer(Broken(), epochs=1, progress=False).fit(small_lesions("train", 64))


def test_bad_labels_and_arguments_are_named():
    x = np.zeros((4, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 2\)"):
        Trainer(tiny_cnn(), epochs=1, progress=False).fit((x, np.array([0, 1, 2, 0])))
    with pytest.raises(ValueError, match="NaN"):
        Trainer(tiny_cnn(), epochs=1, progress=False).fit((x * np.nan, np.array([0, 1, 1, 0])))
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        Trainer(tiny_cnn(), epochs=1, progress=False).fit((x[:, 0], np.array([0, 1, 1, 0])))
    with pytest.raises(ValueError, match="monitor"):
        Trainer(tiny_cnn(), monitor="val_f1")
    with pytest.raises(ValueError, match="epochs"):
        Trainer(tiny_cnn(), epochs=0)
    with pytest.raises(ValueError, match="optimizer"):
        Trainer(tiny_cnn(), optimizer="rmsprop", progress=False, epochs=1).fit((x, np.array([0, 1, 1, 0])))


def test_feature_vectors_train_too_with_per_feature_standardisation():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, 3)).astype(np.float32) * [1, 10, 100] + [0, 5, -50]
    y = (x[:, 0] + x[:, 1] / 10 > 0.5).astype(np.int64)
    td.manual_seed(0)
    model = td.nn.Sequential(td.nn.Linear(3, 8), td.nn.ReLU(), td.nn.Linear(8, 2))
    trainer = Trainer(model, lr=0.05, epochs=20, progress=False)
    trainer.fit((x, y))
    np.testing.assert_allclose(trainer.normalizer.mean, x.mean(axis=0), rtol=1e-4)
    assert trainer.history["train_acc"][-1] > 0.9


def test_multi_label_uses_a_sigmoid_per_finding():
    rng = np.random.default_rng(0)
    x = rng.random((64, 1, 28, 28)).astype(np.float32)
    y = (x[:, 0, :14].mean(axis=(1, 2), keepdims=False)[:, None] > np.array([0.49, 0.5, 0.51])).astype(np.int64)
    td.manual_seed(0)
    model = td.models.SmallCNN(1, 3, channels=4, hidden=8)
    trainer = Trainer(model, task="multi-label, binary-class", epochs=2, progress=False)
    trainer.fit((x, y))
    probs = trainer.predict_proba(x)
    assert probs.shape == (64, 3) and np.all((probs > 0) & (probs < 1))
    assert not np.allclose(probs.sum(axis=1), 1)  # independent findings, not a softmax


def test_ensemble_averages_member_probabilities():
    train = small_lesions("train", 200)
    trainers = [Trainer(tiny_cnn(s), epochs=1, seed=s, progress=False) for s in (0, 1)]
    for t in trainers:
        t.fit(train)
    x, _ = small_lesions("test", 50).arrays()
    expected = (trainers[0].predict_proba(x) + trainers[1].predict_proba(x)) / 2
    np.testing.assert_allclose(Ensemble(trainers).predict_proba(x), expected, rtol=1e-6)
    with pytest.raises(ValueError):
        Ensemble([])


def test_predict_restores_the_training_mode():
    model = tiny_cnn()
    model.train()
    td.train.predict_proba(model, np.zeros((2, 1, 28, 28), np.float32))
    assert model.training


def test_history_csv_is_written_whole(tmp_path):
    h = History()
    h.append({"epoch": 1, "train_loss": 0.5, "val_auc": None})
    h.append({"epoch": 2, "train_loss": 0.25, "val_auc": 0.75})
    path = tmp_path / "history.csv"
    h.to_csv(path)
    assert path.read_text().splitlines() == ["epoch,train_loss,val_auc", "1,0.5,", "2,0.25,0.75"]
    assert [p.name for p in tmp_path.iterdir()] == ["history.csv"]


def test_a_second_fit_starts_afresh_and_step_schedule_cuts_once():
    train, val = small_lesions("train", 200), small_lesions("val", 100)
    trainer = Trainer(tiny_cnn(), lr=3e-3, epochs=3, seed=0, progress=False, schedule="step")
    trainer.fit(train, val)
    assert trainer.history["lr"] == pytest.approx([3e-3, 3e-3, 3e-4])  # ×0.1 once, after ⌈3/2⌉ epochs
    trainer.fit(train, val)
    assert trainer.history["epoch"] == [1, 2, 3] and trainer.best_epoch in (1, 2, 3)


def test_an_unmeasurable_monitor_neither_stops_nor_selects():
    x, y = small_lesions("train", 200).arrays()
    val = (x[:50], np.zeros(50, np.int64))  # one class only: validation AUC is undefined
    trainer = Trainer(tiny_cnn(), epochs=3, early_stopping=1, progress=False)
    history = trainer.fit((x, y), val)
    assert len(history) == 3 and not trainer.stopped_early and trainer.best_epoch is None
    assert history["val_auc"] == [None, None, None]


def test_ensemble_of_multi_label_trainers_uses_their_sigmoid():
    rng = np.random.default_rng(1)
    x = rng.random((40, 1, 28, 28)).astype(np.float32)
    y = (rng.random((40, 3)) > 0.5).astype(np.int64)
    trainers = []
    for seed in (0, 1):
        td.manual_seed(seed)
        t = Trainer(
            td.models.SmallCNN(1, 3, channels=2, hidden=4),
            task="multi-label, binary-class",
            epochs=1,
            progress=False,
            seed=seed,
        )
        t.fit((x, y))
        trainers.append(t)
    ensemble = Ensemble(trainers)
    assert ensemble.task == "multi-label, binary-class"
    np.testing.assert_allclose(
        ensemble.predict_proba(x), (trainers[0].predict_proba(x) + trainers[1].predict_proba(x)) / 2, rtol=1e-6
    )


def test_fit_leaves_the_settings_as_given_and_says_what_it_used():
    train = small_lesions("train", 100)
    trainer = Trainer(tiny_cnn(), epochs=1, progress=False)  # task=None, monitor="val_auc", no validation data
    trainer.fit(train)
    assert trainer.task is None and trainer.monitor is None
    assert trainer.task_used == "binary-class" and trainer.monitor_used == "train_loss"
    trainer.fit(train, small_lesions("val", 50))  # with validation data the next fit monitors what was asked
    assert trainer.monitor_used == "val_auc" and trainer.best_epoch == 1


def test_train_epoch_is_one_pass_over_the_batches():
    x, y = small_lesions("train", 64).arrays()
    trainer = Trainer(tiny_cnn(), lr=3e-3, normalize=False, progress=False)
    optimizer = td.optim.Adam(trainer.model.parameters(), lr=3e-3)
    loader = td.data.DataLoader((x.astype(np.float32), y), batch_size=16)
    first = trainer.train_epoch(loader, optimizer)
    second = trainer.train_epoch(loader, optimizer)
    assert set(first) == {"train_loss", "train_acc"} and second["train_loss"] < first["train_loss"]


# ---------------------------------------------------------------------------- every split checked (issue 15)
@pytest.mark.parametrize(
    "labels, message",
    [
        ([0, 1, -1, 0], r"validation data: label -1 at index 2 .* 0\.\.1"),  # used to wrap around to class 1
        ([0, 7, 1, 0], r"validation data: label 7 at index 1"),  # used to crash after a full epoch
    ],
)
def test_validation_labels_are_checked_before_the_first_step(labels, message):
    x = np.zeros((4, 1, 28, 28), np.float32)
    trainer = Trainer(tiny_cnn(), epochs=1, progress=False)
    with pytest.raises(ValueError, match=message):
        trainer.fit((x, np.array([0, 1, 1, 0])), (x, np.array(labels)))
    assert len(trainer.history) == 0  # refused before any epoch ran


def test_nan_validation_images_are_refused_with_the_index():
    x = np.zeros((4, 1, 28, 28), np.float32)
    bad = x.copy()
    bad[3, 0, 5, 5] = np.nan
    with pytest.raises(ValueError, match=r"validation data: image 3 contains nan"):
        Trainer(tiny_cnn(), epochs=1, progress=False).fit((x, np.array([0, 1, 1, 0])), (bad, np.array([0, 1, 1, 0])))


def test_a_validation_set_of_one_class_trains_and_leaves_auc_undefined():
    train, val = small_lesions("train", 64), small_lesions("val", 64)
    x_val, y_val = val.arrays()
    ones = y_val.reshape(-1) == 1
    trainer = Trainer(tiny_cnn(), epochs=2, progress=False)
    trainer.fit(train, (x_val[ones], y_val.reshape(-1)[ones]))
    assert trainer.history["val_auc"] == [None, None] and trainer.history["val_acc"][-1] is not None


def test_evaluation_labels_outside_the_model_are_named():
    trainer = Trainer(tiny_cnn(), epochs=1, progress=False)
    trainer.fit(small_lesions("train", 32))
    x = np.zeros((3, 1, 28, 28), np.float32)
    with pytest.raises(ValueError, match=r"evaluation data: label -1 at index 0"):
        trainer.evaluate((x, np.array([-1, 0, 1])))


def test_the_split_check_is_public_and_names_split_index_and_value():
    x = np.zeros((3, 1, 4, 4), np.float32)
    x2, y = td.data.check_images_and_labels(x, np.array([[0], [1], [1]]), "test data", 2, "binary-class")
    assert y.shape == (3,) and y.dtype == np.int64 and x2 is x
    with pytest.raises(ValueError, match=r"test data: target 1 holds 2"):
        td.data.check_images_and_labels(
            x, np.array([[0, 1], [2, 0], [1, 1]]), "test data", 2, "multi-label, binary-class"
        )
    with pytest.raises(ValueError, match=r"test data: targets have 2 findings .* 3 outputs"):
        td.data.check_images_and_labels(x, np.zeros((3, 2), int), "test data", 3, "multi-label, binary-class")
    with pytest.raises(ValueError, match=r"test data: 3 images but 2 labels"):
        td.data.check_images_and_labels(x, np.array([0, 1]), "test data", 2)
    with pytest.raises(ValueError, match=r"test data: there are no samples"):
        td.data.check_images_and_labels(x[:0], np.array([], int), "test data", 2)
    inf = x.copy()
    inf[1, 0, 0, 0] = np.inf
    with pytest.raises(ValueError, match=r"test data: image 1 contains inf"):
        td.data.check_images_and_labels(inf, np.array([0, 1, 1]), "test data", 2)
