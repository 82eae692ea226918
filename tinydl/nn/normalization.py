"""Normalisation layers and Dropout: BatchNorm1d/2d/3d, LayerNorm, GroupNorm.

BatchNorm and Dropout read ``self.training`` (switched by ``model.train()`` /
``model.eval()``); LayerNorm and GroupNorm use each sample's own statistics,
the same in both modes. Parameter and buffer names are PyTorch's, so a
``state_dict`` of a PyTorch normalisation layer loads into these and vice versa.
"""

import numbers

import numpy as np

from ..ops.normalization import batch_norm, check_dropout_probability, dropout, group_norm, layer_norm
from ..tensor import DEFAULT_DTYPE, as_tensor
from .module import Module, Parameter


class _BatchNorm(Module):
    """Shared machinery of BatchNorm1d and BatchNorm2d (they differ only in the input shapes allowed).

    Parameters ``weight`` (γ, init 1) and ``bias`` (β, init 0), if ``affine``;
    buffers ``running_mean`` (init 0), ``running_var`` (init 1) and
    ``num_batches_tracked`` (an int64 counter), if ``track_running_stats``.

    Training: normalise with the statistics of the batch and update the
    running ones:  r ← (1 − m)·r + m·(batch statistic), m = ``momentum``;
    ``momentum=None`` means m = 1/num_batches_tracked, the plain average of
    all batches seen so far. Evaluation: normalise with the running
    statistics (or with the batch's, if ``track_running_stats=False``).
    """

    _expected = ""  # e.g. "(N, C) or (N, C, L)", for error messages
    _ndims = ()

    def __init__(self, num_features, eps=1e-5, momentum=0.1, affine=True, track_running_stats=True, dtype=None):
        super().__init__()
        name = type(self).__name__
        if isinstance(num_features, bool) or not isinstance(num_features, (int, np.integer)) or num_features < 1:
            raise ValueError(f"{name}: num_features must be a positive integer, got {num_features!r}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"{name}: eps must be a positive number, got {eps!r}")
        if momentum is not None and (
            isinstance(momentum, bool) or not isinstance(momentum, numbers.Real) or not 0 <= momentum <= 1
        ):
            raise ValueError(f"{name}: momentum must be a number in [0, 1] or None, got {momentum!r}")
        dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
        if dtype.kind != "f":
            raise TypeError(f"{name}: dtype must be a floating-point type, got {dtype}")
        self.num_features = int(num_features)
        self.eps, self.momentum = eps, momentum
        self.affine, self.track_running_stats = bool(affine), bool(track_running_stats)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_features, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_features, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        if self.track_running_stats:
            self.register_buffer("running_mean", np.zeros(self.num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(self.num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        else:
            self.register_buffer("running_mean", None)
            self.register_buffer("running_var", None)
            self.register_buffer("num_batches_tracked", None)

    def reset_running_stats(self):
        """Running mean 0, running variance 1, counter 0."""
        if self.track_running_stats:
            self.running_mean.data[...] = 0
            self.running_var.data[...] = 1
            self.num_batches_tracked.data[...] = 0

    def reset_parameters(self):
        """Reset the running statistics, and γ to 1 and β to 0."""
        self.reset_running_stats()
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def _check_input(self, x):
        if x.ndim not in self._ndims or x.shape[1] != self.num_features:
            raise ValueError(
                f"{type(self).__name__}({self.num_features}) expects input of shape {self._expected} "
                f"with C = {self.num_features}, got shape {x.shape}"
            )
        dtype = self.weight.dtype if self.affine else (self.running_mean.dtype if self.track_running_stats else None)
        if dtype is not None and x.dtype != dtype:
            raise TypeError(
                f"{self!r} has {dtype} parameters but got a {x.dtype} input; "
                f"convert the input (x.astype(td.{dtype})) or the model (model.to(td.{x.dtype}))"
            )

    def forward(self, x):
        x = as_tensor(x)
        self._check_input(x)
        update = self.training and self.track_running_stats
        momentum = 0.0 if self.momentum is None else self.momentum
        if update and self.momentum is None:
            momentum = 1.0 / float(self.num_batches_tracked.item() + 1)  # cumulative average
        # Batch statistics in training, and in evaluation too when no running ones are kept.
        use_batch_stats = self.training or not self.track_running_stats
        stats = (self.running_mean, self.running_var) if self.track_running_stats else (None, None)
        y = batch_norm(x, *stats, self.weight, self.bias, training=use_batch_stats, momentum=momentum, eps=self.eps)
        if update:
            self.num_batches_tracked.data += 1  # only after a successful call
        return y

    def extra_repr(self):
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch normalisation of (N, C) or (N, C, L) inputs, per feature C: y = γ·(x − μ)/√(σ² + ε) + β.

    μ and σ² are taken over the batch (and L) in training, from the running
    statistics in evaluation. See :func:`tinydl.ops.normalization.batch_norm`.
    """

    _expected = "(N, C) or (N, C, L)"
    _ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch normalisation of (N, C, H, W) images, per channel C: y = γ·(x − μ)/√(σ² + ε) + β.

    μ and σ² are taken over N, H and W in training, from the running
    statistics in evaluation. See :func:`tinydl.ops.normalization.batch_norm`.
    """

    _expected = "(N, C, H, W)"
    _ndims = (4,)


class BatchNorm3d(_BatchNorm):
    """Batch normalisation of (N, C, D, H, W) volumes (CT, MRI), per channel C: y = γ·(x − μ)/√(σ² + ε) + β.

    The same op as BatchNorm2d, with μ and σ² over N, D, H and W. See
    :func:`tinydl.ops.normalization.batch_norm`.
    """

    _expected = "(N, C, D, H, W)"
    _ndims = (5,)


def _float_dtype(name, dtype):
    dtype = np.dtype(DEFAULT_DTYPE if dtype is None else dtype)
    if dtype.kind != "f":
        raise TypeError(f"{name}: dtype must be a floating-point type, got {dtype}")
    return dtype


def _check_dtype(module, x, param):
    if param is not None and x.dtype != param.dtype:
        raise TypeError(
            f"{module!r} has {param.dtype} parameters but got a {x.dtype} input; "
            f"convert the input (x.astype(td.{param.dtype})) or the model (model.to(td.{x.dtype}))"
        )


class LayerNorm(Module):
    """Layer normalisation over the last axes ``normalized_shape``: y = γ·(x − μ)/√(σ² + ε) + β per sample.

    Parameters ``weight`` γ (init 1) and ``bias`` β (init 0), of shape ``normalized_shape``,
    if ``elementwise_affine`` (``bias=False`` keeps γ only, as PyTorch). No buffers.
    See :func:`tinydl.ops.normalization.layer_norm`.
    """

    def __init__(self, normalized_shape, eps=1e-5, elementwise_affine=True, bias=True, dtype=None):
        super().__init__()
        if isinstance(normalized_shape, (int, np.integer)) and not isinstance(normalized_shape, bool):
            normalized_shape = (normalized_shape,)
        normalized_shape = tuple(normalized_shape)
        if not normalized_shape or any(
            isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1 for n in normalized_shape
        ):
            raise ValueError(f"LayerNorm: normalized_shape must be positive integers, got {normalized_shape!r}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"LayerNorm: eps must be a positive number, got {eps!r}")
        dtype = _float_dtype("LayerNorm", dtype)
        self.normalized_shape = tuple(int(n) for n in normalized_shape)
        self.eps, self.elementwise_affine = eps, bool(elementwise_affine)
        if self.elementwise_affine:
            self.weight = Parameter(np.ones(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(np.zeros(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.weight is not None:
            self.weight.data[...] = 1
        if self.bias is not None:
            self.bias.data[...] = 0

    def forward(self, x):
        x = as_tensor(x)
        _check_dtype(self, x, self.weight)
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, eps=self.eps)

    def extra_repr(self):
        return f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"


class GroupNorm(Module):
    """Group normalisation: channels in ``num_groups`` groups, each normalised per sample; y = γ_c·x̂ + β_c.

    Parameters ``weight`` γ (init 1) and ``bias`` β (init 0) of shape (num_channels,), if
    ``affine``. No buffers. See :func:`tinydl.ops.normalization.group_norm`.
    """

    def __init__(self, num_groups, num_channels, eps=1e-5, affine=True, dtype=None):
        super().__init__()
        for name, n in (("num_groups", num_groups), ("num_channels", num_channels)):
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(f"GroupNorm: {name} must be a positive integer, got {n!r}")
        if num_channels % num_groups:
            raise ValueError(f"GroupNorm: num_groups={num_groups} must divide num_channels={num_channels}")
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"GroupNorm: eps must be a positive number, got {eps!r}")
        dtype = _float_dtype("GroupNorm", dtype)
        self.num_groups, self.num_channels = int(num_groups), int(num_channels)
        self.eps, self.affine = eps, bool(affine)
        if self.affine:
            self.weight = Parameter(np.ones(self.num_channels, dtype=dtype))
            self.bias = Parameter(np.zeros(self.num_channels, dtype=dtype))
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)

    def reset_parameters(self):
        if self.affine:
            self.weight.data[...] = 1
            self.bias.data[...] = 0

    def forward(self, x):
        x = as_tensor(x)
        if x.ndim < 2 or x.shape[1] != self.num_channels:
            raise ValueError(f"{self!r} expects input of shape (N, {self.num_channels}, ...), got shape {x.shape}")
        _check_dtype(self, x, self.weight)
        return group_norm(x, self.num_groups, self.weight, self.bias, eps=self.eps)

    def extra_repr(self):
        return f"{self.num_groups}, {self.num_channels}, eps={self.eps}, affine={self.affine}"


class Dropout(Module):
    """Inverted dropout: in training zero each element with probability p and scale the rest by 1/(1 − p).

    In evaluation (``model.eval()``) it is the identity. Masks come from
    ``tinydl.random.generator()``, so ``td.manual_seed`` makes them repeatable.
    """

    def __init__(self, p=0.5):
        super().__init__()
        check_dropout_probability(p, "Dropout(p)")  # refused here, not at the first forward
        self.p = p

    def forward(self, x):
        return dropout(x, self.p, training=self.training)

    def extra_repr(self):
        return f"p={self.p}"
