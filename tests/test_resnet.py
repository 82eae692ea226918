"""td.models.ResNet / ResNet18 (issue 19): the MedMNIST v2 benchmark's residual networks.

- ResNet18's parameter count and state-dict names equal torchvision's ``resnet18`` with the
  small-image stem (3×3 stride-1 conv1, no max-pool): 11,681,832 parameters for 3 → 1000.
- A twin written with ``torch.nn`` (tinydl.testing.torch_models.torch_resnet) loads tinydl's
  state_dict unchanged and gives the same logits and the same gradients (every parameter and
  the input), in train mode (batch statistics) and eval mode (running statistics), with and
  without squeeze-excitation.
- A float64 numerical gradient check of a small ResNet, a save/load round trip, bad arguments.
"""

import numpy as np
import pytest

import tinydl as td
import tinydl.nn.functional as F
from tinydl.testing.torch_models import torch_resnet


def test_resnet18_has_torchvisions_size_and_names():
    model = td.models.ResNet18(in_channels=3, num_classes=1000)
    # torchvision.models.resnet18(): 11,689,512 parameters; its 7×7×3×64 conv1 replaced by 3×3×3×64
    # takes 9,408 − 1,728 = 7,680 away.
    assert model.num_parameters() == 11_689_512 - 7_680
    names = list(model.state_dict())
    assert len(names) == 122  # 62 parameters + 60 BatchNorm buffers, as torchvision's state_dict
    for name in [
        "conv1.weight",
        "bn1.running_var",
        "layer1.0.conv1.weight",
        "layer1.1.bn2.num_batches_tracked",
        "layer2.0.downsample.0.weight",
        "layer2.0.downsample.1.running_mean",
        "layer4.1.conv2.weight",
        "fc.weight",
        "fc.bias",
    ]:
        assert name in names
    assert "layer1.0.downsample.0.weight" not in names  # layer1 keeps the shape: identity shortcut
    assert model(td.zeros((2, 3, 28, 28))).shape == (2, 1000)
    assert model.config == {"in_channels": 3, "num_classes": 1000}


def test_resnet_shapes_any_depth_and_width():
    model = td.models.ResNet(1, 5, blocks=(1, 2, 1, 1), widths=(4, 8, 8, 16))
    x = td.zeros((3, 1, 28, 28))
    assert model.features(x).shape == (3, 16, 4, 4)  # 28 → 28 → 14 → 7 → 4
    assert model(x).shape == (3, 5)
    assert model(td.zeros((2, 1, 20, 24))).shape == (2, 5)  # global pooling: any size
    assert len(model.layer2) == 2


def small(torch, se, seed=0):
    td.manual_seed(seed)
    model = td.models.ResNet(2, 3, blocks=(1, 2), widths=(4, 6), se=se).to(td.float64)
    twin = torch_resnet(torch, 2, 3, blocks=(1, 2), widths=(4, 6), se=se).double()
    twin.load_state_dict({k: torch.tensor(np.array(v)) for k, v in model.state_dict().items()})
    return model, twin


@pytest.mark.parametrize("se", [False, True])
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_resnet_matches_its_torch_twin(torch, se, mode):
    model, twin = small(torch, se)
    rng = np.random.default_rng(1)
    if mode == "eval":  # running statistics that are not the initial 0 / 1
        for name, buffer in model.state_dict().items():
            if name.endswith("running_mean") or name.endswith("running_var"):
                buffer[...] = rng.uniform(0.5, 1.5, size=buffer.shape)
        twin.load_state_dict({k: torch.tensor(np.array(v)) for k, v in model.state_dict().items()})
        model.eval(), twin.eval()
    x = rng.normal(size=(4, 2, 9, 10))
    y = rng.integers(0, 3, size=4)
    xt = td.tensor(x, requires_grad=True)
    loss = F.cross_entropy(model(xt), y)
    loss.backward()
    xtorch = torch.tensor(x, requires_grad=True)
    tloss = torch.nn.functional.cross_entropy(twin(xtorch), torch.tensor(y))
    tloss.backward()
    assert float(loss.numpy()) == pytest.approx(tloss.item(), rel=1e-10)
    np.testing.assert_allclose(xt.grad.numpy(), xtorch.grad.numpy(), rtol=1e-8, atol=1e-11)
    torch_grads = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        np.testing.assert_allclose(p.grad.numpy(), torch_grads[name].grad.numpy(), rtol=1e-8, atol=1e-11, err_msg=name)
    if mode == "train":  # BatchNorm's running statistics moved the same way
        after = twin.state_dict()
        for name, buffer in model.state_dict().items():
            np.testing.assert_allclose(np.array(buffer), after[name].numpy(), rtol=1e-10, err_msg=name)


def test_resnet_numerical_gradient():
    td.manual_seed(3)
    model = td.models.ResNet(1, 2, blocks=(1, 1), widths=(2, 3), se=True).to(td.float64)
    model.eval()  # running statistics: the function of x is fixed, so finite differences apply
    x = np.random.default_rng(2).normal(size=(2, 1, 6, 6))

    def f(arr):
        return float(F.cross_entropy(model(td.tensor(arr)), [0, 1]).numpy())

    xt = td.tensor(x, requires_grad=True)
    F.cross_entropy(model(xt), [0, 1]).backward()
    numeric = np.zeros_like(x)
    eps = 1e-6
    for i in np.ndindex(x.shape):
        up, down = x.copy(), x.copy()
        up[i] += eps
        down[i] -= eps
        numeric[i] = (f(up) - f(down)) / (2 * eps)
    np.testing.assert_allclose(xt.grad.numpy(), numeric, rtol=1e-5, atol=1e-8)


def test_resnet_save_load_round_trip(tmp_path):
    td.manual_seed(0)
    model = td.models.ResNet(3, 4, blocks=(1, 1), widths=(4, 8), se=True, dropout=0.2)
    model.eval()
    x = td.tensor(np.random.default_rng(0).random((2, 3, 12, 12)).astype(np.float32))
    td.save(model, tmp_path / "m.npz")
    loaded = td.load(tmp_path / "m.npz")
    assert type(loaded) is td.models.ResNet and loaded.config == model.config
    np.testing.assert_array_equal(loaded(x).numpy(), model(x).numpy())
    td.save(td.models.ResNet18(1, 2), tmp_path / "r18.npz")
    assert type(td.load(tmp_path / "r18.npz")) is td.models.ResNet18


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(blocks=(1, 1), widths=(4,)), r"widths must be 2 whole numbers, got \[4\]"),
        (dict(blocks=(), widths=()), "blocks must be a non-empty list"),
        (dict(blocks=(1, 0), widths=(4, 4)), "blocks must be a positive integer"),
        (dict(dropout=1.5), "dropout"),
        (dict(in_channels=0), "in_channels must be a positive integer"),
    ],
)
def test_resnet_bad_arguments_are_named(kwargs, message):
    with pytest.raises(ValueError, match=message):
        td.models.ResNet(**{"in_channels": 1, "num_classes": 2, **kwargs})
