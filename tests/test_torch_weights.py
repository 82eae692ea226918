"""Weights trained in PyTorch load into the same network written in tinydl, and give the same output.

The network is U-Net-shaped (the shape issue 18's segmenter has): an encoder of conv + batch norm + ReLU,
max pooling, a bottleneck, a transposed convolution and a bilinear upsampling back up, skip connections
joined with ``cat``, and a 1×1 head. Both libraries use the same attribute names, so PyTorch's
``state_dict`` keys (``down.0.weight``, ``down.1.running_mean``, ``up.weight``, ...) load unchanged.
"""

import numpy as np
import pytest

import tinydl as td

pytestmark = pytest.mark.torch


def double_conv(nn, c_in, c_out):
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1),
        nn.ReLU(),
    )


def make_unet(nn, cat, base=4):
    """The same little U-Net in either library: ``nn`` is ``torch.nn`` or ``td.nn``, ``cat`` joins on axis 1."""

    class TinyUNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.down = double_conv(nn, 1, base)
            self.pool = nn.MaxPool2d(2)
            self.middle = double_conv(nn, base, 2 * base)
            self.deeper = double_conv(nn, 2 * base, 2 * base)
            self.up = nn.ConvTranspose2d(2 * base, base, kernel_size=2, stride=2)
            self.upsample = nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False)
            self.fuse_low = double_conv(nn, 4 * base, 2 * base)
            self.fuse = double_conv(nn, 2 * base, base)
            self.head = nn.Conv2d(base, 2, kernel_size=1)

        def forward(self, x):
            skip = self.down(x)  # (N, b, H, W)
            low = self.middle(self.pool(skip))  # (N, 2b, H/2, W/2)
            deep = self.deeper(self.pool(low))  # (N, 2b, H/4, W/4)
            low = self.fuse_low(cat([self.upsample(deep), low]))  # back to H/2
            return self.head(self.fuse(cat([self.up(low), skip])))  # back to H

    return TinyUNet()


@pytest.mark.parametrize("mode", ["eval", "train"])
def test_a_unet_trained_in_torch_loads_and_matches(torch, mode):
    torch.manual_seed(0)
    theirs = make_unet(torch.nn, lambda xs: torch.cat(xs, 1)).double()
    # A few steps of training in torch, so the batch-norm statistics and weights are not the initial ones.
    optimizer = torch.optim.SGD(theirs.parameters(), lr=0.05)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = torch.tensor(rng.normal(size=(4, 1, 16, 16)))
        loss = torch.nn.functional.cross_entropy(theirs(x), torch.tensor(rng.integers(0, 2, size=(4, 16, 16))))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    ours = make_unet(td.nn, lambda xs: td.cat(xs, axis=1)).double()
    state = {k: v.detach().numpy() for k, v in theirs.state_dict().items()}
    assert set(state) == set(ours.state_dict()), "the two libraries name the weights differently"
    ours.load_state_dict(state)
    getattr(theirs, mode)()
    getattr(ours, mode)()

    theirs.zero_grad()  # the last training step's gradients must not add onto the ones compared below
    x = rng.normal(size=(2, 1, 16, 16))
    x_theirs = torch.tensor(x, requires_grad=True)
    x_ours = td.tensor(x, requires_grad=True)
    y_theirs, y_ours = theirs(x_theirs), ours(x_ours)
    assert y_ours.shape == tuple(y_theirs.shape) == (2, 2, 16, 16)
    np.testing.assert_allclose(y_ours.numpy(), y_theirs.detach().numpy(), rtol=1e-9, atol=1e-10)

    upstream = rng.normal(size=y_ours.shape)
    y_theirs.backward(torch.tensor(upstream))
    y_ours.backward(upstream)
    np.testing.assert_allclose(x_ours.grad.numpy(), x_theirs.grad.numpy(), rtol=1e-8, atol=1e-10)
    theirs_grads = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(
            p.grad.numpy(), theirs_grads[name].grad.numpy(), rtol=1e-8, atol=1e-10, err_msg=f"gradient of {name}"
        )
