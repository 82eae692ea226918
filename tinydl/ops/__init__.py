"""Every differentiable operation of tinydl, one family per file.

arithmetic   + − × ÷ ** @ and negation
linear       the fully connected layer x Wᵀ + b as one op
elementwise  exp, log, sqrt, abs, clip, where, maximum, minimum, astype, log2, log10, rsqrt, sin, cos,
             floor, ceil, round, sign, isnan, isinf, isfinite
reduction    sum, mean, max, min, var, std, logsumexp, prod, cumsum, any, all
shape        reshape, flatten, permute/transpose, indexing, concatenate, stack, squeeze, unsqueeze,
             unflatten, expand, flip, repeat, repeat_interleave, split, chunk, roll, tril, triu
selection    argmax, argmin, gather, masked_fill, sort, argsort, topk, nonzero
activation   relu, sigmoid, tanh, softmax, log_softmax, leaky_relu, elu, gelu, silu, softplus, hardtanh
conv         conv2d (dilation, groups, 'same'), conv_transpose2d, max/avg_pool2d (padding, ceil_mode), max_unpool2d
padding      pad (constant, reflect, replicate, circular; PyTorch's pad tuple)
resize       interpolate (nearest, bilinear, ...), adaptive_avg_pool1d/2d/3d: matrices along each axis
volume       conv3d, max_pool3d, avg_pool3d (NCDHW; loops in tinydl.kernels)
normalization batch_norm, layer_norm, group_norm, dropout
attention    scaled_dot_product_attention (from matmul, where, softmax)
loss         mse_loss, cross_entropy, nll_loss, binary_cross_entropy(_with_logits), dice_loss, one_hot

tensor_methods  the table that makes them Tensor operators and methods (a + b, x.sum())
"""

from . import tensor_methods
from .activation import (
    elu,
    gelu,
    hardtanh,
    leaky_relu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    softplus,
    tanh,
)
from .arithmetic import add, div, matmul, mul, neg, pow, sub
from .attention import scaled_dot_product_attention
from .conv import avg_pool2d, conv2d, conv2d_relu_maxpool2d, conv_transpose2d, max_pool2d, max_unpool2d
from .elementwise import (
    abs,
    astype,
    ceil,
    clamp,
    clip,
    cos,
    exp,
    floor,
    isfinite,
    isinf,
    isnan,
    log,
    log2,
    log10,
    maximum,
    minimum,
    round,
    rsqrt,
    sign,
    sin,
    sqrt,
    to_device,
    where,
)
from .linear import linear
from .loss import (
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    dice_loss,
    mse_loss,
    nll_loss,
    one_hot,
)
from .normalization import batch_norm, dropout, group_norm, layer_norm
from .padding import pad
from .reduction import all, any, cumsum, logsumexp, max, mean, min, prod, std, sum, var
from .resize import adaptive_avg_pool1d, adaptive_avg_pool2d, adaptive_avg_pool3d, interpolate
from .selection import argmax, argmin, argsort, gather, masked_fill, nonzero, sort, topk
from .shape import (
    cat,
    chunk,
    concatenate,
    expand,
    flatten,
    flip,
    getitem,
    permute,
    repeat,
    repeat_interleave,
    reshape,
    roll,
    split,
    squeeze,
    stack,
    transpose,
    tril,
    triu,
    unflatten,
    unsqueeze,
)
from .volume import avg_pool3d, conv3d, max_pool3d

tensor_methods.install()
