"""Make docs/type-poster.png with a stand-in letters model, until the Letters CGN ships.

The stand-in implements the Mechanisms contract like every model: its shape mechanism draws each
capital from a TrueType font that ships with matplotlib (DejaVu Sans Bold, softened edges, the
noise leaning and widening it a little); its texture and background mechanisms are the shipped
Wildlife CGN's. Once assets/models/letters exists, make the README picture with the real thing:

    cgn-art type "Counterfactual typography" -o docs/type-poster.png --format landscape \\
        --texture-by letter --background-by line

    python docs/stand_in_poster.py
"""
from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw, ImageFilter, ImageFont

import cgn_art
from cgn_art.io import save_png
from cgn_art.mechanisms.base import Mechanisms, truncated_noise
from cgn_art.typeset import TypeSettings, load_digits, render_poster

HERE = Path(__file__).resolve().parent
FONT = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "DejaVuSans-Bold.ttf"


class FontLetters(Mechanisms):
    native_size = 64
    name = "stand-in: font letters + wildlife textures"

    def __init__(self):
        self.inner = cgn_art.load_model("wildlife", device="cpu")
        font = ImageFont.truetype(str(FONT), 44)
        glyphs = []
        for i in range(26):
            image = Image.new("L", (64, 64))
            ImageDraw.Draw(image).text((32, 52), chr(65 + i), fill=255, font=font, anchor="ms")
            glyphs.append(np.asarray(image.filter(ImageFilter.GaussianBlur(1.0)), np.float32) / 255)
        self.glyphs = torch.from_numpy(np.stack(glyphs))

    @property
    def class_names(self):
        names = self.inner.class_names
        return {"shape": [chr(65 + i) for i in range(26)], "texture": names["texture"],
                "background": names["background"]}

    def noise(self, mechanism, seeds, truncation, size):
        if mechanism == "shape":
            return torch.stack([truncated_noise((2,), s, truncation) for s in seeds])
        return self.inner.noise(mechanism, seeds, truncation, size)

    def mechanism(self, mechanism, weights, noise, size):
        if mechanism != "shape":
            return self.inner.mechanism(mechanism, weights, noise, size)
        masks = torch.einsum("nk,khw->nhw", weights, self.glyphs)[:, None]
        theta = torch.zeros(len(masks), 2, 3)
        theta[:, 0, 0] = 1 + 0.04 * noise[:, 0]
        theta[:, 1, 1] = 1
        theta[:, 0, 1] = 0.06 * noise[:, 1]
        masks = F.grid_sample(masks, F.affine_grid(theta, masks.shape, align_corners=False), align_corners=False)
        masks = F.interpolate(masks, size=(size, size), mode="bicubic", align_corners=False)
        return ((masks - 0.5) * 3 + 0.5).clamp(0, 1)


if __name__ == "__main__":
    settings = TypeSettings(text="Counterfactual typography", format="landscape", texture_by="letter",
                            background_by="line", textures=[2, 5, 8, 1, 6, 9, 3], backgrounds=[4, 7], seed=3)
    poster = render_poster(FontLetters(), settings, load_digits(device="cpu"))
    small = poster.image.resize((960, 540), Image.LANCZOS)
    print(save_png(small, HERE / "type-poster.png", poster.metadata()))
