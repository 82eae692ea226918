"""A small model zoo for 28×28 medical images.

``SmallCNN`` is the source article's network, layer for layer; ``ConvNet`` is
a slightly stronger one (two conv blocks with BatchNorm and dropout) for the
medical-imaging job. Both take NCHW input and return class scores (logits):
the softmax lives in the loss (``cross_entropy``), where it is numerically stable.
"""

from . import nn
from .nn import functional as F
from .ops.normalization import check_dropout_probability


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


MODELS = {"small_cnn": SmallCNN, "convnet": ConvNet}


def create(name, **kwargs):
    """Build a zoo model by name: ``td.models.create("small_cnn", in_channels=1, num_classes=2)``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)}")
    return MODELS[name](**kwargs)
