"""tinydl.explain.segmentation_grad_cam: Grad-CAM of a class over a region (the summed logit), for a U-Net.

Checked against a PyTorch twin of the same U-Net (same weights, Grad-CAM with a hook), against maps worked out
by hand for a 1×1-convolution model (always runs), and for what the region, the class and the model's state do.
"""

import functools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import tinydl as td
import tinydl.explain as explain
from tinydl import nn
from tinydl.testing.torch_models import torch_unet as shared_torch_unet

K = 3  # classes of the small U-Net


@functools.lru_cache(maxsize=None)
def _trained_state(seed):
    """A few Adam steps on 'class = intensity band of the pixel' (noise images), then the batch-norm running
    statistics settled by forward passes: a U-Net whose evaluation-mode prediction uses all three classes."""
    td.manual_seed(seed)
    model = td.models.UNet(in_channels=1, num_classes=K, base_width=4, depth=2).to(td.float64)
    rng = np.random.default_rng(seed)
    x = td.tensor(rng.standard_normal((4, 1, 16, 16)))
    y = td.tensor(np.digitize(x.numpy()[:, 0], [-0.4, 0.6]))
    optimizer = td.optim.Adam(model.parameters(), lr=0.05)
    model.train()
    for _ in range(15):
        loss = td.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with td.no_grad():
        for _ in range(30):
            model(x)
    return {k: np.array(v, copy=True) for k, v in model.state_dict().items()}


def small_unet(seed=1):
    """UNet(1, 3, base_width=4, depth=2) in float64, trained a little (a fresh copy each call)."""
    model = td.models.UNet(in_channels=1, num_classes=K, base_width=4, depth=2).to(td.float64)
    model.load_state_dict(_trained_state(seed))
    return model


def images(n=2, size=16, seed=1):
    return np.random.default_rng(seed).standard_normal((n, 1, size, size))


def predicted_mask(model, x):
    model.eval()
    with td.no_grad():
        return model(td.tensor(x)).numpy().argmax(axis=1)


# --------------------------------------------------------------------------- cross-check with PyTorch
def torch_unet(torch, width=4, depth=2, classes=K):
    """The same layout as td.models.UNet written with torch.nn (test_segmentation_models' twin), float64."""
    return shared_torch_unet(torch, in_channels=1, num_classes=classes, base_width=width, depth=depth).double()


def torch_region_grad_cam(torch, t_model, x, layer, target, region):
    """Grad-CAM of y_n = Σ_{R_n} logit[n, t_n] written directly in PyTorch, with a forward hook on ``layer``."""
    kept = {}
    handle = t_model.get_submodule(layer).register_forward_hook(lambda m, i, out: kept.setdefault("A", out))
    logits = t_model(torch.from_numpy(x))
    handle.remove()
    A = kept["A"]
    chosen = logits[torch.arange(len(x)), torch.as_tensor(target)]  # (N, H, W)
    score = (chosen * torch.from_numpy(region.astype(np.float64))).sum()
    (dA,) = torch.autograd.grad(score, A)
    alpha = dA.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((alpha * A).sum(dim=1)).detach()
    up = torch.nn.functional.interpolate(cam[:, None], size=x.shape[2:], mode="bilinear", align_corners=False)
    up = up[:, 0].numpy()
    peak = up.max(axis=(1, 2), keepdims=True)
    return cam.numpy(), np.divide(up, peak, out=np.zeros_like(up), where=peak > 0), logits.detach().numpy()


@pytest.mark.torch
@pytest.mark.parametrize("layer", [None, "decoders.0.2", "encoders.1.5"])
def test_region_grad_cam_matches_a_pytorch_twin_of_the_unet(torch, layer):
    model = small_unet()
    x = images(n=3, seed=3)
    t_model = torch_unet(torch)
    t_model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()})
    t_model.eval()

    target = np.array([0, 1, 2])
    result = explain.explain(model, x, method="segmentation_grad_cam", target=target, layer=layer)
    region = predicted_mask(model, x) == target[:, None, None]
    assert result.layer == (layer or "bottleneck.5")
    np.testing.assert_array_equal(result.region, region)
    cam, heatmaps, logits = torch_region_grad_cam(torch, t_model, x, result.layer, target, region)
    assert np.all(region.reshape(3, -1).any(axis=1)), "the test wants a non-empty region in every image"
    assert np.all(cam.max(axis=(1, 2)) > 0), "the test wants maps that are not all zero"
    np.testing.assert_allclose(result.cam, cam, rtol=1e-5, atol=1e-12)
    np.testing.assert_allclose(result.heatmaps, heatmaps, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(result.probs, torch.softmax(torch.from_numpy(logits), 1).numpy(), rtol=1e-10)

    # An explicit mask (a square) and one class for all images.
    square = np.zeros((16, 16), dtype=bool)
    square[4:10, 6:12] = True
    maps = explain.segmentation_grad_cam(model, x, 2, region=square, layer=layer)
    _, expected, _ = torch_region_grad_cam(
        torch, t_model, x, result.layer, [2, 2, 2], np.broadcast_to(square, (3, 16, 16))
    )
    np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-10)


@pytest.mark.torch
def test_float32_unet_matches_the_pytorch_twin_to_1e_4(torch):
    model = small_unet().to(td.float32)
    x = images(n=2, seed=5).astype(np.float32)
    t_model = torch_unet(torch).float()
    t_model.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in model.state_dict().items()})
    t_model.eval()
    maps = explain.segmentation_grad_cam(model, x, 1, region="all")
    kept = {}
    t_model.bottleneck[5].register_forward_hook(lambda m, i, out: kept.setdefault("A", out))
    score = t_model(torch.from_numpy(x))[:, 1].sum()
    (dA,) = torch.autograd.grad(score, kept["A"])
    cam = torch.relu((dA.mean(dim=(2, 3), keepdim=True) * kept["A"]).sum(dim=1)).detach()
    up = torch.nn.functional.interpolate(cam[:, None], size=(16, 16), mode="bilinear")[:, 0].numpy()
    expected = up / up.max(axis=(1, 2), keepdims=True)
    assert maps.dtype == np.float64 and maps.shape == (2, 16, 16)
    np.testing.assert_allclose(maps, expected, atol=1e-4)


# --------------------------------------------------------------------------- a model worked out by hand
def one_by_one_model(seed=0, classes=K):
    """Conv 1×1 (1 → 2) → ReLU → Conv 1×1 (2 → K): logit[c] = Σ_k W[c, k] A_k + b[c], A = the ReLU's maps."""
    td.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 2, 1), nn.ReLU(), nn.Conv2d(2, classes, 1)).to(td.float64)


def hand_made_map(model, x, target):
    """For that model ∂y/∂A_k(i, j) = W[t, k]·[ (i, j) ∈ R ], so α_k = W[t, k]·|R|/(h·w) and the map,
    once divided by its peak, is ReLU(Σ_k W[t, k] A_k) / max, for any non-empty region R."""
    w1, b1 = model[0].weight.numpy()[:, 0, 0, 0], model[0].bias.numpy()
    w2 = model[2].weight.numpy()[:, :, 0, 0]
    A = np.maximum(w1[None, :, None, None] * x + b1[None, :, None, None], 0)  # (N, 2, H, W)
    raw = np.maximum(np.einsum("k,nkhw->nhw", w2[target], A), 0)
    peak = raw.max(axis=(1, 2), keepdims=True)
    return np.divide(raw, peak, out=np.zeros_like(raw), where=peak > 0)


def test_default_layer_of_a_plain_conv_model_is_the_relu_before_the_head_and_the_map_is_the_hand_made_one():
    model = one_by_one_model(seed=1)
    x = images(n=2, size=6, seed=2)
    result = explain.explain(model, x, method="segmentation_grad_cam", target=1, region="all")
    assert result.layer == "1"  # not the head "2": its output would be the logits themselves
    np.testing.assert_allclose(result.heatmaps, hand_made_map(model, x, 1), rtol=1e-12, atol=1e-12)


@given(st.lists(st.booleans(), min_size=36, max_size=36), st.integers(0, K - 1))
def test_any_non_empty_region_of_a_one_by_one_model_gives_the_hand_made_map(cells, target):
    model = one_by_one_model(seed=3)
    x = images(n=1, size=6, seed=4)
    region = np.array(cells).reshape(6, 6)
    maps = explain.segmentation_grad_cam(model, x, target, region=region)
    if region.any():
        np.testing.assert_allclose(maps, hand_made_map(model, x, target), rtol=1e-10, atol=1e-12)
    else:
        assert np.all(maps == 0)


def test_one_logit_model_class_0_is_the_negative_logit():
    model = one_by_one_model(seed=7, classes=1)  # weights of both signs: both maps non-zero
    x = images(n=2, size=6, seed=6)
    fore = explain.explain(model, x, method="segmentation_grad_cam", target=1, region="all")
    back = explain.explain(model, x, method="segmentation_grad_cam", target=0, region="all")
    # Class 1 is the logit itself (the hand-made map of its one channel); α for class 0 is −α for class 1,
    # so the two maps are ReLU(S) and ReLU(−S): never both positive, and their difference is S.
    np.testing.assert_allclose(fore.heatmaps, hand_made_map(model, x, 0), rtol=1e-10, atol=1e-12)
    assert np.all(fore.cam * back.cam == 0) and fore.cam.max() > 0 and back.cam.max() > 0
    np.testing.assert_array_equal(fore.predicted, (fore.probs[:, 0] > 0.5).astype(int))
    with pytest.raises(ValueError, match=r"out of range.*2 classes"):
        explain.segmentation_grad_cam(model, x, 2)


# --------------------------------------------------------------------------- regions
def test_region_all_equals_an_explicit_all_true_mask_in_either_shape():
    model = small_unet()
    x = images()
    everywhere = explain.segmentation_grad_cam(model, x, 1, region="all")
    np.testing.assert_array_equal(
        everywhere, explain.segmentation_grad_cam(model, x, 1, region=np.ones((16, 16), bool))
    )
    np.testing.assert_array_equal(
        everywhere, explain.segmentation_grad_cam(model, x, 1, region=np.ones((2, 16, 16), int))
    )
    np.testing.assert_array_equal(
        everywhere, explain.segmentation_grad_cam(model, x, 1, region=td.ones((2, 16, 16)) > 0)
    )
    assert everywhere.shape == (2, 16, 16) and everywhere.min() >= 0 and np.allclose(everywhere.max(axis=(1, 2)), 1)


def test_default_region_is_the_predicted_pixels_of_the_class():
    model = small_unet()
    x = images(n=3, seed=3)
    mask = predicted_mask(model, x) == 2
    np.testing.assert_array_equal(
        explain.segmentation_grad_cam(model, x, 2), explain.segmentation_grad_cam(model, x, 2, region=mask)
    )
    result = explain.explain(model, x, target=2)  # a UNet with method "grad_cam": the segmentation one
    assert isinstance(result, explain.SegmentationExplanation) and result.method == "segmentation_grad_cam"
    np.testing.assert_array_equal(result.region_pixels, mask.reshape(3, -1).sum(axis=1))
    np.testing.assert_array_equal(result.predicted, predicted_mask(model, x))


def test_an_empty_region_gives_a_zero_map_and_is_recorded_not_an_error():
    model = small_unet()
    x = images(n=3, seed=3)
    region = np.zeros((3, 16, 16), dtype=bool)
    region[1, 2:6, 2:6] = True
    result = explain.explain(model, x, method="segmentation_grad_cam", target=1, region=region)
    assert np.all(result.heatmaps[[0, 2]] == 0) and np.all(result.cam[[0, 2]] == 0)
    assert result.heatmaps[1].max() == 1
    np.testing.assert_array_equal(result.region_pixels, [0, 16, 0])
    np.testing.assert_array_equal(result.empty, [True, False, True])
    titles = result.titles(["background", "liver", "tumour"])
    assert titles[0] == titles[2] == "liver: empty region"
    assert titles[1].startswith("liver, 16 px (mean p = ")


def test_left_and_right_halves_give_different_maps():
    model = small_unet()
    x = images(n=2, seed=3)
    left = np.zeros((16, 16), dtype=bool)
    left[:, :8] = True
    on_left = explain.explain(model, x, method="segmentation_grad_cam", target=1, region=left)
    on_right = explain.explain(model, x, method="segmentation_grad_cam", target=1, region=~left)
    everywhere = explain.explain(model, x, method="segmentation_grad_cam", target=1, region="all")
    assert np.abs(on_left.heatmaps - on_right.heatmaps).max() > 0.1
    # Before the ReLU the map is linear in the region: left + right = everywhere. Where both halves'
    # maps are positive (so the ReLU kept them), their sum is the whole image's.
    both = (on_left.cam > 0) & (on_right.cam > 0)
    assert both.any()
    np.testing.assert_allclose((on_left.cam + on_right.cam)[both], everywhere.cam[both], rtol=1e-9)


def test_target_class_per_image_and_the_default_largest_foreground_class():
    model = small_unet()
    x = images(n=3, seed=3)
    together = explain.segmentation_grad_cam(model, x, [2, 0, 1.0], region="all")
    for n, k in enumerate([2, 0, 1]):
        np.testing.assert_allclose(together[n], explain.segmentation_grad_cam(model, x[n : n + 1], k, region="all")[0])
    predicted = predicted_mask(model, x)
    counts = np.stack([(predicted == k).reshape(3, -1).sum(axis=1) for k in (1, 2)], axis=1)
    result = explain.explain(model, x, method="segmentation_grad_cam")
    np.testing.assert_array_equal(result.target, 1 + counts.argmax(axis=1))
    maps, logits = explain.segmentation_grad_cam(model, x, 1, return_logits=True)
    assert logits.shape == (3, K, 16, 16) and np.array_equal(logits.argmax(axis=1), predicted)


def test_explain_takes_target_class_and_a_resampling_unet_explains_at_the_image_size():
    model = small_unet()
    x = images(n=2, seed=3)
    by_option = explain.explain(model, x, target_class=1, region="all")
    np.testing.assert_array_equal(by_option.heatmaps, explain.segmentation_grad_cam(model, x, 1, region="all"))
    with pytest.raises(TypeError, match="target= or target_class="):
        explain.explain(model, x, target=1, target_class=1)

    td.manual_seed(0)
    resampling = td.models.UNet(1, K, base_width=4, depth=2, resample_to=8).to(td.float64)
    x12 = images(n=2, size=12, seed=3)  # 12 is not a multiple of 4: the U-Net resizes to 8×8 and back
    result = explain.explain(resampling, x12, target=1, region=np.ones((12, 12), bool))
    assert result.heatmaps.shape == (2, 12, 12) and result.cam.shape == (2, 2, 2)
    assert result.probs.shape == (2, K, 12, 12) and result.region_pixels.tolist() == [144, 144]


# --------------------------------------------------------------------------- the model is left alone
def test_model_mode_requires_grad_and_weight_gradients_are_unchanged():
    model = small_unet()
    x = images()
    model.train()
    (model(td.tensor(x)) ** 2).mean().backward()  # some gradients already in .grad, as mid-training
    model.head.bias.requires_grad = False
    flags = [p.requires_grad for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]
    state = {k: np.array(v, copy=True) for k, v in model.state_dict().items()}
    with td.no_grad():  # works inside no_grad too
        explain.segmentation_grad_cam(model, x, 1, region="all")
    assert all(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == flags
    for p, g in zip(model.parameters(), grads):
        assert (p.grad is None) == (g is None)
        if g is not None:
            np.testing.assert_array_equal(p.grad.numpy(), g)
    for k, v in model.state_dict().items():  # running statistics untouched: it ran in evaluation mode
        np.testing.assert_array_equal(v, state[k], err_msg=k)


# --------------------------------------------------------------------------- errors
def test_errors_name_the_problem_and_restore_the_model():
    model = small_unet()
    x = images()
    model.train()
    with pytest.raises(ValueError, match=r"target_class \[3, 3\] out of range: .*3 classes \(0\.\.2\)"):
        explain.segmentation_grad_cam(model, x, 3)
    with pytest.raises(ValueError, match=r"target_class \[-1, -1\] out of range"):
        explain.segmentation_grad_cam(model, x, -1)
    with pytest.raises(ValueError, match="target_class has 3 entries but x has 2 images"):
        explain.segmentation_grad_cam(model, x, [0, 1, 2])
    with pytest.raises(TypeError, match="target_class must be a class index"):
        explain.segmentation_grad_cam(model, x, 1.5)
    with pytest.raises(ValueError, match=r"region has shape \(2, 8, 8\); expected \(N, h, w\) = \(2, 16, 16\)"):
        explain.segmentation_grad_cam(model, x, 1, region=np.ones((2, 8, 8), bool))
    with pytest.raises(ValueError, match=r"region has shape \(2, 1, 16, 16\)"):
        explain.segmentation_grad_cam(model, x, 1, region=np.ones((2, 1, 16, 16), bool))
    with pytest.raises(TypeError, match="boolean mask .* got dtype float64"):
        explain.segmentation_grad_cam(model, x, 1, region=np.full((16, 16), 0.7))
    with pytest.raises(ValueError, match="region must be 'predicted', 'all' or a boolean mask, got 'liver'"):
        explain.segmentation_grad_cam(model, x, 1, region="liver")
    with pytest.raises(ValueError, match=r"layer 'pool' ran 2 times"):
        explain.segmentation_grad_cam(model, x, 1, layer="pool")
    with pytest.raises(ValueError, match="no layer named 'bottleneck.9'"):
        explain.segmentation_grad_cam(model, x, 1, layer="bottleneck.9")
    with pytest.raises(TypeError, match="segmentation_grad_cam takes the option region, not \\['n'\\]"):
        explain.explain(model, x, target=1, n=3)
    assert all(m.training for m in model.modules()) and all(p.requires_grad for p in model.parameters())


def test_a_classifier_is_pointed_to_grad_cam_and_keeps_its_own_explanation():
    td.manual_seed(0)
    classifier = td.models.SmallCNN(image_size=16, channels=2, hidden=4).to(td.float64)
    x = images(n=2)
    with pytest.raises(ValueError, match=r"returns class scores of shape \(2, 2\): a classifier; use grad_cam"):
        explain.segmentation_grad_cam(classifier, x, 1)
    with pytest.raises(ValueError, match="a classifier; use grad_cam"):
        explain.explain(classifier, x, target=1, region="all")
    result = explain.explain(classifier, x)  # unchanged: the classifier's Grad-CAM
    assert type(result) is explain.Explanation and result.method == "grad_cam" and result.probs.shape == (2, 2)
    with pytest.raises(ValueError, match="segmentation model .* use segmentation_grad_cam"):
        explain.grad_cam(small_unet(), x)
