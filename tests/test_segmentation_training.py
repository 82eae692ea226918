"""The Trainer for segmentation, the U-Net's working size, and the run configuration's task recipes.

- ``td.models.UNet(resample_to=…)``: logits at the input's own size for any H × W, equal to a torch
  twin that resizes the same way (values and gradients);
- ``Trainer(task="segmentation")``: cross-entropy + ``dice_weight`` · Dice, validation Dice per class
  as the monitor, the best epoch kept, the checks of every split (masks' labels and shapes);
- ``RunConfig``: the task inferred from the data's name, the recipe's defaults filled in.
"""

import numpy as np
import pytest

import tinydl as td
from tinydl import metrics
from tinydl.data.checks import check_images_and_masks, check_masks
from tinydl.ops import cross_entropy, dice_loss
from tinydl.testing.torch_models import torch_unet
from tinydl.train import Trainer


def bright_squares(rng, n, side=16):
    """Grey images with one bright square each (class 1) and a dimmer bar (class 2) on noise."""
    x = rng.normal(0.0, 0.05, size=(n, 1, side, side)).astype(np.float32)
    y = np.zeros((n, side, side), np.int64)
    for i in range(n):
        r, c = rng.integers(1, side - 7, size=2)
        x[i, 0, r : r + 6, c : c + 6] += 1.0
        y[i, r : r + 6, c : c + 6] = 1
        row = rng.integers(0, side)
        x[i, 0, row, :] += 0.5
        y[i, row, :] = np.where(y[i, row, :] == 0, 2, y[i, row, :])
    return x, y


# ====================================================================== the U-Net's working size
@pytest.mark.parametrize("shape", [(2, 1, 20, 18), (1, 1, 16, 16), (3, 1, 9, 31)])
def test_resampled_unet_predicts_at_the_input_size(shape):
    td.manual_seed(0)
    model = td.models.UNet(1, 3, base_width=2, depth=2, resample_to=8)
    out = model(td.tensor(np.random.default_rng(0).normal(size=shape).astype(np.float32)))
    assert out.shape == (shape[0], 3) + shape[2:]


def test_resample_size_is_checked_and_saved(tmp_path):
    with pytest.raises(ValueError, match="multiples of 2\\*\\*depth = 8"):
        td.models.UNet(1, 2, depth=3, resample_to=12)
    with pytest.raises(ValueError, match="resample_to must be an int"):
        td.models.UNet(1, 2, resample_to="64")
    model = td.models.UNet(1, 2, base_width=2, depth=2, resample_to=(8, 16))
    td.save(model, tmp_path / "m.npz")
    loaded = td.load(tmp_path / "m.npz")
    assert loaded.resample_to == (8, 16)
    x = td.tensor(np.random.default_rng(1).normal(size=(1, 1, 12, 20)).astype(np.float32))
    model.eval()
    loaded.eval()
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())


@pytest.mark.torch
def test_resampled_unet_matches_a_torch_twin_that_resizes_the_same_way(torch):
    args = dict(in_channels=1, num_classes=3, base_width=2, depth=2)
    torch.manual_seed(0)
    theirs = torch_unet(torch, **args).double().eval()
    ours = td.models.UNet(**args, resample_to=8).to(td.float64)
    ours.load_state_dict({k: v.detach().numpy() for k, v in theirs.state_dict().items()})
    ours.eval()
    interpolate = torch.nn.functional.interpolate

    def theirs_resampled(x):
        logits = theirs(interpolate(x, size=(8, 8), mode="bilinear", align_corners=False))
        return interpolate(logits, size=x.shape[2:], mode="bilinear", align_corners=False)

    x = np.random.default_rng(0).normal(size=(2, 1, 13, 11))
    x_theirs, x_ours = torch.tensor(x, requires_grad=True), td.tensor(x, requires_grad=True)
    y_theirs, y_ours = theirs_resampled(x_theirs), ours(x_ours)
    np.testing.assert_allclose(y_ours.numpy(), y_theirs.detach().numpy(), rtol=1e-9, atol=1e-10)
    upstream = np.random.default_rng(1).normal(size=y_ours.shape)
    y_theirs.backward(torch.tensor(upstream))
    y_ours.backward(upstream)
    np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-8, atol=1e-10)


# ====================================================================== the Trainer
def small_unet(classes=3, seed=0):
    td.manual_seed(seed)
    return td.models.UNet(1, classes, base_width=4, depth=2)


def test_trainer_learns_a_segmentation_and_keeps_the_best_dice_epoch():
    rng = np.random.default_rng(0)
    train, val = bright_squares(rng, 32), bright_squares(rng, 8)
    trainer = Trainer(
        small_unet(),
        task="segmentation",
        lr=1e-2,
        batch_size=8,
        epochs=8,
        seed=0,
        progress=False,
        class_names=["background", "square", "bar line"],
    )
    history = trainer.fit(train, val)
    assert trainer.monitor_used == "val_dice"
    columns = history.columns()
    for key in ("val_dice", "val_dice_background", "val_dice_square", "val_dice_bar_line", "val_acc", "val_loss"):
        assert key in columns
    dice = history["val_dice"]
    assert trainer.best_epoch == int(np.argmax(dice)) + 1 and trainer.best_score == max(dice)
    # The kept weights are the best epoch's: their validation Dice is the best one.
    probs = trainer.predict_proba(val[0])
    assert probs.shape == (8, 3, 16, 16)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    per_class = metrics.dice_score(val[1], probs.argmax(axis=1), 3, average=None)
    assert np.nanmean(per_class[1:]) == pytest.approx(trainer.best_score)
    assert per_class[1] > 0.85  # the square is learnt in a few epochs
    assert 0.0 <= history["train_acc"][-1] <= 1.0  # pixel accuracy, not a count over images


def test_segmentation_loss_is_cross_entropy_plus_weighted_dice():
    rng = np.random.default_rng(3)
    x, y = bright_squares(rng, 4)
    model = small_unet()
    logits = model(td.tensor(x))
    for weight in (0.0, 1.0, 0.5):
        trainer = Trainer(model, task="segmentation", dice_weight=weight, progress=False)
        expected = cross_entropy(logits, y).item() + weight * dice_loss(logits, y).item()
        assert trainer._loss(logits, y).item() == pytest.approx(expected, rel=1e-6)


def test_segmentation_monitor_and_dice_weight_are_checked():
    rng = np.random.default_rng(0)
    data = bright_squares(rng, 4)
    with pytest.raises(ValueError, match="segmentation has no AUC"):
        Trainer(small_unet(), task="segmentation", monitor="val_auc", epochs=1, progress=False).fit(data, data)
    with pytest.raises(ValueError, match="dice_weight"):
        Trainer(small_unet(), task="segmentation", dice_weight=-1)
    classifier = td.models.SmallCNN(1, 2)
    x = rng.normal(size=(4, 1, 28, 28)).astype(np.float32)
    with pytest.raises(ValueError, match="val_dice' is for segmentation"):
        Trainer(classifier, monitor="val_dice", epochs=1, progress=False).fit(
            (x, np.array([0, 1, 0, 1])), (x, [0, 1, 1, 0])
        )


def test_every_split_is_checked_before_the_first_step():
    rng = np.random.default_rng(0)
    x, y = bright_squares(rng, 4)
    bad = y.copy()
    bad[2, 0, 0] = 255
    trainer = Trainer(small_unet(), task="segmentation", epochs=1, progress=False)
    with pytest.raises(ValueError, match=r"validation data: mask 2 holds the label\(s\) \[255\].*y // 255"):
        trainer.fit((x, y), (x, bad))
    with pytest.raises(ValueError, match=r"training data: images \(4, 1, 16, 16\).*masks \(4, 16, 8\)"):
        trainer.fit((x, y[:, :, :8]))
    with pytest.raises(ValueError, match="class_names names 2 classes"):
        Trainer(small_unet(), task="segmentation", class_names=["a", "b"], progress=False).fit((x, y))


def test_mask_checks_name_the_problem():
    with pytest.raises(ValueError, match=r"shape \(N, H, W\)"):
        check_masks(np.zeros((4, 4)), "test data")
    with pytest.raises(ValueError, match="mask 1 holds values that are not whole numbers"):
        check_masks(np.array([np.zeros((2, 2)), np.full((2, 2), 0.5)]), "test data")
    with pytest.raises(ValueError, match=r"mask 0 holds the label\(s\) \[-1\]"):
        check_masks(-np.ones((1, 2, 2)), "test data", 2)
    assert check_masks(np.ones((1, 2, 2), np.uint8), "x", 2).dtype == np.int64
    with pytest.raises(ValueError, match=r"\(N, C, H, W\) for segmentation"):
        check_images_and_masks(np.zeros((1, 2, 2)), np.zeros((1, 2, 2)), "x")


def test_trainer_evaluate_gives_the_segmentation_report():
    rng = np.random.default_rng(0)
    train = bright_squares(rng, 16)
    trainer = Trainer(small_unet(), task="segmentation", epochs=1, progress=False, class_names=["bg", "sq", "bar"])
    trainer.fit(train)
    report = trainer.evaluate(bright_squares(rng, 4))
    assert set(report["dice"]) == {"bg", "sq", "bar"}


# ====================================================================== run configuration
def test_run_config_infers_the_task_and_fills_its_recipe():
    from tinydl.run import RECIPES, RunConfig

    seg = RunConfig(data="liverct117")
    assert seg.task == "segmentation" and seg.model == "unet"
    for field, value in RECIPES["segmentation"].items():
        assert getattr(seg, field) == value
    cls = RunConfig(data="pneumoniamnist")
    assert cls.task == "classification" and cls.model == "small_cnn" and cls.monitor == "val_auc"
    assert RunConfig(task="segmentation", epochs=3).epochs == 3  # a given option wins over the recipe
    with pytest.raises(ValueError, match="--task must be one of"):
        RunConfig(task="detection")
    with pytest.raises(ValueError, match="--dice-weight"):
        RunConfig(task="segmentation", dice_weight=-1.0)
    with pytest.raises(ValueError, match="--depth"):
        RunConfig(task="segmentation", depth=0)


def test_region_dice_scores_the_union_of_nested_labels():
    from tinydl.segmentation_metrics import region_dice, segmentation_report

    truth = np.array([[[0, 1, 1, 2]]])
    guess = np.array([[[0, 2, 1, 1]]])  # liver and tumour swapped inside the organ: the organ itself is right
    assert region_dice(truth, guess, [("organ", (1, 2))], 3) == {"organ": 1.0}
    assert region_dice(truth, guess, [("tumour", (2,))], 3) == {"tumour": 0.0}
    report = segmentation_report(truth, guess, ["bg", "liver", "tumour"], regions=[("organ", (1, 2))])
    assert report["dice_regions"] == {"organ": 1.0} and report["dice"]["liver"] == pytest.approx(0.5)
    with pytest.raises(ValueError, match="foreground classes 1..2"):
        region_dice(truth, guess, [("bad", (0, 1))], 3)
    assert td.data.SEGMENTATION["liverct117"].regions == (("liver with tumour", (1, 2)),)
