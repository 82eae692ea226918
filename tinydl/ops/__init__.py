"""Every differentiable operation of tinydl, one family per file.

arithmetic   + − × ÷ ** @ and negation
linear       the fully connected layer x Wᵀ + b as one op
elementwise  exp, log, sqrt, abs, clip, where, maximum, minimum, astype
reduction    sum, mean, max, min
shape        reshape, flatten, permute/transpose, indexing, concatenate, stack
activation   relu, sigmoid, tanh, softmax, log_softmax
conv         conv2d, max_pool2d, avg_pool2d (loops in tinydl.kernels)
normalization batch_norm, dropout
loss         mse_loss, cross_entropy, binary_cross_entropy_with_logits

tensor_methods  the table that makes them Tensor operators and methods (a + b, x.sum())
"""

from . import tensor_methods
from .activation import log_softmax, relu, sigmoid, softmax, tanh
from .arithmetic import add, div, matmul, mul, neg, pow, sub
from .conv import avg_pool2d, conv2d, conv2d_relu_maxpool2d, max_pool2d
from .elementwise import abs, astype, clamp, clip, exp, log, maximum, minimum, sqrt, to_device, where
from .linear import linear
from .loss import binary_cross_entropy_with_logits, cross_entropy, mse_loss
from .normalization import batch_norm, dropout
from .reduction import max, mean, min, sum
from .shape import cat, concatenate, flatten, getitem, permute, reshape, stack, transpose

tensor_methods.install()
