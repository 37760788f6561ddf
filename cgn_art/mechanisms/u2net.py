"""U^2-Net (Qin et al., 2020, "U^2-Net: Going Deeper with Nested U-Structure for Salient Object
Detection") as the ImageNet CGN uses it for its shape mechanism.

The CGN feeds the shape mechanism's BigGAN output (a "pre-mask", an image in [-1, 1]) through a
frozen U^2-Net to get the mask, and uses the same network for the background loss (a background
should hold no salient object). Attribute names follow the released ``u2net.pth`` (stage1 ...
stage6, stage5d ... stage1d, side1 ... side6, outconv; inside each block rebnconvin, rebnconv1 ...,
rebnconv1d; each of those conv_s1 + bn_s1), so that file loads with ``load_state_dict`` as is.

What the forward pass must match, checked line by line against the CGN authors' code
(autonomousvision/counterfactual_generative_networks, imagenet/models/u2net.py and cgn.py):

- **Upsampling** is bilinear with ``align_corners=True``, everywhere: decoder inputs resized to the
  skip connection's size inside every RSU block and between stages, and side outputs resized to
  side1's size. Earlier versions of cgn-art used ``align_corners=False``; with the same weights the
  masks then differed by more than the mask's own range (``tests/test_imagenet_forward.py`` pins it).
  Where the sizes already agree (the bottom of every block) there is no resize, as in theirs
  (bilinear with ``align_corners=True`` to the same size is the identity anyway).
- **Pooling**: 2x2 max pooling, stride 2, ``ceil_mode=True`` (odd sizes round up, so 40 px -> 20 ->
  10 -> 5 -> 3 -> 2 and the decoder resizes back to the skip's exact size).
- **Dilations**: every conv is 3x3 with padding = dilation. RSU-L blocks (L = 7, 6, 5, 4 for stages
  1-4 and 1d-4d) use dilation 1 except the bottom conv (dilation 2, no pooling before it); the flat
  RSU-4F blocks (stages 5, 6, 5d) use 1, 2, 4, 8 going down and 4, 2, 1 coming back, no pooling.
  The decoder concatenates (upsampled, skip) in that order, and every block adds its input
  projection (``rebnconvin``) to its output.
- **Side outputs**: side1 ... side5 read the decoder stages 1d ... 5d, side6 reads stage 6 (the
  bottom encoder stage) directly; side2 ... side6 are resized to side1's size; ``outconv`` (1x1)
  fuses the six. **The mask is the fused output** d0 passed through one **sigmoid**; the six side
  outputs (which U^2-Net's own training supervises) are not returned.
- **Input**: the pre-mask goes in exactly as BigGAN draws it, in [-1, 1]: no ImageNet mean/std
  normalisation and no rescaling to [0, 1] (U^2-Net's own demo normalises; the CGN does not).
- **Clamp**: the CGN clamps the mask to [1e-4, 1 - 1e-4] (``ImageNetCGN``, not here); the
  background mask of the background loss is not clamped.
- Batch norms run in eval mode (the CGN keeps U^2-Net frozen in eval mode, even while training).

``divisor`` shrinks every channel count (1 is the released network): tests build a small U^2-Net
with the same structure and parameter names.
"""
from __future__ import annotations

from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from cgn_art.errors import CgnArtError

# Where the CGN authors' scripts/download_weights.sh fetches it from (U^2-Net's own release).
U2NET_URL = "https://drive.google.com/uc?id=1VkKexkWh5SeB8fgxAZxLKgmmvDXhVYUy"

# (in, mid, out) channels of the released network; the paper's Table/Fig. 2 layout.
ENCODER = {"stage1": (7, 3, 32, 64), "stage2": (6, 64, 32, 128), "stage3": (5, 128, 64, 256),
           "stage4": (4, 256, 128, 512), "stage5": ("4F", 512, 256, 512), "stage6": ("4F", 512, 256, 512)}
DECODER = {"stage5d": ("4F", 1024, 256, 512), "stage4d": (4, 1024, 128, 256), "stage3d": (5, 512, 64, 128),
           "stage2d": (6, 256, 32, 64), "stage1d": (7, 128, 16, 64)}
SIDES = {"side1": 64, "side2": 64, "side3": 128, "side4": 256, "side5": 512, "side6": 512}


class REBNCONV(nn.Module):
    """3x3 (dilated) convolution -> batch norm -> ReLU, the building block of every RSU."""

    def __init__(self, cin: int, cout: int, dilation: int = 1):
        super().__init__()
        self.conv_s1 = nn.Conv2d(cin, cout, 3, padding=dilation, dilation=dilation)
        self.bn_s1 = nn.BatchNorm2d(cout)
        self.relu_s1 = nn.ReLU(inplace=True)

    def forward(self, x):
        return self.relu_s1(self.bn_s1(self.conv_s1(x)))


# The CGN authors' U^2-Net resizes with align_corners=True (see the module docstring).
ALIGN_CORNERS = True


def upsample_like(x: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """Bilinear resize of ``x`` to ``like``'s height and width, corners aligned (as the released model)."""
    if x.shape[-2:] == like.shape[-2:]:
        return x
    return F.interpolate(x, size=like.shape[-2:], mode="bilinear", align_corners=ALIGN_CORNERS)


class RSU(nn.Module):
    """Residual U-block of height L: a small U-Net whose output is added to its input's projection.

    The encoder pools between levels; the bottom level uses dilation 2 instead of another pool;
    the decoder upsamples and concatenates the skip (so its convs take 2 * mid channels).
    """

    def __init__(self, height: int, cin: int, mid: int, cout: int):
        super().__init__()
        self.height = height
        self.rebnconvin = REBNCONV(cin, cout)
        self.rebnconv1 = REBNCONV(cout, mid)
        for level in range(2, height):
            setattr(self, f"rebnconv{level}", REBNCONV(mid, mid))
        setattr(self, f"rebnconv{height}", REBNCONV(mid, mid, dilation=2))
        for level in range(height - 1, 1, -1):
            setattr(self, f"rebnconv{level}d", REBNCONV(2 * mid, mid))
        self.rebnconv1d = REBNCONV(2 * mid, cout)

    def forward(self, x):
        hxin = self.rebnconvin(x)
        skips, hx = [], hxin
        for level in range(1, self.height):
            hx = getattr(self, f"rebnconv{level}")(hx)
            skips.append(hx)
            if level < self.height - 1:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        hx = getattr(self, f"rebnconv{self.height}")(hx)
        for level in range(self.height - 1, 0, -1):
            skip = skips[level - 1]
            hx = getattr(self, f"rebnconv{level}d")(torch.cat([upsample_like(hx, skip), skip], 1))
        return hx + hxin


class RSU4F(nn.Module):
    """The flat RSU of the two deepest stages: dilations 1, 2, 4, 8 instead of pooling, because the
    feature maps there are already small."""

    def __init__(self, cin: int, mid: int, cout: int):
        super().__init__()
        self.rebnconvin = REBNCONV(cin, cout)
        self.rebnconv1 = REBNCONV(cout, mid, 1)
        self.rebnconv2 = REBNCONV(mid, mid, 2)
        self.rebnconv3 = REBNCONV(mid, mid, 4)
        self.rebnconv4 = REBNCONV(mid, mid, 8)
        self.rebnconv3d = REBNCONV(2 * mid, mid, 4)
        self.rebnconv2d = REBNCONV(2 * mid, mid, 2)
        self.rebnconv1d = REBNCONV(2 * mid, cout, 1)

    def forward(self, x):
        hxin = self.rebnconvin(x)
        hx1 = self.rebnconv1(hxin)
        hx2 = self.rebnconv2(hx1)
        hx3 = self.rebnconv3(hx2)
        hx4 = self.rebnconv4(hx3)
        hx3d = self.rebnconv3d(torch.cat([hx4, hx3], 1))
        hx2d = self.rebnconv2d(torch.cat([hx3d, hx2], 1))
        return self.rebnconv1d(torch.cat([hx2d, hx1], 1)) + hxin


def _block(spec, divisor: int, first: bool):
    kind, cin, mid, cout = spec
    cin = cin if first else cin // divisor  # the image's 3 channels never shrink
    mid, cout = max(mid // divisor, 1), cout // divisor
    return RSU4F(cin, mid, cout) if kind == "4F" else RSU(kind, cin, mid, cout)


class U2Net(nn.Module):
    """Image (N, 3, H, W) -> saliency map (N, 1, H, W) in (0, 1): the fused side output, as the
    CGN uses it. Input is the BigGAN output range [-1, 1], as in the CGN's training."""

    def __init__(self, divisor: int = 1):
        super().__init__()
        if divisor < 1 or 64 % divisor:
            raise CgnArtError(f"U2-Net divisor {divisor} must divide 64")
        self.divisor = divisor
        for name, spec in ENCODER.items():
            setattr(self, name, _block(spec, divisor, first=(name == "stage1")))
        for name, spec in DECODER.items():
            setattr(self, name, _block(spec, divisor, first=False))
        for name, channels in SIDES.items():
            setattr(self, name, nn.Conv2d(channels // divisor, 1, 3, padding=1))
        self.outconv = nn.Conv2d(6, 1, 1)

    def forward(self, x):
        features = []
        hx = x
        for level in range(1, 7):
            hx = getattr(self, f"stage{level}")(hx)
            features.append(hx)
            if level < 6:
                hx = F.max_pool2d(hx, 2, stride=2, ceil_mode=True)
        decoded = {6: features[5]}
        hx = features[5]
        for level in range(5, 0, -1):
            skip = features[level - 1]
            hx = getattr(self, f"stage{level}d")(torch.cat([upsample_like(hx, skip), skip], 1))
            decoded[level] = hx
        side1 = self.side1(decoded[1])
        sides = [side1] + [upsample_like(getattr(self, f"side{level}")(decoded[level]), side1) for level in range(2, 7)]
        return torch.sigmoid(self.outconv(torch.cat(sides, 1)))


def u2net_divisor(state: dict) -> int:
    """The divisor a U^2-Net state dict was built with (64 / stage1's output channels)."""
    key = "stage1.rebnconvin.conv_s1.weight"
    if key not in state:
        raise CgnArtError(f"not a U2-Net state dict: it has no {key!r}")
    channels = int(state[key].shape[0])
    if channels < 1 or 64 % channels:
        raise CgnArtError(f"not a U2-Net state dict: {key} has {channels} output channels")
    return 64 // channels


def load_u2net(path: str | Path) -> U2Net:
    """Load ``u2net.pth`` (the released salient-object weights) safely, with weights_only=True."""
    from cgn_art.mechanisms.biggan import check_keys, torch_load

    state = torch_load(Path(path), what=f"u2net.pth (download {U2NET_URL})")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    model = U2Net(u2net_divisor(state))
    check_keys(model, state, Path(path))
    model.load_state_dict(state)
    return model.eval().requires_grad_(False)
