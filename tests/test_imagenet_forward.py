"""The ImageNet CGN's forward pass is the paper's: U^2-Net's resizing (align_corners=True), pooling,
dilations and fused side output; the mask as the clamped U^2-Net output of the raw pre-mask; and the
truncation BigGAN receives. The U^2-Net reference below is written from the network's description
straight onto the state dict with torch.nn.functional, independently of the module's structure."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers.imagenet import tiny_cgn
from pytorch_pretrained_biggan import BigGAN

import cgn_art.mechanisms.u2net as u2net_module
from cgn_art.mechanisms.imagenet import biggan_truncation
from cgn_art.mechanisms.u2net import U2Net, upsample_like

DIVISOR = 16


def test_upsampling_aligns_corners_like_the_released_model():
    # A 2x2 ramp to 4x4: with aligned corners the ends stay on the corner pixels (thirds between);
    # with align_corners=False the samples sit half a pixel in (quarters) - what the old code did.
    x = torch.tensor([[[[0.0, 3.0], [6.0, 9.0]]]])
    up = upsample_like(x, torch.zeros(1, 1, 4, 4))
    assert torch.allclose(up[0, 0, 0], torch.tensor([0.0, 1.0, 2.0, 3.0]))
    assert torch.allclose(up[0, 0, :, 0], torch.tensor([0.0, 2.0, 4.0, 6.0]))
    misaligned = F.interpolate(x, size=(4, 4), mode="bilinear", align_corners=False)
    assert torch.allclose(misaligned[0, 0, 0], torch.tensor([0.0, 0.75, 2.25, 3.0]))
    assert upsample_like(x, x) is x  # same size: no resize at all


def _randomise_batch_norms(model: torch.nn.Module, seed: int) -> None:
    # Fresh batch norms are the identity in eval mode; real weights are not.
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                n = m.num_features
                m.running_mean.copy_(torch.randn(n, generator=generator) * 0.1)
                m.running_var.copy_(torch.rand(n, generator=generator) + 0.5)
                m.weight.copy_(torch.rand(n, generator=generator) + 0.5)
                m.bias.copy_(torch.randn(n, generator=generator) * 0.1)


def reference_u2net(state: dict, x: torch.Tensor, align_corners: bool) -> torch.Tensor:
    """U^2-Net from its description: RSU-L blocks (pool between levels, dilation 2 at the bottom),
    RSU-4F (dilations 1, 2, 4, 8 / 4, 2, 1), 2x2 ceil-mode max pools, bilinear resizing, six side
    outputs (side6 from stage 6) resized to side1, fused by a 1x1 conv, one sigmoid."""

    def conv(name, h, dilation=1):
        h = F.conv2d(h, state[f"{name}.conv_s1.weight"], state[f"{name}.conv_s1.bias"], padding=dilation,
                     dilation=dilation)
        h = F.batch_norm(h, state[f"{name}.bn_s1.running_mean"], state[f"{name}.bn_s1.running_var"],
                         state[f"{name}.bn_s1.weight"], state[f"{name}.bn_s1.bias"], training=False, eps=1e-5)
        return F.relu(h)

    def up(h, like):
        return F.interpolate(h, size=like.shape[-2:], mode="bilinear", align_corners=align_corners)

    def pool(h):
        return F.max_pool2d(h, 2, 2, ceil_mode=True)

    def rsu(name, h, height):
        top = conv(f"{name}.rebnconvin", h)
        downs, h = [], top
        for level in range(1, height):
            h = conv(f"{name}.rebnconv{level}", h)
            downs.append(h)
            if level < height - 1:
                h = pool(h)
        h = conv(f"{name}.rebnconv{height}", h, dilation=2)
        for level in range(height - 1, 0, -1):
            skip = downs[level - 1]
            h = conv(f"{name}.rebnconv{level}d", torch.cat([h if h.shape == skip.shape else up(h, skip), skip], 1))
        return h + top

    def rsu4f(name, h):
        top = conv(f"{name}.rebnconvin", h)
        h1 = conv(f"{name}.rebnconv1", top)
        h2 = conv(f"{name}.rebnconv2", h1, 2)
        h3 = conv(f"{name}.rebnconv3", h2, 4)
        h4 = conv(f"{name}.rebnconv4", h3, 8)
        h3d = conv(f"{name}.rebnconv3d", torch.cat([h4, h3], 1), 4)
        h2d = conv(f"{name}.rebnconv2d", torch.cat([h3d, h2], 1), 2)
        return conv(f"{name}.rebnconv1d", torch.cat([h2d, h1], 1)) + top

    heights = {1: 7, 2: 6, 3: 5, 4: 4}
    block = {n: (lambda name, h, n=n: rsu(name, h, heights[n])) if n in heights else rsu4f for n in range(1, 7)}
    enc, h = [], x
    for n in range(1, 7):
        h = block[n](f"stage{n}", h)
        enc.append(h)
        if n < 6:
            h = pool(h)
    dec = {6: enc[5]}
    for n in range(5, 0, -1):
        h = block[n](f"stage{n}d", torch.cat([up(h, enc[n - 1]), enc[n - 1]], 1))
        dec[n] = h
    sides = [F.conv2d(dec[n], state[f"side{n}.weight"], state[f"side{n}.bias"], padding=1) for n in range(1, 7)]
    sides = [sides[0]] + [up(s, sides[0]) for s in sides[1:]]
    return torch.sigmoid(F.conv2d(torch.cat(sides, 1), state["outconv.weight"], state["outconv.bias"]))


@pytest.mark.parametrize("size", [36, 64])  # 36: odd sizes deep down (9 -> 5 -> 3 -> 2), ceil_mode matters
def test_u2net_matches_the_reference_and_not_the_misaligned_one(size, monkeypatch):
    torch.manual_seed(size)
    model = U2Net(DIVISOR).eval()
    _randomise_batch_norms(model, size)
    state = model.state_dict()
    x = torch.rand(2, 3, size, size) * 2 - 1
    with torch.no_grad():
        ours = model(x)
        aligned = reference_u2net(state, x, align_corners=True)
        misaligned = reference_u2net(state, x, align_corners=False)
        assert ours.shape == (2, 1, size, size)
        assert torch.allclose(ours, aligned, atol=1e-6, rtol=0)
        # The constructed case changes with align_corners by far more than float rounding: the
        # comparison above would catch a return to align_corners=False.
        assert (misaligned - aligned).abs().max() > 1e-3
        monkeypatch.setattr(u2net_module, "ALIGN_CORNERS", False)
        assert torch.allclose(model(x), misaligned, atol=1e-6, rtol=0)


def _distinct_truncation_rows(model: BigGAN) -> None:
    # Each of the 51 rows of precomputed statistics (truncation 0, 0.02, ..., 1) gets its own
    # values, so reading a neighbouring row shows in the image.
    with torch.no_grad():
        for name, buffer in model.named_buffers():
            if name.endswith(("running_means", "running_vars")):
                rows = torch.linspace(0.0, 1.0, buffer.shape[0]).unsqueeze(1)
                buffer.copy_(rows * 0.5 + (0.75 if name.endswith("vars") else 0.0))


def test_mechanisms_are_the_authors_forward_with_their_truncation():
    model = tiny_cgn(3)
    for part in ("f_shape", "f_text", "f_bg"):
        _distinct_truncation_rows(getattr(model, part))
    y = model.one_hot("shape", [9])
    noise = model.noise("shape", [4], 0.3, 32)
    u = noise[:, :-1]
    with torch.no_grad():
        # theirs: premask = f_shape(u, y, 0.3) with a Python float; mask = clamp(u2net(premask))
        premask = model.f_shape(u, y, 0.3)
        theirs_mask = model.u2net(premask).clamp(1e-4, 1 - 1e-4)
        theirs_fg = model.f_text(u, y, 0.3)
        assert torch.equal(model.mechanism("shape", y, noise, 32), theirs_mask)
        assert torch.equal(model.mechanism("texture", y, noise, 32), ((theirs_fg + 1) / 2).clamp(0, 1))
        # The truncation as it travels in the noise is a float32: passed on as such, BigGAN would
        # read the statistics of truncation 0.32 (the old behaviour), a visibly different image.
        as_float32 = float(np.float32(0.3))
        assert as_float32 != 0.3 and biggan_truncation(noise[0, -1]) == 0.3
        assert (model.f_text(u, y, as_float32) - theirs_fg).abs().max() > 1e-2
        assert torch.allclose(model.f_text(u, y, as_float32), model.f_text(u, y, 0.32))
