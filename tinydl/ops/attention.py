"""Attention: ``scaled_dot_product_attention``, built from the existing differentiable ops.

    Attention(Q, K, V) = softmax(Q Kᵀ · s + M) V,     s = 1/√E by default

Each of the L queries (rows of Q, shape (..., L, E)) scores every one of the S keys (rows of K,
(..., S, E)) by a dot product; the softmax along the S axis turns a row of scores into weights
that sum to 1, and the output row is that weighted average of the values (rows of V, (..., S, Ev)).
Dividing by √E keeps the scores' variance near 1 whatever the width E, so the softmax does not
saturate at initialisation. M masks: −∞ where a query may not look (a causal mask hides the future).

There is no new backward here: matmul, mul, where and softmax each bring their own, and the
chain rule through them is the attention gradient. That is the point of the exercise.
"""

import math
import numbers

import numpy as np

from ..backend import array_module
from ..tensor import Tensor, array_of, as_tensor
from .activation import softmax
from .arithmetic import add, matmul, mul
from .elementwise import where
from .shape import transpose


def _broadcasts_to(shape, target):
    try:
        return np.broadcast_shapes(tuple(shape), tuple(target)) == tuple(target)
    except ValueError:
        return False


def scaled_dot_product_attention(query, key, value, attn_mask=None, dropout_p=0.0, is_causal=False, scale=None):
    """softmax(Q Kᵀ·scale + mask) V for Q (..., L, E), K (..., S, E), V (..., S, Ev) → (..., L, Ev).

    As ``torch.nn.functional.scaled_dot_product_attention`` (the leading axes broadcast):

    - ``attn_mask``: a boolean array broadcastable to (..., L, S), True where a query may attend
      (the others get −∞ before the softmax), or a float array (or Tensor, which then gets its
      gradient) added to the scores.
    - ``is_causal=True``: query i sees keys j ≤ i only (the lower triangle); not with ``attn_mask``.
    - ``scale``: defaults to 1/√E.
    - A query row that may attend to nothing gives zeros (and passes no gradient), as PyTorch's
      "safe softmax" does, rather than the 0/0 = nan of a plain softmax.
    - ``dropout_p`` must be 0: no attention dropout here (apply ``dropout`` yourself if needed).

    Built from matmul, mul, add, where and softmax: their backward passes give the gradient.
    """
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    name = "scaled_dot_product_attention"
    for arg, t in (("query", q), ("key", k), ("value", v)):
        if t.ndim < 2:
            raise ValueError(f"{name}: {arg} must have at least 2 axes (..., length, features), got shape {t.shape}")
        if t.dtype.kind != "f":
            raise TypeError(f"{name}: {arg} must be floating-point, got dtype {t.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"{name}: query {q.shape} and key {k.shape} must have the same last axis E")
    if k.shape[-2] != v.shape[-2]:
        raise ValueError(f"{name}: key {k.shape} and value {v.shape} must have the same number S of rows (axis -2)")
    if dropout_p != 0:
        raise ValueError(f"{name}: dropout_p must be 0 (attention dropout is not implemented), got {dropout_p!r}")
    if is_causal and attn_mask is not None:
        raise ValueError(f"{name}: pass either attn_mask or is_causal=True, not both (as PyTorch)")
    if scale is None:
        scale = 1.0 / math.sqrt(q.shape[-1])
    elif isinstance(scale, bool) or not isinstance(scale, numbers.Real):
        raise TypeError(f"{name}: scale must be a number or None, got {scale!r}")
    length, source = q.shape[-2], k.shape[-2]
    xp = array_module(q.data)

    scores = mul(matmul(q, transpose(k, -2, -1)), float(scale))  # (..., L, S)
    if is_causal:
        attn_mask = xp.tril(xp.ones((length, source), dtype=bool))
    if attn_mask is not None:
        mask_data = xp.asarray(array_of(attn_mask))
        if not _broadcasts_to(mask_data.shape, scores.shape):
            raise ValueError(
                f"{name}: attn_mask of shape {tuple(mask_data.shape)} does not broadcast to the scores "
                f"(..., L, S) = {scores.shape}"
            )
        if mask_data.dtype == bool:
            scores = where(mask_data, scores, -math.inf)
        elif mask_data.dtype.kind == "f":
            mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor._from_array(mask_data.astype(q.dtype))
            scores = add(scores, mask)
        else:
            raise TypeError(f"{name}: attn_mask must be boolean or floating-point, got dtype {mask_data.dtype}")
    # Rows with every score −∞ (nothing to attend to): give them zeros instead of nan.
    dead = (scores.data == -xp.inf).all(axis=-1, keepdims=True)
    if bool(dead.any()):
        scores = where(dead, 0.0, scores)
        weights = mul(softmax(scores, axis=-1), Tensor._from_array((~dead).astype(q.dtype)))
    else:
        weights = softmax(scores, axis=-1)
    return matmul(weights, v)
