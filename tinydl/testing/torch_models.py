"""PyTorch twins of tinydl's zoo models, for cross-checks (tests) and side-by-side benchmarks.

Each function takes the ``torch`` module as its argument, so importing this file never imports
torch: the caller has it (the tests' ``torch`` fixture skips without it).
"""


def torch_unet(torch, in_channels, num_classes, base_width, depth, resample_to=None):
    """td.models.UNet written with torch.nn, attribute for attribute (the tests' and
    benchmarks/bench_segmentation.py's twin), with UNet's ``resample_to``: input resized bilinear to the working size, logits back."""
    nn, F = torch.nn, torch.nn.functional

    def block(c_in, c_out):
        return nn.Sequential(
            nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
            nn.Conv2d(c_out, c_out, 3, padding=1, bias=False),
            nn.BatchNorm2d(c_out),
            nn.ReLU(),
        )

    class TorchUNet(nn.Module):
        def __init__(self):
            super().__init__()
            w = [base_width * 2**i for i in range(depth + 1)]
            self.encoders = nn.ModuleList([block(a, b) for a, b in zip([in_channels] + w[:-2], w[:-1])])
            self.pool = nn.MaxPool2d(2)
            self.bottleneck = block(w[-2], w[-1])
            levels = range(depth - 1, -1, -1)
            self.ups = nn.ModuleList([nn.ConvTranspose2d(w[i + 1], w[i], 2, stride=2) for i in levels])
            self.decoders = nn.ModuleList([block(2 * w[i], w[i]) for i in levels])
            self.head = nn.Conv2d(w[0], num_classes, 1)

        def forward(self, x):
            size = tuple(x.shape[2:])
            resample = resample_to is not None and size != tuple(resample_to)
            if resample:
                x = F.interpolate(x, size=tuple(resample_to), mode="bilinear", align_corners=False)
            skips = []
            for encoder in self.encoders:
                x = encoder(x)
                skips.append(x)
                x = self.pool(x)
            x = self.bottleneck(x)
            for up, decoder, skip in zip(self.ups, self.decoders, reversed(skips)):
                x = decoder(torch.cat([up(x), skip], 1))
            logits = self.head(x)
            if resample:
                logits = F.interpolate(logits, size=size, mode="bilinear", align_corners=False)
            return logits

    return TorchUNet()


def torch_resnet(torch, in_channels, num_classes, blocks=(2, 2, 2, 2), widths=(64, 128, 256, 512), se=False):
    """td.models.ResNet written with torch.nn, named as torchvision's resnet18 with the small-image stem
    (3×3 stride-1 conv1, no max-pool): the tests' cross-check and benchmarks/medmnist_table.py's twin."""
    nn, F = torch.nn, torch.nn.functional

    class SE(nn.Module):
        def __init__(self, c):
            super().__init__()
            self.fc1, self.fc2 = nn.Conv2d(c, max(1, c // 4), 1), nn.Conv2d(max(1, c // 4), c, 1)

        def forward(self, x):
            return x * torch.sigmoid(self.fc2(F.relu(self.fc1(F.adaptive_avg_pool2d(x, 1)))))

    class Block(nn.Module):
        def __init__(self, c_in, c_out, stride):
            super().__init__()
            self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c_out)
            self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c_out)
            self.se = SE(c_out) if se else None
            self.downsample = None
            if stride != 1 or c_in != c_out:
                self.downsample = nn.Sequential(
                    nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out)
                )

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            if self.se is not None:
                out = self.se(out)
            return F.relu(out + (x if self.downsample is None else self.downsample(x)))

    class TorchResNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1 = nn.Conv2d(in_channels, widths[0], 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(widths[0])
            c_in = widths[0]
            for stage, (count, width) in enumerate(zip(blocks, widths), start=1):
                stride = 1 if stage == 1 else 2
                layer = [Block(c_in, width, stride)] + [Block(width, width, 1) for _ in range(count - 1)]
                setattr(self, f"layer{stage}", nn.Sequential(*layer))
                c_in = width
            self.fc = nn.Linear(c_in, num_classes)

        def forward(self, x):
            x = F.relu(self.bn1(self.conv1(x)))
            for stage in range(1, len(blocks) + 1):
                x = getattr(self, f"layer{stage}")(x)
            return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))

    return TorchResNet()
