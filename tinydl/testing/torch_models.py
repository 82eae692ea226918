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
