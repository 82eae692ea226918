"""Weight initialisation: fill a tensor in place with well-scaled random numbers.

Why it matters: if the weights of a layer with n inputs have variance σ², its
outputs have variance ≈ n·σ²·Var(input). Too large a σ and activations (and
gradients) explode layer after layer; too small and they vanish. The schemes
below choose σ from the layer's *fan-in* (inputs per output unit) or
*fan-out* so that the variance stays roughly constant through the network.

PyTorch's default for ``Linear`` (which ``tinydl.nn.Linear`` copies):

    weight ← kaiming_uniform_(a=√5)   ⇒  W ~ U(−1/√fan_in, 1/√fan_in)
    bias   ← U(−1/√fan_in, 1/√fan_in)

because with a = √5 the gain is √(2/(1+a²)) = √(1/3) and the bound
√3 · gain / √fan_in = 1/√fan_in.

Every function draws from ``tinydl.random.generator()``, so after
``td.manual_seed(s)`` the same model gets the same initial weights. Each ends
in ``_`` (it modifies its argument, PyTorch's convention) and returns it.
"""

import math

from ..backend import array_module
from ..random import generator


def _fill(tensor, values):
    """Write ``values`` (a NumPy array or number) into ``tensor`` in place, in the tensor's dtype.

    Writing into ``.data`` bypasses autograd: initialisation is not part of any graph.
    """
    xp = array_module(tensor.data)
    tensor.data[...] = xp.asarray(values, dtype=tensor.dtype)
    return tensor


def calculate_gain(nonlinearity, param=None):
    """The factor by which ``nonlinearity`` shrinks the standard deviation of its input, inverted.

    linear, sigmoid: 1      tanh: 5/3      relu: √2      selu: 3/4
    leaky_relu with negative slope a (default 0.01): √(2 / (1 + a²))
    (ReLU zeroes half of a symmetric input, halving its second moment; √2 restores it.)
    """
    if nonlinearity in ("linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"):
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3.0
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, (int, float)):
            raise ValueError(f"negative slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4.0
    raise ValueError(f"unsupported nonlinearity {nonlinearity!r}")


def _calculate_fan_in_and_fan_out(tensor):
    """(fan_in, fan_out) of a weight of shape (out, in, *kernel).

    fan_in = in · Π kernel (inputs feeding one output), fan_out = out · Π kernel.
    For a Linear weight (out_features, in_features) that is (in_features, out_features).
    """
    if tensor.ndim < 2:
        raise ValueError(f"fan in and fan out need a tensor with at least 2 dimensions, got shape {tensor.shape}")
    receptive_field = math.prod(tensor.shape[2:])
    return tensor.shape[1] * receptive_field, tensor.shape[0] * receptive_field


def _fan(tensor, mode):
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"mode must be 'fan_in' or 'fan_out', got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    fan = fan_in if mode == "fan_in" else fan_out
    if fan == 0:
        raise ValueError(f"cannot initialise a tensor of shape {tensor.shape}: its {mode} is 0")
    return fan


def uniform_(tensor, a=0.0, b=1.0):
    """Fill with samples of U(a, b)."""
    if not a <= b:
        raise ValueError(f"uniform_ needs a <= b, got a={a}, b={b}")
    return _fill(tensor, generator().uniform(a, b, size=tensor.shape))


def normal_(tensor, mean=0.0, std=1.0):
    """Fill with samples of N(mean, std²)."""
    if std < 0:
        raise ValueError(f"normal_ needs std >= 0, got {std}")
    return _fill(tensor, generator().normal(mean, std, size=tensor.shape))


def constant_(tensor, value):
    """Fill with ``value``."""
    return _fill(tensor, value)


def zeros_(tensor):
    """Fill with 0 (the usual start for biases)."""
    return _fill(tensor, 0.0)


def ones_(tensor):
    """Fill with 1 (the usual start for normalisation scales)."""
    return _fill(tensor, 1.0)


def xavier_uniform_(tensor, gain=1.0):
    """Glorot & Bengio (2010): W ~ U(−b, b),  b = gain · √(6 / (fan_in + fan_out)).

    Var(W) = b²/3 = gain² · 2/(fan_in + fan_out): a compromise that keeps the
    variance of activations (fan_in) and of gradients (fan_out) steady; made
    for tanh/sigmoid networks.
    """
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return _fill(tensor, generator().uniform(-bound, bound, size=tensor.shape))


def xavier_normal_(tensor, gain=1.0):
    """Glorot & Bengio (2010): W ~ N(0, σ²),  σ = gain · √(2 / (fan_in + fan_out))."""
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / (fan_in + fan_out))
    return _fill(tensor, generator().normal(0.0, std, size=tensor.shape))


def kaiming_uniform_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): W ~ U(−b, b),  b = √3 · gain / √fan,  gain = calculate_gain(nonlinearity, a).

    The std gain/√fan keeps the variance of activations (mode='fan_in') or of
    gradients (mode='fan_out') constant through ReLU-like layers; √3 turns a
    std into the half-width of a uniform distribution (Var U(−b, b) = b²/3).
    ``a`` is the negative slope of the leaky ReLU (a = 0: plain ReLU, gain √2).
    """
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    bound = math.sqrt(3.0) * std
    return _fill(tensor, generator().uniform(-bound, bound, size=tensor.shape))


def kaiming_normal_(tensor, a=0.0, mode="fan_in", nonlinearity="leaky_relu"):
    """He et al. (2015): W ~ N(0, σ²),  σ = gain / √fan,  gain = calculate_gain(nonlinearity, a)."""
    std = calculate_gain(nonlinearity, a) / math.sqrt(_fan(tensor, mode))
    return _fill(tensor, generator().normal(0.0, std, size=tensor.shape))


def layer_default_(weight, bias=None):
    """PyTorch's default for Linear and Conv2d: W ~ kaiming_uniform_(a=√5), which is U(−1/√fan_in, 1/√fan_in),
    and b ~ the same U(−1/√fan_in, 1/√fan_in)."""
    kaiming_uniform_(weight, a=math.sqrt(5))
    if bias is not None:
        bound = 1 / math.sqrt(_calculate_fan_in_and_fan_out(weight)[0])
        uniform_(bias, -bound, bound)
