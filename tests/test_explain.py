"""tinydl.explain: saliency, SmoothGrad, Grad-CAM, overlays — and Module.register_forward_hook."""

import subprocess
import sys

import numpy as np
import pytest

import tinydl as td
import tinydl.explain as explain
from tinydl import nn


def small_cnn(seed=0, image_size=8, fused=False, **kwargs):
    td.manual_seed(seed)
    return td.models.SmallCNN(image_size=image_size, channels=2, hidden=4, fused=fused, **kwargs).double()


def images(n=2, c=1, size=8, seed=0):
    return np.random.default_rng(seed).standard_normal((n, c, size, size))


def logits_of(model, x):
    with td.no_grad():
        return model(td.tensor(x)).numpy()


# --------------------------------------------------------------------------- forward hooks
def test_forward_hook_sees_inputs_and_output_and_can_be_removed():
    layer = nn.Linear(3, 2)
    calls = []
    handle = layer.register_forward_hook(lambda m, inputs, out: calls.append((m, inputs, out)))
    x = td.ones(1, 3)
    y = layer(x)
    assert len(calls) == 1 and calls[0][0] is layer and calls[0][1][0] is x and calls[0][2] is y
    handle.remove()
    handle.remove()  # twice is harmless
    layer(x)
    assert len(calls) == 1


def test_forward_hook_can_replace_the_output_and_works_as_a_context_manager():
    layer = nn.Identity()
    with layer.register_forward_hook(lambda m, inputs, out: out * 2):
        assert layer(td.tensor([1.0, 2.0])).tolist() == [2.0, 4.0]
    assert layer(td.tensor([1.0, 2.0])).tolist() == [1.0, 2.0]
    with pytest.raises(TypeError):
        layer.register_forward_hook("not callable")


# --------------------------------------------------------------------------- saliency
def test_saliency_of_a_linear_model_is_the_absolute_class_weights():
    td.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 4 * 4, 5)).double()
    x = images(n=2, c=3, size=4)
    maps = explain.saliency(model, x, target=[1, 3])
    w = model[1].weight.numpy().reshape(5, 3, 4, 4)
    expected = np.stack([np.abs(w[1]).max(axis=0), np.abs(w[3]).max(axis=0)])
    assert maps.shape == (2, 4, 4)
    np.testing.assert_allclose(maps, expected, rtol=1e-12)


def test_saliency_matches_finite_differences_of_the_class_score():
    model = small_cnn()
    x = images(n=2)
    target = np.array([0, 1])
    maps = explain.saliency(model, x, target=target)
    eps = 1e-6
    numeric = np.zeros_like(x)
    for idx in np.ndindex(*x.shape):
        up, down = x.copy(), x.copy()
        up[idx] += eps
        down[idx] -= eps
        n = idx[0]
        numeric[idx] = (logits_of(model, up)[n, target[n]] - logits_of(model, down)[n, target[n]]) / (2 * eps)
    np.testing.assert_allclose(maps, np.abs(numeric).max(axis=1), rtol=1e-5, atol=1e-8)


def test_saliency_defaults_to_the_predicted_class_and_returns_probs():
    model = small_cnn()
    x = images(n=3, seed=5)
    logits = logits_of(model, x)
    maps, probs = explain.saliency(model, x, return_probs=True)
    np.testing.assert_allclose(maps, explain.saliency(model, x, target=logits.argmax(axis=1)))
    softmax = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(probs, softmax, rtol=1e-10)


def test_smoothgrad_is_deterministic_and_non_negative():
    model = small_cnn()
    x = images(n=2)
    a = explain.smoothgrad(model, x, n=4, seed=3)
    b = explain.smoothgrad(model, x, n=4, seed=3)
    assert a.shape == (2, 8, 8) and np.all(a >= 0)
    np.testing.assert_array_equal(a, b)
    # No noise: exactly the saliency of the clean image.
    np.testing.assert_allclose(explain.smoothgrad(model, x, n=2, noise=0.0), explain.saliency(model, x))


def test_one_logit_binary_model():
    td.manual_seed(1)
    model = nn.Sequential(nn.Flatten(), nn.Linear(16, 1)).double()
    x = images(n=2, size=4)
    result = explain.explain(model, x, method="saliency")
    assert result.probs.shape == (2, 1)
    np.testing.assert_allclose(result.heatmaps[0], np.abs(model[1].weight.numpy().reshape(4, 4)))
    np.testing.assert_array_equal(result.predicted, (result.probs[:, 0] > 0.5).astype(int))


# --------------------------------------------------------------------------- Grad-CAM
class SquareDetector(nn.Module):
    """conv (a 3×3 box filter, bias −0.5) → ReLU → global average → Linear(1, 2): class 1 = "bright square"."""

    def __init__(self, size=16):
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.conv.weight.data = np.full((1, 1, 3, 3), 1 / 9, dtype=np.float32)
        self.conv.bias.data = np.array([-0.5], dtype=np.float32)
        self.pool = nn.AvgPool2d(size)
        self.fc = nn.Linear(1, 2)
        self.fc.weight.data = np.array([[-1.0], [1.0]], dtype=np.float32)
        self.fc.bias.data = np.zeros(2, dtype=np.float32)

    def forward(self, x):
        return self.fc(self.pool(self.conv(x).relu()).flatten(1))


def test_grad_cam_peaks_on_the_bright_square():
    x = np.zeros((1, 1, 16, 16), dtype=np.float32)
    x[0, 0, 9:13, 2:6] = 1.0
    model = SquareDetector()
    maps, probs = explain.grad_cam(model, x, return_probs=True)
    assert maps.shape == (1, 16, 16)
    assert probs[0].argmax() == 1
    peak = np.unravel_index(maps[0].argmax(), (16, 16))
    assert 9 <= peak[0] < 13 and 2 <= peak[1] < 6
    assert maps[0, 10:12, 3:5].min() > 0.9  # the square's centre is hot …
    assert maps[0, :6, 9:].max() == 0.0  # … the far corner cold


def test_grad_cam_shape_range_and_default_layer():
    model = small_cnn(image_size=28)
    x = images(n=3, size=28)
    result = explain.explain(model, x)
    assert result.layer == "features.1" and result.method == "grad_cam"  # the ReLU after the last conv
    assert result.heatmaps.shape == (3, 28, 28) and result.cam.shape == (3, 26, 26)
    assert result.heatmaps.min() >= 0 and result.heatmaps.max() <= 1
    assert result.probs.shape == (3, 2)
    np.testing.assert_allclose(result.probs.sum(axis=1), 1)
    for m in result.heatmaps:
        assert m.max() in (0.0, 1.0)
    titles = result.titles(["normal", "pneumonia"])
    assert len(titles) == 3 and all("p = " in t for t in titles)
    convnet = td.models.ConvNet(channels=(2, 3), hidden=4)
    assert explain.explain(convnet, x.astype(np.float32)).layer == "features.6"  # conv 4 → BatchNorm 5 → ReLU 6
    assert explain.explain(model, x, layer="features.0").layer == "features.0"  # the conv output, on request


def test_grad_cam_on_fused_small_cnn_equals_unfused_and_stays_fused():
    model = small_cnn(image_size=28, fused=True)
    x = images(n=2, size=28, seed=7)
    fused_maps = explain.grad_cam(model, x)
    assert model.fused is True
    model.fused = False
    np.testing.assert_allclose(explain.grad_cam(model, x), fused_maps, rtol=1e-12, atol=1e-12)
    model.fused = True
    # The ReLU after the conv (not run as a module in fused mode) can be chosen too.
    relu_maps = explain.grad_cam(model, x, layer="features.1")
    assert relu_maps.shape == (2, 28, 28)
    assert model.fused is True


def test_grad_cam_layer_as_module_and_explicit_target():
    model = small_cnn(image_size=28)
    x = images(n=2, size=28)
    by_name = explain.grad_cam(model, x, layer="features.0", target=1)
    by_module = explain.grad_cam(model, x, layer=model.features[0], target=[1, 1])
    np.testing.assert_array_equal(by_name, by_module)


def test_explaining_leaves_the_model_as_it_was():
    model = small_cnn(image_size=28, fused=True)
    x = images(n=1, size=28)
    model.train()
    with td.no_grad():  # works inside no_grad too
        explain.grad_cam(model, x)
        explain.saliency(model, x)
    assert all(m.training for m in model.modules())
    assert all(p.requires_grad and p.grad is None for p in model.parameters())
    model.eval()
    model.classifier[1].weight.requires_grad = False
    explain.grad_cam(model, x)
    assert not any(m.training for m in model.modules())
    assert [p.requires_grad for p in model.parameters()] == [True, True, False, True, True, True]


def test_errors_name_the_problem_and_restore_the_model():
    model = small_cnn(image_size=28, fused=True)
    x = images(n=1, size=28)
    model.train()
    with pytest.raises(ValueError, match=r"no layer named 'features\.9'.*features\.0"):
        explain.grad_cam(model, x, layer="features.9")
    with pytest.raises(ValueError, match=r"\(N, C, h, w\).*'classifier\.1'"):
        explain.grad_cam(model, x, layer="classifier.1")  # a Linear: 2-D output; raised mid-forward
    assert model.fused is True and model.training and all(p.requires_grad for p in model.parameters())
    with pytest.raises(ValueError, match=r"expected x of shape \(N, C, H, W\), got shape \(1, 28, 28\)"):
        explain.grad_cam(model, x[0])
    with pytest.raises(ValueError, match=r"\(N, C, H, W\), got shape \(28, 28\)"):
        explain.saliency(model, x[0, 0])
    with pytest.raises(ValueError, match="not part of the model"):
        explain.grad_cam(model, x, layer=nn.Conv2d(1, 2, 3))
    with pytest.raises(ValueError, match="out of range"):
        explain.grad_cam(model, x, target=2)
    with pytest.raises(ValueError, match="no Conv2d"):
        explain.grad_cam(nn.Sequential(nn.Flatten(), nn.Linear(784, 2)), x)
    with pytest.raises(ValueError, match="unknown method"):
        explain.explain(model, x, method="lime")


# --------------------------------------------------------------------------- cross-check with PyTorch
@pytest.mark.torch
def test_grad_cam_matches_pytorch(torch):
    F = torch.nn.functional
    model = small_cnn(image_size=28, seed=3)
    x = images(n=3, size=28, seed=4)
    result = explain.explain(model, x, target=[0, 1, 1])

    t_model = torch.nn.Sequential(
        torch.nn.Conv2d(1, 2, 3),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(2 * 13 * 13, 4),
        torch.nn.ReLU(),
        torch.nn.Linear(4, 2),
    ).double()
    state = model.state_dict()
    mapping = {"0": "features.0", "4": "classifier.1", "6": "classifier.3"}
    with torch.no_grad():
        for t_name, name in mapping.items():
            t_model.get_submodule(t_name).weight.copy_(torch.from_numpy(state[f"{name}.weight"]))
            t_model.get_submodule(t_name).bias.copy_(torch.from_numpy(state[f"{name}.bias"]))

    xt = torch.from_numpy(x)
    A = t_model[:2](xt)  # the default layer: the rectified maps of the conv block
    logits = t_model[2:](A)
    score = logits[torch.arange(3), torch.tensor([0, 1, 1])].sum()
    (dA,) = torch.autograd.grad(score, A)
    alpha = dA.mean(dim=(2, 3), keepdim=True)
    cam = torch.relu((alpha * A).sum(dim=1)).detach()
    np.testing.assert_allclose(result.cam, cam.numpy(), rtol=1e-5, atol=1e-10)

    up = F.interpolate(cam[:, None], size=(28, 28), mode="bilinear", align_corners=False)[:, 0].numpy()
    peak = up.max(axis=(1, 2), keepdims=True)
    expected = np.divide(up, peak, out=np.zeros_like(up), where=peak > 0)
    np.testing.assert_allclose(result.heatmaps, expected, rtol=1e-5, atol=1e-10)
    np.testing.assert_allclose(result.probs, torch.softmax(logits, 1).detach().numpy(), rtol=1e-10)


@pytest.mark.torch
@pytest.mark.parametrize(
    "src, dst", [((13, 13), (28, 28)), ((26, 26), (28, 28)), ((14, 7), (28, 30)), ((5, 5), (3, 3))]
)
def test_upsample_bilinear_matches_pytorch(torch, src, dst):
    maps = np.random.default_rng(0).random((2, *src))
    expected = torch.nn.functional.interpolate(
        torch.from_numpy(maps)[:, None], size=dst, mode="bilinear", align_corners=False
    )[:, 0].numpy()
    np.testing.assert_allclose(explain.upsample_bilinear(maps, dst), expected, rtol=1e-12, atol=1e-12)


# --------------------------------------------------------------------------- pictures
def test_overlay_shapes_and_range():
    rng = np.random.default_rng(0)
    image = rng.random((28, 28)) * 255  # any range is rescaled
    heat = rng.random((28, 28))
    out = explain.overlay(image, heat)
    assert out.shape == (28, 28, 3) and out.min() >= 0 and out.max() <= 1
    assert explain.overlay(image[None], heat * 1e-3).shape == (28, 28, 3)  # CHW, tiny saliency values
    assert explain.overlay(rng.random((3, 28, 28)), rng.random((13, 13))).shape == (28, 28, 3)  # resize
    grey = np.repeat((image / 255)[..., None], 3, axis=-1)
    np.testing.assert_allclose(explain.overlay(image / 255, heat, alpha=0.0), grey)
    with pytest.raises(ValueError):
        explain.overlay(image, heat, alpha=2)


def test_plot_explanations_writes_a_png_atomically(tmp_path):
    model = small_cnn(image_size=28)
    x = images(n=3, size=28)
    result = explain.explain(model, x)
    path = tmp_path / "cam.png"
    figure = explain.plot_explanations(x, result.heatmaps, titles=result.titles(), path=path)
    assert len(figure.axes) == 6
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["cam.png"]
    with pytest.raises(ValueError, match="titles"):
        explain.plot_explanations(x, result.heatmaps, titles=["only one"])


def test_import_is_light():
    code = "import sys, tinydl.explain; print([m for m in ('matplotlib', 'numba', 'torch') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_unfused_switches_declared_fused_shortcuts_off_and_back_even_on_error():
    model = td.nn.Sequential(small_cnn(image_size=28, fused=True), small_cnn(image_size=28, fused=False))
    fused_one, plain_one = model[0], model[1]
    with model.unfused() as same:
        assert same is model and fused_one.fused is False and plain_one.fused is False
    assert fused_one.fused is True and plain_one.fused is False  # only what it switched off goes back on
    with pytest.raises(RuntimeError):
        with model.unfused():
            raise RuntimeError("boom")
    assert fused_one.fused is True
    x = np.random.default_rng(0).random((2, 1, 28, 28))
    with fused_one.unfused():
        unfused_logits = fused_one(td.tensor(x)).numpy()
    np.testing.assert_allclose(fused_one(td.tensor(x)).numpy(), unfused_logits, rtol=1e-10, atol=1e-12)
