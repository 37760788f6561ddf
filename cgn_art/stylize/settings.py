"""StylizeSettings: every choice that makes a stylized image, validated in one place.

The library, the ``cgn-art stylize`` command and the Stylizer page all build one of these, so a
limit or a default lives here and nowhere else. ``to_dict()`` goes into the PNG's metadata.
"""
from __future__ import annotations

from dataclasses import dataclass

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import MAX_SEED, Settings, check_truncation, choice, ranged, whole

COLORS = ("texture", "luminance", "palette")
OPTIMIZERS = ("lbfgs", "adam")
ENCODERS = ("random", "vgg19", "auto")
REGIONS = ("one", "two")
# The mechanisms that paint a texture (the shape mechanism paints a mask).
TEXTURE_MECHANISMS = ("texture", "background")
MAX_SIZE_CPU = 1024
MAX_SIZE_GPU = 2048
HELP = {
    "size": "pixels on the result's longer side (up to 1024 on a CPU, 2048 on a GPU)",
    "texture_class": "texture class the CGN paints (index or name)",
    "blend_class": "a second texture class to blend with the first (none: no blend)",
    "blend": "how much of the second class: 0 is all the first, 1 all the second",
    "texture_seed": "noise seed of the CGN texture",
    "truncation": "noise truncation in (0, 1]; lower gives tamer textures",
    "texture_scale": "how large the texture's pattern is: one texture tile spans this fraction of the longer side",
    "strength": "style strength: how strongly the texture's statistics are imposed",
    "content_weight": "how strongly the photo's layout is kept",
    "smoothness": "total-variation smoothing: higher gives calmer, less noisy results",
    "colors": "texture: the texture's colours; luminance: keep the photo's colours, transfer light and dark "
              "only; palette: recolour the texture to the photo's palette first",
    "optimizer": "lbfgs (fast to converge) or adam (steadier, needs more steps)",
    "steps": "optimisation steps at full size; each coarser level of the pyramid gets twice as many",
    "levels": "levels of the coarse-to-fine pyramid (1: full size only, as Gatys et al.)",
    "encoder": "features for the style loss: random (offline), vgg19 (needs its weights) or auto",
    "seed": "seed of the small noise added to the starting image",
    "device": "auto, cpu, cuda or mps",
    "regions": "one: the whole photo gets the texture; two: the subject gets the texture, the background "
               "its own texture or the photo (the CGN's composite m*f + (1-m)*b with a mask of the photo)",
    "background_texture_class": "two regions: the background's texture class (none: the background keeps the photo)",
    "keep_subject_photo": "two regions: the subject keeps the photo, only the background is stylized",
    "subject_box": "two regions: x0,y0,x1,y1 in photo pixels around the subject, for GrabCut to find it "
                   "(none: the centre of the photo)",
    "texture_mechanism": "which of the CGN's mechanisms paints the texture: texture (its texture classes) or "
                         "background (its background classes)",
    "background_mechanism": "two regions: which mechanism paints the background's texture class: texture or "
                            "background",
    "feather": "two regions: how soft the seam is, as a fraction of the longer side (0: a hard edge)",
}


@dataclass
class StylizeSettings(Settings):
    KIND = "stylize"

    size: int = ranged(512, 32, MAX_SIZE_GPU)
    texture_class: int = 0
    blend_class: int | None = None
    blend: float = ranged(0.5, 0.0, 1.0)
    texture_seed: int = ranged(0, 0, MAX_SEED)
    truncation: float = 1.0
    texture_scale: float = ranged(0.25, 0.02, 1.0)
    strength: float = ranged(1.0, 0.0, 100.0)
    content_weight: float = ranged(1.0, 0.0, 100.0)
    smoothness: float = ranged(1.0, 0.0, 100.0)
    colors: str = "texture"
    optimizer: str = "lbfgs"
    steps: int = ranged(20, 1, 5000)
    levels: int = ranged(2, 1, 6)
    encoder: str = "random"
    seed: int = ranged(0, 0, MAX_SEED)
    device: str = "auto"
    regions: str = "one"
    background_texture_class: int | None = None
    keep_subject_photo: bool = False
    subject_box: str | None = None
    feather: float = ranged(0.01, 0.0, 0.2)
    texture_mechanism: str = "texture"
    background_mechanism: str = "texture"

    def validate(self, device=None) -> StylizeSettings:
        """Check every field; return self. ``device`` (a torch.device) sets the size limit (GPU 2048)."""
        self.check_ranges("size")
        if device is not None and getattr(device, "type", "cpu") == "cpu" and self.size > MAX_SIZE_CPU:
            raise CgnArtError(f"size {self.size} is too large for a CPU: give at most {MAX_SIZE_CPU} pixels "
                              f"(up to {MAX_SIZE_GPU} on a GPU)")
        self.texture_class = whole("texture class", self.texture_class, 0, None)
        if self.blend_class is not None:
            self.blend_class = whole("blend class", self.blend_class, 0, None)
        self.check_ranges("blend", "texture_seed")
        self.truncation = check_truncation(self.truncation)
        self.check_ranges("texture_scale", "strength", "content_weight", "smoothness")
        if self.strength == 0 and self.content_weight == 0:
            raise CgnArtError("strength and content weight are both 0: nothing to optimise; raise one of them")
        self.colors = choice("colors", self.colors, COLORS)
        self.optimizer = choice("optimizer", self.optimizer, OPTIMIZERS)
        self.encoder = choice("encoder", self.encoder, ENCODERS)
        self.check_ranges("steps", "levels", "seed")
        self.device = str(self.device or "auto").strip().lower()
        self.regions = choice("regions", self.regions, REGIONS)
        if self.background_texture_class is not None:
            self.background_texture_class = whole("background texture class", self.background_texture_class, 0, None)
        if not isinstance(self.keep_subject_photo, bool):
            raise CgnArtError(f"keep subject photo {self.keep_subject_photo!r} is not true or false")
        self.check_ranges("feather")
        self.texture_mechanism = choice("texture mechanism", self.texture_mechanism, TEXTURE_MECHANISMS)
        self.background_mechanism = choice("background mechanism", self.background_mechanism, TEXTURE_MECHANISMS)
        if self.subject_box is not None:
            if not isinstance(self.subject_box, str):
                self.subject_box = ",".join(str(round(float(v))) for v in self.subject_box)
            self.subject_box = self.subject_box.strip() or None
        return self


# Ranges declared once, on the fields: validate() enforces them, the CLI's help and the page's widgets
# can read them. Truncation is checked by the one rule every job uses, (0, 1]: 0 would draw no noise.
LIMITS = {**StylizeSettings.ranges(), "truncation": (0.0, 1.0)}
