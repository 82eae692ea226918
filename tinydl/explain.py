"""Looking inside a trained CNN: which pixels did it use for its decision?

Two classic answers, both computed with tinydl's own autograd::

    import tinydl as td
    import tinydl.explain

    maps = td.explain.saliency(model, x)            # (N, H, W): |∂ score / ∂ pixel|
    maps, probs = td.explain.grad_cam(model, x, return_probs=True)   # (N, H, W) in [0, 1]
    td.explain.plot_explanations(x, maps, titles=["pneumonia 0.93", ...], path="cam.png")

* **Saliency** (Simonyan et al., 2013) asks: if I nudged this pixel, how
  much would the class score move? It is the gradient of the score with
  respect to the input image, one number per pixel. Sharp (full resolution)
  but *noisy*: neighbouring pixels can get very different values, and a big
  gradient says "sensitive here", not "this is what the network saw".
  :func:`smoothgrad` averages it over noisy copies of the image to calm it.
* **Grad-CAM** (Selvaraju et al., 2017) asks: which regions of the last
  convolutional feature maps pushed the score up? It weighs each feature map
  by how much the score cares about it and adds them up. Smoother and
  usually more readable than saliency, but *coarse*: it lives at the feature
  map's resolution (26×26 for SmallCNN's conv, 14×14 for ConvNet's second
  conv, 13×13 after a pool) and is stretched to the image size, so it points
  to a region, not to a pixel.
* **Segmentation Grad-CAM** (Vinogradova et al., 2020) does the same for a
  model that scores every pixel (a U-Net): the score explained is the sum of
  one class's logits over a region — the pixels predicted as that class, all
  of them, or a mask you give — :func:`segmentation_grad_cam`.

Neither map proves the model is right for the right reason. They show where
the score is sensitive, which is how you catch a model that reads a
hospital's text marker instead of the lungs — the classic chest X-ray pitfall.

matplotlib is imported only inside :func:`overlay` and
:func:`plot_explanations`, so ``import tinydl.explain`` stays light.
"""

import contextlib
import pathlib
from dataclasses import dataclass

import numpy as np

from .autograd import enable_grad
from .models import UNet
from .nn.conv import Conv2d
from .nn.module import Module
from .plots import as_display_image
from .tensor import Tensor, to_numpy

__all__ = [
    "Explanation",
    "explain",
    "saliency",
    "smoothgrad",
    "grad_cam",
    "SegmentationExplanation",
    "segmentation_grad_cam",
    "upsample_bilinear",
    "overlay",
    "plot_explanations",
]


@dataclass
class Explanation:
    """What :func:`explain` returns: the heat maps and what the model predicted.

    ``heatmaps``   (N, H, W) maps at the input's size (Grad-CAM: in [0, 1]; saliency: raw |gradient|),
    ``probs``      (N, K) predicted class probabilities (softmax of the logits; sigmoid for K = 1),
    ``predicted``  (N,) the predicted class of each image,
    ``target``     (N,) the class each map explains (the predicted one unless you chose),
    ``method``     "grad_cam", "saliency" or "smoothgrad",
    ``layer``      the module name Grad-CAM looked at (None for the gradient methods),
    ``cam``        Grad-CAM only: the (N, h, w) map at the layer's resolution, before upsampling
                   and normalising (None for the gradient methods).
    """

    heatmaps: np.ndarray
    probs: np.ndarray
    predicted: np.ndarray
    target: np.ndarray
    method: str
    layer: str = None
    cam: np.ndarray = None

    def titles(self, class_names=None):
        """One title per image, e.g. ``"pneumonia (p = 0.93)"``: the explained class and its probability.

        ``class_names`` maps a class index to a name (a list or dict); default: the index.
        When the explained class is not the predicted one, the prediction is added.
        """

        def name(k):
            if class_names is None:
                return f"class {k}"
            return str(class_names[k])

        out = []
        for i, (t, p) in enumerate(zip(self.target, self.predicted)):
            title = f"{name(int(t))} (p = {_class_prob(self.probs[i], int(t)):.2f})"
            if t != p:
                title += f", predicted {name(int(p))}"
            out.append(title)
        return out


def _class_prob(probs, k):
    return float(probs[k]) if probs.shape[0] > 1 else float(probs[0] if k == 1 else 1 - probs[0])


# --------------------------------------------------------------------------- model state
@contextlib.contextmanager
def _explaining(model):
    """Run the model as a fixed function of its input, and put everything back afterwards (even on error).

    Inside: evaluation mode (no dropout, BatchNorm uses its running statistics),
    the weights frozen (so explaining never adds to their ``.grad``), gradient
    recording on (even inside ``td.no_grad()``), and fused shortcuts such as
    SmallCNN's ``fused=True`` switched off (``model.unfused()``) so that every
    layer runs as its own module (same weights, same numbers) and hooks on it fire.
    """
    if not isinstance(model, Module):
        raise TypeError(f"expected a tinydl Module as the model, got {type(model).__name__}")
    modules = list(model.modules())
    training = [m.training for m in modules]
    params = list(model.parameters())
    flags = [p.requires_grad for p in params]
    try:
        model.eval()
        for p in params:
            p.requires_grad = False
        with model.unfused(), enable_grad():
            yield
    finally:
        for m, mode in zip(modules, training):
            m.training = mode
        for p, flag in zip(params, flags):
            p.requires_grad = flag


def _input_tensor(model, x):
    """``x`` as a fresh Tensor that requires grad, with the model's dtype and device; shape (N, C, H, W)."""
    data = x.numpy() if isinstance(x, Tensor) else x
    data = data if hasattr(data, "shape") and hasattr(data, "dtype") else np.asarray(data)
    if data.ndim != 4:
        hint = "; for one image add a batch axis: x[None]" if data.ndim == 3 else ""
        raise ValueError(f"expected x of shape (N, C, H, W), got shape {tuple(data.shape)}{hint}")
    if data.shape[0] == 0:
        raise ValueError(f"expected x of shape (N, C, H, W) with at least one image, got shape {tuple(data.shape)}")
    param = next(model.parameters(), None)
    dtype = param.dtype if param is not None and param.dtype.kind == "f" else np.float32
    device = param.device if param is not None else None
    return Tensor(data, dtype=dtype, device=device, requires_grad=True)


def _logits(model, x):
    logits = model(x)
    if not isinstance(logits, Tensor) or logits.ndim != 2 or logits.shape[0] != x.shape[0]:
        shape = getattr(logits, "shape", type(logits).__name__)
        hint = ""
        if isinstance(logits, Tensor) and logits.ndim == 4:
            hint = (
                "; this looks like a segmentation model (logits (N, K, H, W)): use segmentation_grad_cam "
                "or explain(model, x, method='segmentation_grad_cam', target=k)"
            )
        raise ValueError(f"expected the model to return class scores of shape (N, num_classes), got {shape}{hint}")
    return logits


def _probabilities(logits):
    z = logits.numpy().astype(np.float64)
    if z.shape[1] == 1:  # one logit: binary classifier with a sigmoid
        return 1 / (1 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _predicted(probs):
    if probs.shape[1] == 1:
        return (probs[:, 0] > 0.5).astype(np.int64)
    return probs.argmax(axis=1)


def _targets(target, predicted, num_classes):
    n = predicted.shape[0]
    if target is None:
        return predicted.copy()
    t = np.asarray(target)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(t == np.round(t))):
        raise TypeError(f"target must be a class index or an array of class indices, got {target!r}")
    t = np.broadcast_to(t.astype(np.int64), (n,)) if t.ndim == 0 else t.astype(np.int64).reshape(-1)
    if t.shape[0] != n:
        raise ValueError(f"target has {t.shape[0]} entries but x has {n} images")
    classes = max(num_classes, 2)
    if np.any(t < 0) or np.any(t >= classes):
        raise ValueError(f"target {t.tolist()} out of range: the model has {classes} classes (0..{classes - 1})")
    return t.copy()


def _score_gradient(logits, target):
    """dL/d logits for L = Σ_n score of image n's target class (its logit; −logit for class 0 of a 1-logit model).

    Images do not interact in evaluation mode, so one backward pass of this
    sum gives every image the gradient of its own score.
    """
    n, k = logits.shape
    grad = np.zeros((n, k), dtype=logits.dtype)
    if k == 1:
        grad[:, 0] = np.where(target == 1, 1.0, -1.0)
    else:
        grad[np.arange(n), target] = 1.0
    return grad


# --------------------------------------------------------------------------- gradient maps
def _input_gradient(model, x, target):
    """(gradient of the target scores w.r.t. x as a NumPy array, probs, predicted, target)."""
    x = _input_tensor(model, x)
    with _explaining(model):
        logits = _logits(model, x)
        probs = _probabilities(logits)
        predicted = _predicted(probs)
        target = _targets(target, predicted, logits.shape[1])
        logits.backward(_score_gradient(logits, target))
    return to_numpy(x.grad), probs, predicted, target


def saliency(model, x, target=None, return_probs=False):
    """Input-gradient saliency: how strongly each pixel moves the class score.

        map[n, i, j] = max over channels c of | ∂ y_t / ∂ x[n, c, i, j] |

    where y_t is the *logit* (score before softmax) of the target class t of
    image n (default: the predicted class; ``target`` may be one index for
    all images or one per image). ``x`` has shape (N, C, H, W); the result
    (N, H, W), raw gradient magnitudes (not normalised: :func:`overlay`
    scales them for display). The model runs in evaluation mode and is left
    as it was; its weights' ``.grad`` are not touched.

    Read it as "sensitivity", not "evidence": the map is noisy, and a large
    value says that a tiny change of that pixel would change the score a lot.
    With ``return_probs=True`` returns ``(maps, probs)``, probs (N, K).
    """
    grad, probs, _, _ = _input_gradient(model, x, target)
    maps = np.abs(grad).max(axis=1)
    return (maps, probs) if return_probs else maps


def smoothgrad(model, x, target=None, n=16, noise=0.1, seed=0, return_probs=False):
    """SmoothGrad (Smilkov et al., 2017): saliency averaged over ``n`` noisy copies of each image.

    Each copy adds Gaussian noise of standard deviation ``noise`` × (max − min
    of that image). The noise-driven flicker of plain :func:`saliency`
    averages out while what is consistently important stays. The class is
    fixed by the clean image (the prediction on it, unless ``target``), so
    noise cannot change which score is explained. Result (N, H, W), ≥ 0.
    """
    if not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"smoothgrad: n must be a positive integer, got {n!r}")
    data = _input_tensor(model, x).numpy()
    probs, target = _clean_prediction(model, data, target)
    rng = np.random.default_rng(seed)
    spread = (data.max(axis=(1, 2, 3), keepdims=True) - data.min(axis=(1, 2, 3), keepdims=True)) * noise
    total = np.zeros((data.shape[0], data.shape[2], data.shape[3]))
    for _ in range(n):
        noisy = data + rng.standard_normal(data.shape) * spread
        grad, _, _, _ = _input_gradient(model, noisy.astype(data.dtype), target)
        total += np.abs(grad).max(axis=1)
    maps = total / n
    return (maps, probs) if return_probs else maps


def _clean_prediction(model, data, target):
    """Probabilities and the explained class on the clean images."""
    x = _input_tensor(model, data)
    with _explaining(model):
        logits = _logits(model, x)
    probs = _probabilities(logits)
    return probs, _targets(target, _predicted(probs), logits.shape[1])


# --------------------------------------------------------------------------- Grad-CAM
def _conv_layer_names(model):
    return [name for name, m in model.named_modules() if isinstance(m, Conv2d)]


def _resolve_layer(model, layer):
    """(name, module) of the layer Grad-CAM looks at."""
    named = list(model.named_modules())
    convs = _conv_layer_names(model)
    if layer is None and getattr(model, "gradcam_layer", None):
        layer = model.gradcam_layer  # the model names its own (ResNet: the last stage's output)
    if layer is None:
        if not convs:
            raise ValueError(
                f"{type(model).__name__} has no Conv2d layer, so there is no default layer for Grad-CAM; "
                f"pass layer=<name of a module with a 4-D (N, C, h, w) output>"
            )
        # The rectified maps of the last conv block, as in the Grad-CAM paper: the first ReLU after
        # the last Conv2d (past any BatchNorm). Before BatchNorm, a map can be all negative and
        # come out of the final ReLU as zeros (measured: 8-68 % of ConvNet's maps).
        names = [n for n, _ in named]
        after = names[names.index(convs[-1]) + 1 :]
        modules = dict(named)
        relu = next((n for n in after if type(modules[n]).__name__ == "ReLU"), None)
        name = relu or convs[-1]
        return name, modules[name]
    if isinstance(layer, Module):
        for name, m in named:
            if m is layer:
                return name, m
        raise ValueError(f"the layer {layer!r} is not part of the model; conv layers: {convs}")
    if isinstance(layer, str):
        modules = dict(named)
        if layer in modules and layer != "":
            return layer, modules[layer]
        raise ValueError(
            f"the model has no layer named {layer!r}; conv layers: {convs} "
            f"(any name from model.named_modules() whose output is (N, C, h, w) works too)"
        )
    raise TypeError(f"layer must be a module name (str), a Module or None, got {type(layer).__name__}")


def grad_cam(model, x, layer=None, target=None, return_probs=False):
    """Grad-CAM heat maps, (N, H, W) at the input's size, each normalised to [0, 1].

    With A_k (k = 1..K) the feature maps a layer outputs for one image, and
    y_c the score (logit) of the class explained:

        α_k      = mean over positions (i, j) of ∂ y_c / ∂ A_k(i, j)     how much class c cares about map k
        map(i,j) = ReLU( Σ_k α_k A_k(i, j) )                               where those maps are active

    The ReLU keeps only what speaks *for* class c. The map is then upsampled
    to H × W (bilinear, :func:`upsample_bilinear`) and divided by its maximum
    (an all-zero map stays zero).

    ``layer``: a name from ``model.named_modules()`` (e.g. "features.0") or the
    Module itself; default the rectified output of the last conv block — the
    first ReLU after the **last Conv2d** ("features.1" in SmallCNN, "features.6"
    in ConvNet), as in the original paper — or that conv itself when no ReLU
    follows it. With a single conv layer (SmallCNN) the map is close to a
    filtered copy of the image: deeper models give more telling maps. ``target``: class
    index, or one per image; default the predicted class.

    Limits: the map has the layer's resolution (26×26 for SmallCNN's conv on
    28×28 images, 14×14 for ConvNet's last conv), so it shows a *region*;
    the upsampling smooths it further. It explains one class score, not the
    whole decision. With ``return_probs=True`` returns ``(maps, probs)``;
    :func:`explain` gives everything (prediction, target, raw map).
    """
    result = _grad_cam(model, x, layer, target)
    return (result.heatmaps, result.probs) if return_probs else result.heatmaps


def _grad_cam(model, x, layer, target):
    name, module = _resolve_layer(model, layer)
    x = _input_tensor(model, x)
    with _explaining(model):
        logits, activation = _forward_keeping_activation(model, x, name, module, _logits)
        probs = _probabilities(logits)
        predicted = _predicted(probs)
        target = _targets(target, predicted, logits.shape[1])
        logits.backward(_score_gradient(logits, target))
    cam = _class_activation_map(activation)
    heatmaps = _normalise(upsample_bilinear(cam, x.shape[2:]))
    return Explanation(heatmaps, probs, predicted, target, "grad_cam", layer=name, cam=cam)


def _forward_keeping_activation(model, x, name, module, forward):
    """(``forward(model, x)``, the output of ``module`` in that pass, set to keep its gradient).

    The layer must give feature maps (N, C, h, w) and run exactly once (a module called twice,
    e.g. one ReLU object reused, has no single activation to weigh).
    """
    seen = []

    def keep_activation(mod, inputs, output):
        if not isinstance(output, Tensor) or output.ndim != 4:
            shape = getattr(output, "shape", type(output).__name__)
            raise ValueError(
                f"Grad-CAM needs a layer whose output is feature maps of shape (N, C, h, w); "
                f"layer {name!r} ({type(mod).__name__}) gives {shape}. Conv layers: {_conv_layer_names(model)}"
            )
        seen.append(output.retain_grad())

    with module.register_forward_hook(keep_activation):
        out = forward(model, x)
    if len(seen) != 1:
        raise ValueError(
            f"layer {name!r} ran {len(seen)} times in the forward pass; Grad-CAM needs a layer that runs "
            f"exactly once. Conv layers: {_conv_layer_names(model)}"
        )
    return out, seen[0]


def _class_activation_map(activation):
    """ReLU(Σ_k α_k A_k) with α_k = mean over positions of ∂y/∂A_k: (N, h, w) float64, after backward."""
    A = to_numpy(activation).astype(np.float64)
    if activation.grad is None:  # the score does not depend on this layer at all
        dA = np.zeros_like(A)
    else:
        dA = to_numpy(activation.grad).astype(np.float64)
    alpha = dA.mean(axis=(2, 3))  # (N, K)
    return np.maximum(np.einsum("nk,nkhw->nhw", alpha, A), 0.0)  # (N, h, w)


def _normalise(maps):
    """Divide each (non-negative) map by its maximum; all-zero maps stay zero."""
    peak = maps.max(axis=(1, 2), keepdims=True)
    return np.divide(maps, peak, out=np.zeros_like(maps), where=peak > 0)


# --------------------------------------------------------------------------- Grad-CAM for segmentation
@dataclass
class SegmentationExplanation(Explanation):
    """What :func:`segmentation_grad_cam` explains, in full (``explain(..., method="segmentation_grad_cam")``).

    ``heatmaps``       (N, H, W) Grad-CAM maps at the input's size, each in [0, 1] (all zero for an empty region),
    ``probs``          (N, K, h, w) per-pixel class probabilities (softmax over K; sigmoid for one logit),
    ``predicted``      (N, h, w) the predicted label of every pixel (argmax; logit > 0 for one logit),
    ``target``         (N,) the class each map explains,
    ``method``         "segmentation_grad_cam",
    ``layer``, ``cam`` as in :class:`Explanation` (``cam`` (N, h', w') at the layer's resolution),
    ``region``         (N, h, w) bool: the pixels whose logits of the target class were summed,
    ``region_pixels``  (N,) how many there are; 0 means the region was empty and the map is all zero
                       (e.g. region "predicted" on an image where no pixel is given the class).

    (h, w) is the logits' size, the input's (H, W) for a U-Net.
    """

    region: np.ndarray = None
    region_pixels: np.ndarray = None

    @property
    def empty(self):
        """(N,) bool: the images whose region had no pixel (their maps are all zero)."""
        return self.region_pixels == 0

    def titles(self, class_names=None):
        """One title per image, e.g. ``"liver, 312 px (mean p = 0.93)"``, or ``"tumour: empty region"``.

        The mean probability is that of the explained class over the region's pixels.
        """
        out = []
        for i, t in enumerate(self.target):
            name = f"class {int(t)}" if class_names is None else str(class_names[int(t)])
            if self.region_pixels[i] == 0:
                out.append(f"{name}: empty region")
                continue
            p = _pixel_class_prob(self.probs[i], int(t))[self.region[i]].mean()
            out.append(f"{name}, {int(self.region_pixels[i])} px (mean p = {p:.2f})")
        return out


def _pixel_class_prob(probs, k):
    """(h, w) probability of class k from one image's (K, h, w) probabilities (K = 1: sigmoid of class 1)."""
    if probs.shape[0] > 1:
        return probs[k]
    return probs[0] if k == 1 else 1 - probs[0]


def _segmentation_logits(model, x):
    logits = model(x)
    if isinstance(logits, Tensor) and logits.ndim == 2 and logits.shape[0] == x.shape[0]:
        raise ValueError(
            f"segmentation_grad_cam explains per-pixel logits (N, K, H, W), but {type(model).__name__} returns "
            f"class scores of shape {tuple(logits.shape)}: a classifier; use grad_cam (explain(method='grad_cam'))"
        )
    if not isinstance(logits, Tensor) or logits.ndim != 4 or logits.shape[0] != x.shape[0]:
        shape = getattr(logits, "shape", type(logits).__name__)
        raise ValueError(f"expected the model to return per-pixel logits of shape (N, K, H, W), got {shape}")
    return logits


def _pixel_probabilities(logits):
    """(N, K, h, w) softmax over the class axis (sigmoid for one logit), float64."""
    z = logits.numpy().astype(np.float64)
    if z.shape[1] == 1:
        return 1 / (1 + np.exp(-z))
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _predicted_mask(probs):
    if probs.shape[1] == 1:
        return (probs[:, 0] > 0.5).astype(np.int64)
    return probs.argmax(axis=1)


def _segmentation_targets(target_class, predicted, num_classes):
    """(N,) int64 class per image. None: each image's largest predicted class other than 0 (background)."""
    n = predicted.shape[0]
    classes = max(num_classes, 2)  # one logit: classes 0 and 1, as for a binary classifier
    if target_class is None:
        counts = np.stack([(predicted == k).reshape(n, -1).sum(axis=1) for k in range(1, classes)], axis=1)
        return 1 + counts.argmax(axis=1)  # ties, and images with no foreground at all: the lowest class
    t = np.asarray(target_class)
    if t.dtype.kind not in "iu" and not (t.dtype.kind == "f" and np.all(t == np.round(t))):
        raise TypeError(f"target_class must be a class index or one index per image, got {target_class!r}")
    t = np.broadcast_to(t.astype(np.int64), (n,)) if t.ndim == 0 else t.astype(np.int64).reshape(-1)
    if t.shape[0] != n:
        raise ValueError(f"target_class has {t.shape[0]} entries but x has {n} images")
    if np.any(t < 0) or np.any(t >= classes):
        raise ValueError(f"target_class {t.tolist()} out of range: the model has {classes} classes (0..{classes - 1})")
    return t.copy()


def _region_mask(region, target, predicted):
    """(N, h, w) bool mask R_n from ``region`` (None/"predicted", "all", or a bool mask (N, h, w) or (h, w))."""
    shape = predicted.shape
    if region is None or (isinstance(region, str) and region == "predicted"):
        return predicted == target[:, None, None]
    if isinstance(region, str):
        if region == "all":
            return np.ones(shape, dtype=bool)
        raise ValueError(f"region must be 'predicted', 'all' or a boolean mask, got {region!r}")
    mask = to_numpy(region) if isinstance(region, Tensor) else np.asarray(region)
    if mask.dtype.kind in "iu" and np.all((mask == 0) | (mask == 1)):
        mask = mask.astype(bool)  # a 0/1 mask as stored in uint8 label files
    if mask.dtype != bool:
        raise TypeError(f"region must be a boolean mask (or 0/1 integers), got dtype {mask.dtype}")
    if mask.shape == shape[1:]:
        return np.broadcast_to(mask, shape).copy()
    if mask.shape != shape:
        raise ValueError(
            f"region has shape {mask.shape}; expected (N, h, w) = {shape} or (h, w) = {shape[1:]}, "
            f"the model's logits being {shape[1:]} per image"
        )
    return mask.copy()


def _region_score_gradient(logits, target, mask):
    """dL/d logits for L = Σ_n y_n, y_n = Σ_{(i,j) ∈ R_n} logit[n, t_n, i, j]: the mask in channel t_n, zero elsewhere.

    One logit (K = 1): class 1 is the logit, class 0 its negative (as for a binary classifier).
    """
    n, k = logits.shape[:2]
    grad = np.zeros(logits.shape, dtype=logits.dtype)
    if k == 1:
        grad[:, 0] = np.where(target == 1, 1.0, -1.0)[:, None, None] * mask
    else:
        grad[np.arange(n), target] = mask
    return grad


def _default_segmentation_layer(model):
    """Name of the layer :func:`segmentation_grad_cam` looks at by default.

    A model with a ``bottleneck`` (a U-Net): the bottleneck's last ReLU ("bottleneck.5" in
    ``td.models.UNet``), the most abstract maps, where the encoder has seen the most context.
    Otherwise :func:`_resolve_layer`'s choice (the ReLU after the last Conv2d); when that conv is a
    head that no ReLU follows (so the "maps" would be the logits themselves), the last ReLU before it.
    """
    named = list(model.named_modules())
    names = [n for n, _ in named]
    modules = dict(named)
    if isinstance(getattr(model, "bottleneck", None), Module):
        inside = [n for n in names if n.startswith("bottleneck.") and type(modules[n]).__name__ == "ReLU"]
        return inside[-1] if inside else "bottleneck"
    name, module = _resolve_layer(model, None)
    if isinstance(module, Conv2d):
        before = [n for n in names[: names.index(name)] if type(modules[n]).__name__ == "ReLU"]
        if before:
            return before[-1]
    return name


def segmentation_grad_cam(model, x, target_class, region=None, layer=None, return_logits=False):
    """Grad-CAM of a segmentation model for one class over a region (Vinogradova et al., 2020), (N, H, W) in [0, 1].

    The model gives logits (N, K, h, w), one score per class per pixel (``td.models.UNet``:
    (h, w) = (H, W)). The score explained for image n sums the target class's logits over a region R_n::

        y_n      = Σ_{(i,j) ∈ R_n} logit[n, t_n, i, j]
        α_k      = mean over positions of ∂ y_n / ∂ A_k          (A_k: the layer's feature maps)
        map      = ReLU( Σ_k α_k A_k )                            upsampled to H × W, divided by its peak

    as :func:`grad_cam` does for a classifier's one score. "Which features made the model call
    *these* pixels liver?" — the region picks which pixels' decision is explained.

    ``target_class`` t: a class index, or one per image (0..K−1; a one-logit model has classes 0 and 1);
    None: each image's largest predicted class other than 0 (background).
    ``region``: None or "predicted" (default: the pixels the model labels t — an image where there are
    none gets an all-zero map, recorded in :class:`SegmentationExplanation`'s ``region_pixels``, not an
    error), "all" (every pixel), or a boolean mask (N, h, w) or (h, w) (the same for every image; 0/1
    integers are accepted), e.g. the ground-truth organ or a lesion you want explained.
    ``layer``: a module name from ``model.named_modules()`` (or the Module) whose output is
    (N, C, h', w') and which runs once; default the bottleneck's last ReLU for a U-Net
    ("bottleneck.5"), see :func:`_default_segmentation_layer`. The map then has the bottleneck's
    resolution (H/2**depth): coarse, a region; a decoder layer (e.g. "decoders.1.5") gives finer maps.

    The model runs in evaluation mode and is left as it was (mode, ``requires_grad``, ``.grad``).
    Returns the heat maps (N, H, W), or ``(heatmaps, logits)`` with ``return_logits=True`` (logits a
    NumPy array (N, K, h, w)); ``explain(model, x, method="segmentation_grad_cam", target=t,
    region=...)`` gives everything (probabilities, predicted mask, region, raw map).
    """
    result, logits = _segmentation_grad_cam(model, x, target_class, region, layer)
    return (result.heatmaps, logits) if return_logits else result.heatmaps


def _segmentation_grad_cam(model, x, target_class, region, layer):
    """(SegmentationExplanation, logits as a NumPy array)."""
    if not isinstance(model, Module):
        raise TypeError(f"expected a tinydl Module as the model, got {type(model).__name__}")
    name, module = _resolve_layer(model, _default_segmentation_layer(model) if layer is None else layer)
    x = _input_tensor(model, x)
    with _explaining(model):
        logits, activation = _forward_keeping_activation(model, x, name, module, _segmentation_logits)
        probs = _pixel_probabilities(logits)
        predicted = _predicted_mask(probs)
        target = _segmentation_targets(target_class, predicted, logits.shape[1])
        mask = _region_mask(region, target, predicted)
        # Images do not interact in evaluation mode: one backward pass of Σ_n y_n gives each its own ∂y_n/∂A.
        logits.backward(_region_score_gradient(logits, target, mask))
    cam = _class_activation_map(activation)
    heatmaps = _normalise(upsample_bilinear(cam, x.shape[2:]))
    result = SegmentationExplanation(
        heatmaps,
        probs,
        predicted,
        target,
        "segmentation_grad_cam",
        layer=name,
        cam=cam,
        region=mask,
        region_pixels=mask.reshape(mask.shape[0], -1).sum(axis=1),
    )
    return result, logits.numpy()


def explain(model, x, method="grad_cam", target=None, layer=None, **options):
    """One call for the CLI and notebooks: an :class:`Explanation` (maps, probs, prediction, target).

    ``method``: "grad_cam" (``layer`` as in :func:`grad_cam`), "saliency" or
    "smoothgrad" (``options``: n, noise, seed), or "segmentation_grad_cam" (a
    :class:`SegmentationExplanation`; ``target`` is the class, ``options``: region, as in
    :func:`segmentation_grad_cam`). "grad_cam" on a ``td.models.UNet``, or with a ``region``
    option, is the segmentation one too; for classifiers nothing changes.
    """
    if method == "segmentation_grad_cam" or (method == "grad_cam" and _wants_segmentation(model, options)):
        unknown = sorted(set(options) - {"region", "target_class"})
        if unknown:
            raise TypeError(f"segmentation_grad_cam takes the option region, not {unknown}")
        if "target_class" in options:
            if target is not None:
                raise TypeError("give the class once: target= or target_class=, not both")
            target = options["target_class"]
        result, _ = _segmentation_grad_cam(model, x, target, options.get("region"), layer)
        return result
    if method == "grad_cam":
        if options:
            raise TypeError(f"grad_cam takes no options {sorted(options)}")
        return _grad_cam(model, x, layer, target)
    if layer is not None:
        raise ValueError(f"layer= is for Grad-CAM only, not for {method!r}")
    if method == "saliency":
        if options:
            raise TypeError(f"saliency takes no options {sorted(options)}")
        grad, probs, predicted, target = _input_gradient(model, x, target)
        return Explanation(np.abs(grad).max(axis=1), probs, predicted, target, "saliency")
    if method == "smoothgrad":
        maps, probs = smoothgrad(model, x, target=target, return_probs=True, **options)
        predicted = _predicted(probs)
        return Explanation(maps, probs, predicted, _targets(target, predicted, probs.shape[1]), "smoothgrad")
    raise ValueError(
        f"unknown method {method!r}; choose 'grad_cam', 'saliency', 'smoothgrad' or 'segmentation_grad_cam'"
    )


def _wants_segmentation(model, options):
    return "region" in options or "target_class" in options or isinstance(model, UNet)


# --------------------------------------------------------------------------- resizing
def _interpolation(n_in, n_out):
    """Source indices and weights for 1-D linear resizing, pixel centres aligned (PyTorch's align_corners=False).

    Output pixel o covers [o, o+1) in output units, so its centre o + ½ sits at
    (o + ½)·n_in/n_out in input units, i.e. at input coordinate s = that − ½;
    it takes (1 − w)·in[⌊s⌋] + w·in[⌊s⌋ + 1] with w = s − ⌊s⌋, clamped at the borders.
    """
    s = (np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5
    s = np.clip(s, 0, n_in - 1)
    lo = np.floor(s).astype(np.int64)
    hi = np.minimum(lo + 1, n_in - 1)
    return lo, hi, s - lo


def upsample_bilinear(maps, size):
    """Resize (…, h, w) maps to (…, H, W) = ``size`` by bilinear interpolation (NumPy only).

    Rows first, then columns: each is a 1-D linear interpolation between the
    two nearest source pixels (see :func:`_interpolation`); the same numbers as
    ``torch.nn.functional.interpolate(mode="bilinear", align_corners=False)``.
    """
    maps = np.asarray(maps, dtype=np.float64)
    if maps.ndim < 2:
        raise ValueError(f"upsample_bilinear expects maps of shape (..., h, w), got {maps.shape}")
    H, W = (int(size), int(size)) if np.isscalar(size) else (int(size[0]), int(size[1]))
    lo, hi, w = _interpolation(maps.shape[-2], H)
    rows = maps[..., lo, :] * (1 - w)[:, None] + maps[..., hi, :] * w[:, None]
    lo, hi, w = _interpolation(maps.shape[-1], W)
    return rows[..., lo] * (1 - w) + rows[..., hi] * w


# --------------------------------------------------------------------------- pictures
def _as_unit_heatmap(heatmap):
    h = np.asarray(heatmap, dtype=np.float64)
    if h.ndim != 2:
        raise ValueError(f"expected a heat map of shape (H, W), got {h.shape}")
    lo, hi = h.min(), h.max()
    if lo >= 0:  # Grad-CAM (already peak 1) or saliency (any positive scale): divide by the peak
        return h / hi if hi > 0 else h
    return (h - lo) / (hi - lo)


def overlay(image, heatmap, alpha=0.4, cmap="jet"):
    """Blend a heat map over an image: RGB floats in [0, 1], shape (H, W, 3).

    ``image``: (H, W), (H, W, 1|3) or (1|3, H, W), any range (rescaled to [0, 1]
    if outside it). ``heatmap``: (h, w); non-negative maps are divided by their
    peak, others min-max scaled; resized (bilinear) when not H × W.
    result = (1 − alpha)·image + alpha·cmap(heatmap). In "jet", red = high.
    """
    import matplotlib  # here, not at the top: matplotlib is slow to import

    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got {alpha}")
    img = as_display_image(image)
    rgb = np.repeat(img[..., None], 3, axis=-1) if img.ndim == 2 else img
    h = _as_unit_heatmap(heatmap)
    if h.shape != rgb.shape[:2]:
        h = np.clip(upsample_bilinear(h, rgb.shape[:2]), 0, 1)
    colours = matplotlib.colormaps[cmap](h)[..., :3]
    return np.clip((1 - alpha) * rgb + alpha * colours, 0.0, 1.0)


def plot_explanations(
    images,
    heatmaps,
    titles=None,
    path=None,
    alpha=0.4,
    cmap="jet",
    columns=None,
    heatmap_label="heat map",
    dpi=120,
    note=None,
):
    """A figure with, for each image, the original beside its heat-map overlay; saved when ``path`` is given.

    ``images`` (N, C, H, W), (N, H, W) or a list of images; ``heatmaps`` (N, H, W);
    ``titles`` one string per image (e.g. ``Explanation.titles(class_names)``);
    ``columns`` image pairs per row (default up to 4); ``note`` a line in red above
    them all (e.g. that the images are synthetic). The file format comes
    from the suffix of ``path`` (PNG by default); the file is written
    atomically (a temporary file beside it, then renamed), so a crash never
    leaves half a picture. Returns the matplotlib ``Figure`` (drawn on the Agg
    canvas, as :mod:`tinydl.viz` does: no window, no pyplot, works on a server).
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    images = list(images.numpy() if isinstance(images, Tensor) else images)
    heatmaps = list(heatmaps)
    if len(images) != len(heatmaps):
        raise ValueError(f"got {len(images)} images but {len(heatmaps)} heat maps")
    if titles is not None and len(titles) != len(images):
        raise ValueError(f"got {len(titles)} titles for {len(images)} images")
    n = len(images)
    if n == 0:
        raise ValueError("plot_explanations needs at least one image")
    columns = min(n, 4) if columns is None else max(1, min(int(columns), n))
    rows = -(-n // columns)

    figure = Figure(figsize=(2 * 2.1 * columns, 2.3 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, 2 * columns, squeeze=False)
    for ax in axes.flat:
        ax.set_axis_off()
    for i, (image, heatmap) in enumerate(zip(images, heatmaps)):
        r, c = divmod(i, columns)
        left, right = axes[r, 2 * c], axes[r, 2 * c + 1]
        img = as_display_image(image)
        left.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        right.imshow(overlay(img, heatmap, alpha=alpha, cmap=cmap))
        left.set_title(titles[i] if titles is not None else f"image {i}", fontsize=8)
        right.set_title(heatmap_label, fontsize=8)
    if note:
        figure.suptitle(note, color="red", fontsize=10)
    figure.tight_layout()

    if path is not None:
        from .files import write_atomically

        path = pathlib.Path(path)
        fmt = path.suffix.lower().lstrip(".") or "png"
        write_atomically(path, lambda f: figure.savefig(f, format=fmt, dpi=dpi))
    return figure
