"""Segmentation's first building blocks (issue 18): the U-Net, the soft Dice loss, and Dice / IoU / pixel accuracy.

- ``td.models.UNet``: output shapes, the divisibility error, a backward pass that reaches every
  parameter, a ``td.save``/``td.load`` round trip, and a twin written with ``torch.nn`` whose
  state_dict loads unchanged and gives the same logits (float64, eval and train mode).
- ``F.dice_loss`` / ``nn.DiceLoss``: a NumPy reference with a float64 gradcheck, and the same formula
  written in torch (values and gradients, float64 and float32).
- ``td.metrics.dice_score`` / ``iou_score`` / ``pixel_accuracy``: a 4×4 example counted by hand, a
  brute-force set count, and hostile inputs.
"""

import numpy as np
import pytest
from op_checks import check, compare

import tinydl as td
import tinydl.nn.functional as F
from tinydl import metrics
from tinydl.testing.torch_models import torch_unet


# ====================================================================== UNet
def unet64(seed=0, **kwargs):
    td.manual_seed(seed)
    return td.models.UNet(**kwargs).to(td.float64)


@pytest.mark.parametrize(
    "in_channels, num_classes, base_width, depth, side",
    [(1, 2, 4, 1, 6), (3, 3, 4, 2, 8), (1, 4, 2, 3, 16), (2, 2, 16, 3, 8)],
)
def test_unet_gives_one_score_per_class_per_pixel(in_channels, num_classes, base_width, depth, side):
    model = unet64(in_channels=in_channels, num_classes=num_classes, base_width=base_width, depth=depth)
    x = td.tensor(np.random.default_rng(0).normal(size=(2, in_channels, side, 2 * side)))
    assert model(x).shape == (2, num_classes, side, 2 * side)
    assert model.config == dict(in_channels=in_channels, num_classes=num_classes, base_width=base_width, depth=depth)
    assert len(model.encoders) == len(model.ups) == len(model.decoders) == depth
    assert model.bottleneck[0].out_channels == base_width * 2**depth


def test_unet_defaults_and_zoo_name():
    model = td.models.create("unet", in_channels=1, num_classes=3)
    assert model.config == dict(in_channels=1, num_classes=3, base_width=16, depth=3)
    assert model(td.zeros((2, 1, 8, 8))).shape == (2, 3, 8, 8)  # (a batch of 1 would leave BatchNorm 1×1 values)


@pytest.mark.parametrize("shape", [(1, 1, 12, 16), (1, 1, 16, 10), (1, 1, 7, 7)])
def test_unet_rejects_sides_not_divisible_by_two_to_the_depth(shape):
    model = td.models.UNet(1, 2, base_width=2, depth=3)
    with pytest.raises(ValueError, match=r"divisible by 2\*\*depth = 8.*" + r"\(1, 1, " + str(shape[2])):
        model(td.zeros(shape))


def test_unet_rejects_wrong_channels_and_bad_arguments():
    with pytest.raises(ValueError, match=r"\(N, 3, H, W\), got \(1, 1, 8, 8\)"):
        td.models.UNet(3, 2, base_width=2, depth=1)(td.zeros((1, 1, 8, 8)))
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\), got \(8, 8\)"):
        td.models.UNet(1, 2, base_width=2, depth=1)(td.zeros((8, 8)))
    for bad in [dict(depth=0), dict(base_width=0), dict(num_classes=2.5), dict(in_channels=True)]:
        with pytest.raises(ValueError, match="UNet: .* must be a positive integer"):
            td.models.UNet(**{"in_channels": 1, "num_classes": 2, **bad})


def test_unet_backward_reaches_every_parameter():
    model = unet64(in_channels=1, num_classes=3, base_width=2, depth=2)
    rng = np.random.default_rng(1)
    x = td.tensor(rng.normal(size=(2, 1, 8, 8)))
    loss = F.cross_entropy(model(x), rng.integers(0, 3, size=(2, 8, 8))) + F.dice_loss(
        model(x), rng.integers(0, 3, size=(2, 8, 8))
    )
    loss.backward()
    names = [name for name, _ in model.named_parameters()]
    assert len(names) == 2 * 3 * (2 + 1 + 2) + 2 * 2 + 2  # 5 blocks × 2 convs × (w, γ, β); 2 ups (w, b); the head
    for name, p in model.named_parameters():
        assert p.grad is not None, f"{name} got no gradient"
        assert np.all(np.isfinite(p.grad.numpy())) and np.any(p.grad.numpy() != 0), f"{name}: gradient {p.grad}"


def test_unet_save_load_round_trip(tmp_path):
    model = unet64(in_channels=2, num_classes=3, base_width=2, depth=2)
    rng = np.random.default_rng(2)
    model.train()
    model(td.tensor(rng.normal(size=(4, 2, 8, 8))))  # moves the batch-norm running statistics
    model.eval()
    x = td.tensor(rng.normal(size=(2, 2, 8, 8)))
    path = td.save(model, tmp_path / "unet.npz")
    loaded = td.load(path)
    assert isinstance(loaded, td.models.UNet) and loaded.config == model.config
    assert loaded.metadata["architecture"] == "unet"
    assert set(loaded.state_dict()) == set(model.state_dict())
    np.testing.assert_array_equal(loaded.to(td.float64)(x).numpy(), model(x).numpy())


def squares(rng, n, side=16):
    """Noisy images with one bright square each, and its mask: a segmentation task a tiny U-Net learns in seconds."""
    images = rng.normal(0, 0.3, size=(n, 1, side, side)).astype(np.float32)
    masks = np.zeros((n, side, side), np.int64)
    for i in range(n):
        r, c, size = *rng.integers(0, side - 6, size=2), rng.integers(3, 7)
        images[i, 0, r : r + size, c : c + size] += 1.0
        masks[i, r : r + size, c : c + size] = 1
    return images, masks


def test_unet_training_smoke_learns_squares():
    td.manual_seed(0)
    rng = np.random.default_rng(6)
    images, masks = squares(rng, 16)
    model = td.models.UNet(1, 2, base_width=4, depth=2)
    optimizer = td.optim.Adam(model.parameters(), lr=0.01)
    losses = []
    for step in range(40):
        batch = slice(8 * (step % 2), 8 * (step % 2) + 8)
        logits = model(td.tensor(images[batch]))
        loss = F.cross_entropy(logits, masks[batch]) + F.dice_loss(logits, masks[batch])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert np.mean(losses[-4:]) < 0.5 * np.mean(losses[:4]), losses
    model.eval()
    test_images, test_masks = squares(rng, 8)
    predicted = model(td.tensor(test_images)).numpy().argmax(axis=1)
    assert metrics.dice_score(test_masks, predicted, 2, average=None)[1] > 0.8


@pytest.mark.torch
@pytest.mark.parametrize("mode", ["eval", "train"])
def test_unet_matches_its_torch_twin(torch, mode):
    args = dict(in_channels=2, num_classes=3, base_width=3, depth=2)
    torch.manual_seed(0)
    theirs = torch_unet(torch, **args).double()
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    for _ in range(2):  # trained a little, so weights and batch-norm statistics are not the initial ones
        x = torch.tensor(rng.normal(size=(4, 2, 8, 8)))
        loss = torch.nn.functional.cross_entropy(theirs(x), torch.tensor(rng.integers(0, 3, size=(4, 8, 8))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    ours = td.models.UNet(**args).to(td.float64)
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert set(state) == set(ours.state_dict()), "the two libraries name the weights differently"
    ours.load_state_dict(state)
    getattr(theirs, mode)()
    getattr(ours, mode)()
    theirs.zero_grad()

    x = rng.normal(size=(2, 2, 8, 8))
    x_theirs, x_ours = torch.tensor(x, requires_grad=True), td.tensor(x, requires_grad=True)
    y_theirs, y_ours = theirs(x_theirs), ours(x_ours)
    np.testing.assert_allclose(y_ours.numpy(), y_theirs.detach().numpy(), rtol=1e-9, atol=1e-10)
    upstream = rng.normal(size=y_ours.shape)
    y_theirs.backward(torch.tensor(upstream))
    y_ours.backward(upstream)
    np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-8, atol=1e-10)
    grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), grads[name].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=name)


# ====================================================================== Dice loss
def np_dice_loss(z, g, smooth=1.0, include_background=True, reduction="mean"):
    """The formula of the docstring in NumPy: z (N, C, ...) logits, g (N, C, ...) one-hot."""
    e = np.exp(z - z.max(axis=1, keepdims=True))
    p = e / e.sum(axis=1, keepdims=True)
    axes = tuple(range(2, z.ndim))
    dice = (2 * (p * g).sum(axis=axes) + smooth) / (p.sum(axis=axes) + g.sum(axis=axes) + smooth)
    losses = 1 - dice
    if not include_background:
        losses = losses[:, 1:]
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


def np_one_hot(labels, classes):
    return np.moveaxis(np.eye(classes)[labels], -1, 1)


def torch_dice_loss(torch, z, g, smooth=1.0, include_background=True, reduction="mean"):
    p = torch.softmax(z, 1)
    axes = tuple(range(2, z.ndim))
    dice = (2 * (p * g).sum(axes) + smooth) / (p.sum(axes) + g.sum(axes) + smooth)
    losses = 1 - dice
    if not include_background:
        losses = losses[:, 1:]
    return {"none": losses, "sum": losses.sum(), "mean": losses.mean()}[reduction]


CASES = [  # (logits shape, smooth, include_background, reduction)
    ((2, 3, 4, 5), 1.0, True, "mean"),
    ((3, 2, 6), 0.5, False, "sum"),
    ((1, 4, 3, 3, 2), 1e-5, True, "none"),
    ((2, 3, 4, 4), 0.0, False, "mean"),
]


@pytest.mark.parametrize("shape, smooth, include_background, reduction", CASES)
def test_dice_loss_against_numpy_and_gradcheck(shape, smooth, include_background, reduction):
    rng = np.random.default_rng(3)
    z = rng.normal(size=shape)
    labels = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    labels.reshape(shape[0], -1)[:, : shape[1]] = np.arange(shape[1])  # every class in every image: no 0/0 at s = 0
    g = np_one_hot(labels, shape[1])
    opts = dict(smooth=smooth, include_background=include_background, reduction=reduction)
    check(lambda t: F.dice_loss(t, labels, **opts), lambda a: np_dice_loss(a, g, **opts), z)
    # a one-hot float target gives the same, and is differentiable itself
    check(lambda t, h: F.dice_loss(t, h, **opts), lambda a, h: np_dice_loss(a, h, **opts), z, g)
    module = td.nn.DiceLoss(**opts)
    np.testing.assert_allclose(module(td.tensor(z), labels).numpy(), np_dice_loss(z, g, **opts), rtol=1e-12)


@pytest.mark.torch
@pytest.mark.parametrize("shape, smooth, include_background, reduction", CASES)
def test_dice_loss_against_torch(torch, shape, smooth, include_background, reduction):
    rng = np.random.default_rng(4)
    z = 2 * rng.normal(size=shape)
    labels = rng.integers(0, shape[1], size=(shape[0],) + shape[2:])
    labels.reshape(shape[0], -1)[:, : shape[1]] = np.arange(shape[1])
    opts = dict(smooth=smooth, include_background=include_background, reduction=reduction)
    g = torch.from_numpy(np_one_hot(labels, shape[1]))
    compare(
        torch, lambda t: F.dice_loss(t, labels, **opts), lambda t: torch_dice_loss(torch, t, g.to(t.dtype), **opts), z
    )
    soft = rng.dirichlet(np.ones(shape[1]), size=(shape[0],) + shape[2:])  # soft targets (N, ..., C)
    soft = np.moveaxis(soft, -1, 1)
    compare(
        torch,
        lambda t, h: F.dice_loss(t, h, **opts),
        lambda t, h: torch_dice_loss(torch, t, h, **opts),
        z,
        soft,
    )


def test_dice_loss_is_small_for_a_confident_right_answer_and_large_for_a_wrong_one():
    labels = np.array([[[0, 1], [1, 2]]])
    right = td.tensor(20.0 * np_one_hot(labels, 3))
    wrong = td.tensor(20.0 * np_one_hot((labels + 1) % 3, 3))
    assert F.dice_loss(right, labels).item() < 1e-6
    assert F.dice_loss(wrong, labels, smooth=0.0).item() > 1 - 1e-6
    # a class absent from the target and (almost) from the prediction: Dice = s / (Σp + s) ≈ 1 with smoothing,
    # but 0 / Σp = 0 (the worst loss) without, since softmax is never exactly 0
    background = np.zeros((1, 2, 2), np.int64)
    absent = td.tensor(20.0 * np_one_hot(background, 3))
    assert F.dice_loss(absent, background, reduction="none").numpy()[0, 1] < 1e-6
    assert F.dice_loss(absent, background, smooth=0.0, reduction="none").numpy()[0, 1] == pytest.approx(1.0)


def test_dice_loss_rejects_bad_inputs():
    z = td.zeros((2, 3, 4, 4))
    good = np.zeros((2, 4, 4), np.int64)
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\); got values in \[3, 3\]"):
        F.dice_loss(z, np.full((2, 4, 4), 3))
    with pytest.raises(ValueError, match=r"labels must lie in \[0, 3\)"):
        F.dice_loss(z, np.full((2, 4, 4), -1))
    with pytest.raises(
        ValueError, match=r"labels must have shape \(2, 4, 4\) to match logits \(2, 3, 4, 4\), got \(2, 4\)"
    ):
        F.dice_loss(z, np.zeros((2, 4), np.int64))
    with pytest.raises(ValueError, match=r"one-hot \(float\) target must have the logits' shape"):
        F.dice_loss(z, np.zeros((2, 2, 4, 4)))
    with pytest.raises(ValueError, match=r"\(N, C, d1, \.\.\.\)"):
        F.dice_loss(td.zeros((2, 3)), np.zeros(2, np.int64))
    with pytest.raises(TypeError, match="floating-point logits"):
        F.dice_loss(td.tensor(np.zeros((2, 3, 4, 4), np.int64)), good)
    with pytest.raises(ValueError, match="smooth"):
        F.dice_loss(z, good, smooth=-1.0)
    with pytest.raises(ValueError, match="at least 2 classes"):
        F.dice_loss(td.zeros((2, 1, 4, 4)), good, include_background=False)
    with pytest.raises(ValueError, match="reduction"):
        td.nn.DiceLoss(reduction="avg")


# ====================================================================== Dice, IoU, pixel accuracy
# A 4×4 example counted by hand (0 background, 1 organ, 2 lesion; class 3 in neither):
TRUTH = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 2, 2], [0, 0, 0, 2]])
PREDICTED = np.array([[0, 0, 0, 1], [0, 1, 1, 1], [0, 2, 2, 2], [0, 0, 0, 0]])
# class 0: truth 8 pixels, predicted 9, both 7  → TP 7, FP 2, FN 1 → Dice 14/17, IoU 7/10
# class 1: truth 5, predicted 4, both 4         → TP 4, FP 0, FN 1 → Dice 8/9,   IoU 4/5
# class 2: truth 3, predicted 3, both 2         → TP 2, FP 1, FN 1 → Dice 4/6,   IoU 2/4
# class 3: in neither                           → 0/0 → NaN, left out of the mean
# correct pixels 7 + 4 + 2 = 13 of 16
DICE = np.array([14 / 17, 8 / 9, 4 / 6, np.nan])
IOU = np.array([7 / 10, 4 / 5, 2 / 4, np.nan])


def test_dice_iou_and_pixel_accuracy_of_the_hand_counted_example():
    np.testing.assert_allclose(metrics.dice_score(TRUTH, PREDICTED, 4, average=None), DICE, rtol=1e-15)
    np.testing.assert_allclose(metrics.iou_score(TRUTH, PREDICTED, 4, average=None), IOU, rtol=1e-15)
    assert metrics.dice_score(TRUTH, PREDICTED, 4) == pytest.approx((14 / 17 + 8 / 9 + 4 / 6) / 3, rel=1e-15)
    assert metrics.iou_score(TRUTH, PREDICTED, 4) == pytest.approx((7 / 10 + 4 / 5 + 2 / 4) / 3, rel=1e-15)
    assert metrics.pixel_accuracy(TRUTH, PREDICTED) == 13 / 16
    assert metrics.pixel_accuracy(TRUTH, PREDICTED, num_classes=3) == 13 / 16
    # Tensors and a batch axis; counts are pooled over the whole set, so two copies give the same scores
    batch_true, batch_pred = td.tensor(np.stack([TRUTH, TRUTH])), td.tensor(np.stack([PREDICTED, PREDICTED]))
    np.testing.assert_allclose(metrics.dice_score(batch_true, batch_pred, 4, average=None), DICE, rtol=1e-15)
    # Dice = 2·IoU / (1 + IoU) class by class
    np.testing.assert_allclose(DICE[:3], 2 * IOU[:3] / (1 + IOU[:3]), rtol=1e-15)


def test_scores_are_pooled_over_the_set_not_averaged_per_image():
    truth = np.array([[[1, 1, 1, 1]], [[1, 0, 0, 0]]])
    pred = np.array([[[1, 1, 1, 1]], [[0, 0, 0, 0]]])
    # pooled: TP 4, FP 0, FN 1 → 8/9 (per image it would be the mean of 1 and 0 = 0.5)
    assert metrics.dice_score(truth, pred, 2, average=None)[1] == pytest.approx(8 / 9)
    assert metrics.dice_score(truth[1], pred[1], 2, average=None)[1] == 0.0


def test_scores_match_a_brute_force_count_of_pixel_sets():
    rng = np.random.default_rng(5)
    truth, pred = rng.integers(0, 4, size=(3, 7, 6)), rng.integers(0, 4, size=(3, 7, 6))
    pred[pred == 3] = 2  # class 3 only in the truth: Dice 0, not NaN
    for c in range(4):
        t = {i for i, v in np.ndenumerate(truth) if v == c}
        p = {i for i, v in np.ndenumerate(pred) if v == c}
        assert metrics.dice_score(truth, pred, 4, average=None)[c] == pytest.approx(2 * len(t & p) / (len(t) + len(p)))
        assert metrics.iou_score(truth, pred, 4, average=None)[c] == pytest.approx(len(t & p) / len(t | p))
    perfect = metrics.dice_score(truth, truth, 5, average=None)
    np.testing.assert_array_equal(perfect[:4], 1.0)
    assert np.isnan(perfect[4]) and metrics.dice_score(truth, truth, 5) == 1.0


def test_segmentation_metrics_reject_hostile_inputs():
    with pytest.raises(ValueError, match=r"same shape, got \(4, 4\) and \(4, 3\)"):
        metrics.dice_score(TRUTH, PREDICTED[:, :3], 3)
    with pytest.raises(ValueError, match=r"same shape, got \(2, 4, 4\) and \(2, 3, 4, 4\)"):
        metrics.iou_score(np.stack([TRUTH, TRUTH]), np.zeros((2, 3, 4, 4)), 3)
    with pytest.raises(ValueError, match=r"y_pred has label 2 but num_classes=2"):
        metrics.dice_score(np.zeros((4, 4), np.int64), PREDICTED, 2)
    with pytest.raises(ValueError, match=r"y_true has label 2 but num_classes=2"):
        metrics.pixel_accuracy(TRUTH, np.zeros((4, 4), np.int64), num_classes=2)
    with pytest.raises(ValueError, match="negative label -1"):
        metrics.iou_score(TRUTH - 1, PREDICTED, 3)
    with pytest.raises(ValueError, match="whole-number class labels"):
        metrics.dice_score(TRUTH + 0.5, PREDICTED, 3)
    with pytest.raises(ValueError, match="NaN or inf"):
        metrics.dice_score(np.full((2, 2), np.nan), np.zeros((2, 2)), 3)
    with pytest.raises(ValueError, match="empty"):
        metrics.dice_score(np.zeros((0, 4), np.int64), np.zeros((0, 4), np.int64), 2)
    for bad in [0, -1, 2.5, True, None]:
        with pytest.raises(ValueError, match="num_classes must be a positive integer"):
            metrics.dice_score(TRUTH, PREDICTED, bad)
    with pytest.raises(ValueError, match="average must be None"):
        metrics.iou_score(TRUTH, PREDICTED, 3, average="weighted")
