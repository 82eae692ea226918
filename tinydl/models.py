"""A small model zoo for 28×28 medical images, and a U-Net for segmentation.

``SmallCNN`` is the source article's network, layer for layer; ``ConvNet`` is
a slightly stronger one (two conv blocks with BatchNorm and dropout) for the
medical-imaging job. Both take NCHW input and return class scores (logits):
the softmax lives in the loss (``cross_entropy``), where it is numerically stable.
``ResNet`` / ``ResNet18`` are residual networks (He et al. 2016) with the small-image stem of the
MedMNIST v2 benchmark (3×3 stride-1 first convolution, no max-pool), named as torchvision names them.
``UNet`` returns one score per class *per pixel*, (N, num_classes, H, W), for segmentation.
"""

import numpy as np

from . import nn
from .nn import functional as F
from .nn.conv import positive_int
from .ops.activation import log_softmax
from .ops.normalization import check_dropout_probability
from .ops.reduction import logsumexp
from .ops.shape import cat, flip, stack


class SmallCNN(nn.Module):
    """The article's CNN:  Conv 32@3×3 + ReLU → MaxPool 2×2 → Flatten → Dense 64 + ReLU → Dense.

    Shapes for a 28×28 image: (N, C, 28, 28) → conv (N, 32, 26, 26) → pool (N, 32, 13, 13)
    → flatten (N, 5408) → (N, 64) → (N, num_classes).

    With ``fused=True`` (the default) the conv → ReLU → max-pool block runs as
    one op, :func:`tinydl.nn.functional.conv2d_relu_maxpool2d`: same numbers,
    same weights (``features.0.weight``), about half the time on a CPU.
    ``with model.unfused():`` runs the three layers one by one (so hooks on them fire).
    """

    fusable_flags = ("fused",)  # what Module.unfused() switches off

    def __init__(self, in_channels=1, num_classes=2, image_size=28, channels=32, hidden=64, fused=True):
        super().__init__()
        side = (image_size - 2) // 2
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, channels, 3),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Linear(channels * side * side, hidden),
            nn.ReLU(),
            nn.Linear(hidden, num_classes),
        )
        self.fused = fused
        self.config = dict(
            in_channels=in_channels, num_classes=num_classes, image_size=image_size, channels=channels, hidden=hidden
        )

    def forward(self, x):
        if self.fused:
            conv, _, pool = self.features
            x = F.conv2d_relu_maxpool2d(x, conv.weight, conv.bias, pool_size=pool.kernel_size)
        else:
            x = self.features(x)  # Conv2d → ReLU → MaxPool2d, one op at a time
        return self.classifier(x)


class ConvNet(nn.Module):
    """Two conv blocks with BatchNorm, then dropout and a linear classifier.

    block(c_in → c_out) = Conv 3×3 (padding 1, no bias: BatchNorm's β replaces it) → BatchNorm → ReLU → MaxPool 2×2.
    28×28 → 14×14 → 7×7; then Flatten → Dropout(p) → Dense 128 + ReLU → Dropout(p) → Dense.
    """

    def __init__(self, in_channels=1, num_classes=2, image_size=28, channels=(32, 64), hidden=128, dropout=0.3):
        super().__init__()
        check_dropout_probability(dropout, "ConvNet(dropout)")  # before any layer is built
        c1, c2 = channels
        side = image_size // 4

        def block(c_in, c_out):
            return [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(), nn.MaxPool2d(2)]

        self.features = nn.Sequential(*block(in_channels, c1), *block(c1, c2))
        self.classifier = nn.Sequential(
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(c2 * side * side, hidden),
            nn.ReLU(),
            nn.Dropout(dropout),
            nn.Linear(hidden, num_classes),
        )
        self.config = dict(
            in_channels=in_channels,
            num_classes=num_classes,
            image_size=image_size,
            channels=list(channels),
            hidden=hidden,
            dropout=dropout,
        )

    def forward(self, x):
        return self.classifier(self.features(x))


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation (Hu et al. 2018): reweight each channel by what the whole image says about it.

        s = mean over H, W of x                    (N, C, 1, 1)   the "squeeze"
        g = sigmoid(fc2(ReLU(fc1(s))))             (N, C, 1, 1)   fc1: C → C/r, fc2: C/r → C (1×1 convolutions)
        y = x · g                                  a gate in (0, 1) per channel, the "excitation"

    Names as torchvision's ``SqueezeExcitation`` (``fc1``, ``fc2``).
    """

    def __init__(self, channels, reduction=4):
        super().__init__()
        squeezed = max(1, channels // reduction)
        self.fc1 = nn.Conv2d(channels, squeezed, 1)
        self.fc2 = nn.Conv2d(squeezed, channels, 1)

    def forward(self, x):
        s = F.adaptive_avg_pool2d(x, 1)
        return x * F.sigmoid(self.fc2(F.relu(self.fc1(s))))


class BasicBlock(nn.Module):
    """ResNet's basic block:  y = ReLU( BN(conv3×3(ReLU(BN(conv3×3_stride(x))))) + shortcut(x) ).

    The shortcut is x itself when the shape is kept, else ``downsample`` = 1×1 convolution with the
    block's stride → BatchNorm, so that the two terms can be added. Learning the *residual* y − x
    instead of y is what lets deep networks train: the gradient reaches early layers through the
    "+ x" unchanged. Optional ``se``: squeeze-and-excitation on the residual branch before the sum.
    Attribute names are torchvision's (``conv1``, ``bn1``, ``conv2``, ``bn2``, ``downsample.0/1``).
    """

    def __init__(self, c_in, c_out, stride=1, se=False):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.se = SqueezeExcitation(c_out) if se else None
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.se is not None:
            out = self.se(out)
        shortcut = x if self.downsample is None else self.downsample(x)
        return F.relu(out + shortcut)


def _positive_ints(where, name, values, length=None):
    values = list(values) if isinstance(values, (list, tuple)) else [values]
    if not values or (length is not None and len(values) != length):
        wanted = f"{length} whole numbers" if length is not None else "a non-empty list of whole numbers"
        raise ValueError(f"{where}: {name} must be {wanted}, got {values!r}")
    return [positive_int(where, name, v) for v in values]


class ResNet(nn.Module):
    """A residual network for small images, the MedMNIST v2 benchmark's layout, any depth and width.

    For ``blocks=(2, 2, 2, 2)`` and ``widths=(64, 128, 256, 512)`` (that is :class:`ResNet18`), 28×28 input::

        conv1  3×3 stride 1, C → 64, BatchNorm bn1, ReLU     (N, 64, 28, 28)   no max-pool: 28×28 is small
        layer1 2 × BasicBlock 64 → 64                        (N, 64, 28, 28)
        layer2 2 × BasicBlock 64 → 128, first stride 2       (N, 128, 14, 14)
        layer3 2 × BasicBlock 128 → 256, first stride 2      (N, 256, 7, 7)
        layer4 2 × BasicBlock 256 → 512, first stride 2      (N, 512, 4, 4)
        avgpool global average                               (N, 512)
        fc     Linear 512 → num_classes                      (N, num_classes)  logits

    ``blocks[i]`` basic blocks at width ``widths[i]``; every stage after the first halves H and W.
    ``se=True`` adds squeeze-and-excitation to every block; ``dropout`` > 0 drops features before ``fc``.
    State-dict names are torchvision's ``resnet18`` names (``conv1.weight``, ``layer2.0.downsample.0.weight``,
    ``fc.bias``, …), so weights of a torchvision ResNet built with this stem load unchanged.
    """

    def __init__(
        self,
        in_channels=1,
        num_classes=2,
        blocks=(1, 1, 1),
        widths=(16, 32, 64),
        se=False,
        dropout=0.0,
        image_size=None,
    ):
        super().__init__()
        in_channels = positive_int("ResNet", "in_channels", in_channels)
        num_classes = positive_int("ResNet", "num_classes", num_classes)
        blocks = _positive_ints("ResNet", "blocks", blocks)
        widths = _positive_ints("ResNet", "widths", widths, length=len(blocks))
        check_dropout_probability(dropout, "ResNet(dropout)")
        self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(widths[0])
        c_in = widths[0]
        for stage, (count, width) in enumerate(zip(blocks, widths), start=1):
            stride = 1 if stage == 1 else 2
            layer = [BasicBlock(c_in, width, stride, se)] + [BasicBlock(width, width, 1, se) for _ in range(count - 1)]
            setattr(self, f"layer{stage}", nn.Sequential(*layer))
            c_in = width
        self.num_stages = len(blocks)
        # Grad-CAM's default layer: the last stage's output (after its residual sum and ReLU), not the
        # last Conv2d, which may be a 1×1 shortcut.
        self.gradcam_layer = f"layer{self.num_stages}"
        self.dropout = nn.Dropout(dropout) if dropout > 0 else None
        self.fc = nn.Linear(c_in, num_classes)
        # image_size is accepted (and ignored: the global pooling takes any size) so that every zoo
        # classifier is built with the same arguments.
        self.config = dict(
            in_channels=in_channels, num_classes=num_classes, blocks=blocks, widths=widths, se=bool(se), dropout=dropout
        )

    def features(self, x):
        """The last stage's feature maps (N, widths[-1], h, w): what Grad-CAM explains."""
        x = F.relu(self.bn1(self.conv1(x)))
        for stage in range(1, self.num_stages + 1):
            x = getattr(self, f"layer{stage}")(x)
        return x

    def forward(self, x):
        x = F.adaptive_avg_pool2d(self.features(x), 1).reshape(x.shape[0], -1)
        if self.dropout is not None:
            x = self.dropout(x)
        return self.fc(x)


class ResNet18(ResNet):
    """ResNet-18 as the MedMNIST v2 paper trains it on 28×28 images: :class:`ResNet` with blocks (2, 2, 2, 2),
    widths (64, 128, 256, 512), 11.2 M parameters (one input channel, two classes)."""

    def __init__(self, in_channels=1, num_classes=2, image_size=None):
        super().__init__(in_channels, num_classes, blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512))
        self.config = dict(in_channels=self.config["in_channels"], num_classes=self.config["num_classes"])


def conv_block(c_in, c_out):
    """Two × (Conv 3×3, padding 1, no bias → BatchNorm → ReLU): c_in → c_out channels, same height and width.

    Children ``0``…``5`` (``0.weight``, ``1.running_mean``, ``3.weight``, …), as ``torch.nn.Sequential`` names them.
    """
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),  # no bias: BatchNorm's β replaces it
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
        nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
        nn.BatchNorm2d(c_out),
        nn.ReLU(),
    )


class UNet(nn.Module):
    """U-Net (Ronneberger et al. 2015) for segmentation: logits (N, num_classes, H, W), one score per class per pixel.

    With b = ``base_width`` and the default ``depth=3``, for an input (N, C, H, W)::

        encoders[0]  conv_block C → b      (N, b,  H,   W  ) ──────────────── skip ─────────┐
           pool                            (N, b,  H/2, W/2)                                │
        encoders[1]  conv_block b → 2b     (N, 2b, H/2, W/2) ──────── skip ────────┐        │
           pool                            (N, 2b, H/4, W/4)                       │        │
        encoders[2]  conv_block 2b → 4b    (N, 4b, H/4, W/4) ── skip ──┐           │        │
           pool                            (N, 4b, H/8, W/8)           │           │        │
        bottleneck   conv_block 4b → 8b    (N, 8b, H/8, W/8)           │           │        │
        ups[0]       ConvTranspose 2×2/2   (N, 4b, H/4, W/4)  cat ─────┘ → 8b      │        │
        decoders[0]  conv_block 8b → 4b    (N, 4b, H/4, W/4)                       │        │
        ups[1]       ConvTranspose 2×2/2   (N, 2b, H/2, W/2)  cat ─────────────────┘ → 4b   │
        decoders[1]  conv_block 4b → 2b    (N, 2b, H/2, W/2)                                │
        ups[2]       ConvTranspose 2×2/2   (N, b,  H,   W  )  cat ──────────────────────────┘ → 2b
        decoders[2]  conv_block 2b → b     (N, b,  H,   W  )
        head         Conv 1×1 b → K        (N, K,  H,   W  )      K = num_classes

    ``conv_block`` is two × (Conv 3×3 padding 1 → BatchNorm → ReLU), so it keeps H and W; each of the
    ``depth`` max-pools halves them and each transposed convolution doubles them, so H and W must be
    divisible by 2**depth (a ValueError says so otherwise). The skip connections hand the decoder the
    encoder's fine detail, which the pooling threw away. The attribute names are those of the same
    network written with ``torch.nn`` (``encoders.0.0.weight``, ``ups.0.weight``, ``head.bias``, …),
    so a PyTorch state_dict loads unchanged. The softmax lives in the loss (cross-entropy, Dice).
    In training mode BatchNorm needs more than one value per channel, as in PyTorch: with a batch of one image,
    H and W must exceed 2**depth (the bottleneck is (H/2**depth) × (W/2**depth)).

    ``resample_to`` (an int or (h, w), each divisible by 2**depth; default None): the network computes at
    that size whatever the input's. The input is resized to it (bilinear) and the logits back to the
    input's H × W (bilinear), both inside the forward pass, so the loss, the metrics and the predicted
    mask are at the image's own resolution while the convolutions run on fewer pixels (a 128×128 CT
    slice at 64×64 costs about a third of the time; fine borders are what is lost). Any H × W is then
    accepted: a 217×181 MRI slice needs no padding. ``interpolate`` is differentiable, so training
    sees the resizing as two more linear layers.
    """

    def __init__(self, in_channels=1, num_classes=2, base_width=16, depth=3, resample_to=None):
        super().__init__()
        in_channels = positive_int("UNet", "in_channels", in_channels)
        num_classes = positive_int("UNet", "num_classes", num_classes)
        base_width = positive_int("UNet", "base_width", base_width)
        depth = positive_int("UNet", "depth", depth)
        widths = [base_width * 2**level for level in range(depth + 1)]  # b, 2b, 4b, …, the bottleneck's last
        self.depth = depth
        self.encoders = nn.ModuleList(
            [conv_block(c_in, c_out) for c_in, c_out in zip([in_channels] + widths[:-2], widths[:-1])]
        )
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = conv_block(widths[-2], widths[-1])
        levels = range(depth - 1, -1, -1)  # deepest first
        self.ups = nn.ModuleList([nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in levels])
        self.decoders = nn.ModuleList([conv_block(2 * widths[i], widths[i]) for i in levels])
        self.head = nn.Conv2d(widths[0], num_classes, 1)
        self.resample_to = self._check_resample_size(resample_to)
        self.config = dict(in_channels=in_channels, num_classes=num_classes, base_width=base_width, depth=depth)
        if self.resample_to is not None:  # saved with the model, so a loaded one computes at the same size
            self.config["resample_to"] = list(self.resample_to)

    def _check_resample_size(self, size):
        if size is None:
            return None
        sizes = (size, size) if isinstance(size, (int, np.integer)) and not isinstance(size, bool) else tuple(size)
        factor = 2**self.depth
        if len(sizes) != 2 or any(isinstance(s, bool) or not isinstance(s, (int, np.integer)) for s in sizes):
            raise ValueError(f"UNet: resample_to must be an int or (height, width), got {size!r}")
        if any(s < factor or s % factor for s in sizes):
            raise ValueError(
                f"UNet(depth={self.depth}): resample_to sides must be positive multiples of 2**depth = {factor}, "
                f"got {size!r}"
            )
        return tuple(int(s) for s in sizes)

    def check_input(self, x):
        """ValueError unless ``x`` is (N, in_channels, H, W) with H and W divisible by 2**depth
        (any H and W with ``resample_to``)."""
        shape = tuple(x.shape)
        factor = 2**self.depth
        if len(shape) != 4 or shape[1] != self.config["in_channels"]:
            raise ValueError(f"UNet expects input of shape (N, {self.config['in_channels']}, H, W), got {shape}")
        if self.resample_to is None and (shape[2] % factor or shape[3] % factor):
            raise ValueError(
                f"UNet(depth={self.depth}): height and width must be divisible by 2**depth = {factor}, "
                f"got input of shape {shape}; crop or pad the image (e.g. F.pad) to a multiple of {factor}, "
                "or give the UNet resample_to"
            )

    def forward(self, x):
        self.check_input(x)
        size = tuple(x.shape[2:])
        resample = self.resample_to is not None and size != self.resample_to
        if resample:
            x = F.interpolate(x, size=self.resample_to, mode="bilinear", align_corners=False)
        skips = []
        for encoder in self.encoders:
            x = encoder(x)
            skips.append(x)  # kept for the way back up
            x = self.pool(x)
        x = self.bottleneck(x)
        for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
            x = decoder(cat([up(x), skip], axis=1))  # up doubles H and W; the skip joins on the channel axis
        logits = self.head(x)
        if resample:  # back to the image's own pixels: the mask is predicted at the input's resolution
            logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
        return logits


MODELS = {"small_cnn": SmallCNN, "convnet": ConvNet, "resnet": ResNet, "resnet18": ResNet18, "unet": UNet}


VIEWS = ("identity", "hflip", "vflip")  # the test-time views an ensemble can average over


class SoftVotingEnsemble(nn.Module):
    """Several trained classifiers and test-time views as one model: the average of their probabilities.

    With M members f_1 … f_M and V views t_1 … t_V of the image (the image itself, its left-right
    mirror, …: test-time augmentation), the ensemble's probability is

        p̄(x) = 1/(M·V) · Σ_m Σ_v softmax(f_m(t_v(x)))                 (soft voting)

    and its forward pass returns *logits whose softmax is p̄*: z = log p̄, computed as
    logsumexp over the M·V log-softmax vectors minus log(M·V) (no underflow). So everything that
    takes a classifier's logits — predict_proba, evaluate, Grad-CAM, saving and loading — takes an
    ensemble unchanged. For multi-label models (``multi_label=True``) each finding's sigmoid is
    averaged and z = log p̄ − log(1 − p̄), whose sigmoid is p̄.

    Members differ only in their seed: their mistakes are partly independent, so the average is
    better calibrated and usually more accurate than one of them. The members share one
    architecture, ``member`` (a zoo name) built with ``member_config``; the state dict names them
    ``members.0.…``, ``members.1.…``. Build one from trained models with :meth:`from_models`.
    """

    def __init__(self, member, member_config, count, views=("identity",), multi_label=False):
        super().__init__()
        if member not in MODELS or member == "ensemble":
            raise ValueError(f"SoftVotingEnsemble: member must be a zoo classifier name, got {member!r}")
        count = positive_int("SoftVotingEnsemble", "count", count)
        views = [views] if isinstance(views, str) else list(views)
        unknown = [v for v in views if v not in VIEWS]
        if not views or unknown:
            raise ValueError(f"SoftVotingEnsemble: views must be a non-empty list of {VIEWS}, got {views!r}")
        self.members = nn.ModuleList([create(member, **member_config) for _ in range(count)])
        self.views, self.multi_label = views, bool(multi_label)
        self.config = dict(
            member=member, member_config=dict(member_config), count=count, views=views, multi_label=self.multi_label
        )

    @classmethod
    def from_models(cls, models, views=("identity",), multi_label=False):
        """An ensemble holding (copies of the weights of) trained zoo ``models`` of one architecture."""
        models = list(models)
        if not models:
            raise ValueError("SoftVotingEnsemble.from_models needs at least one model")
        names = {name for model in models for name, c in MODELS.items() if c is type(model)}
        configs = [getattr(model, "config", None) for model in models]
        if len(names) != 1 or any(c != configs[0] for c in configs):
            raise ValueError(
                "SoftVotingEnsemble.from_models: the models must be zoo models of one architecture and config"
            )
        ensemble = cls(names.pop(), configs[0], len(models), views, multi_label)
        for target, source in zip(ensemble.members, models):
            target.load_state_dict(source.state_dict())
        first = next(models[0].parameters(), None)  # members trained in float64 stay float64
        return ensemble if first is None else ensemble.to(first.dtype)

    @property
    def gradcam_layer(self):
        """Grad-CAM's default layer: the first member's (an ensemble's average has no feature maps of its own)."""
        inner = getattr(self.members[0], "gradcam_layer", None)
        return f"members.0.{inner}" if inner else None

    def _view(self, x, view):
        if view == "hflip":
            return flip(x, -1)  # left ↔ right
        if view == "vflip":
            return flip(x, -2)  # top ↔ bottom
        return x

    def forward(self, x):
        logits = [member(self._view(x, view)) for member in self.members for view in self.views]
        log_count = float(np.log(len(logits)))
        if self.multi_label:
            # log σ(z) = −softplus(−z), log(1 − σ(z)) = −softplus(z); average the probabilities, not the logits.
            log_p = logsumexp(stack([-F.softplus(-z) for z in logits]), axis=0) - log_count
            log_not_p = logsumexp(stack([-F.softplus(z) for z in logits]), axis=0) - log_count
            return log_p - log_not_p
        return logsumexp(stack([log_softmax(z, axis=1) for z in logits]), axis=0) - log_count


MODELS["ensemble"] = SoftVotingEnsemble


def create(name, **kwargs):
    """Build a zoo model by name: ``td.models.create("small_cnn", in_channels=1, num_classes=2)``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)
