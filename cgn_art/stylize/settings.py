"""StylizeSettings: every choice that makes a stylized image, validated in one place.

The library, the ``cgn-art stylize`` command and the Stylizer page all build one of these, so a
limit or a default lives here and nowhere else. ``to_dict()`` goes into the PNG's metadata.
"""
from __future__ import annotations

from dataclasses import dataclass

from cgn_art.errors import CgnArtError
from cgn_art.settings_checks import MAX_SEED, Settings, check_seed, check_truncation, choice, number, whole

COLORS = ("texture", "luminance", "palette")
OPTIMIZERS = ("lbfgs", "adam")
ENCODERS = ("random", "vgg19", "auto")
REGIONS = ("one", "two")
# The mechanisms that paint a texture (the shape mechanism paints a mask).
TEXTURE_MECHANISMS = ("texture", "background")
MAX_SIZE_CPU = 1024
MAX_SIZE_GPU = 2048
# Ranges declared once: validate() enforces them, the CLI's help and the page's widgets can read them.
# The truncation's low end is open: 0 would draw no noise at all.
LIMITS = {"size": (32, MAX_SIZE_GPU), "blend": (0.0, 1.0), "texture_seed": (0, MAX_SEED), "truncation": (0.0, 1.0),
          "texture_scale": (0.02, 1.0), "strength": (0.0, 100.0), "content_weight": (0.0, 100.0),
          "smoothness": (0.0, 100.0), "steps": (1, 5000), "levels": (1, 6), "seed": (0, MAX_SEED),
          "feather": (0.0, 0.2)}

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

    size: int = 512
    texture_class: int = 0
    blend_class: int | None = None
    blend: float = 0.5
    texture_seed: int = 0
    truncation: float = 1.0
    texture_scale: float = 0.25
    strength: float = 1.0
    content_weight: float = 1.0
    smoothness: float = 1.0
    colors: str = "texture"
    optimizer: str = "lbfgs"
    steps: int = 20
    levels: int = 2
    encoder: str = "random"
    seed: int = 0
    device: str = "auto"
    regions: str = "one"
    background_texture_class: int | None = None
    keep_subject_photo: bool = False
    subject_box: str | None = None
    feather: float = 0.01
    texture_mechanism: str = "texture"
    background_mechanism: str = "texture"

    def validate(self, device=None) -> StylizeSettings:
        """Check every field; return self. ``device`` (a torch.device) sets the size limit (GPU 2048)."""
        self.size = whole("size", self.size, *LIMITS["size"])
        if device is not None and getattr(device, "type", "cpu") == "cpu" and self.size > MAX_SIZE_CPU:
            raise CgnArtError(f"size {self.size} is too large for a CPU: give at most {MAX_SIZE_CPU} pixels "
                              f"(up to {MAX_SIZE_GPU} on a GPU)")
        self.texture_class = whole("texture class", self.texture_class, 0, None)
        if self.blend_class is not None:
            self.blend_class = whole("blend class", self.blend_class, 0, None)
        self.blend = number("blend", self.blend, *LIMITS["blend"])
        self.texture_seed = check_seed(self.texture_seed, "texture seed")
        self.truncation = check_truncation(self.truncation)
        for name in ("texture_scale", "strength", "content_weight", "smoothness"):
            setattr(self, name, number(name.replace("_", " "), getattr(self, name), *LIMITS[name]))
        if self.strength == 0 and self.content_weight == 0:
            raise CgnArtError("strength and content weight are both 0: nothing to optimise; raise one of them")
        self.colors = choice("colors", self.colors, COLORS)
        self.optimizer = choice("optimizer", self.optimizer, OPTIMIZERS)
        self.encoder = choice("encoder", self.encoder, ENCODERS)
        for name in ("steps", "levels", "seed"):
            setattr(self, name, whole(name, getattr(self, name), *LIMITS[name]))
        self.device = str(self.device or "auto").strip().lower()
        self.regions = choice("regions", self.regions, REGIONS)
        if self.background_texture_class is not None:
            self.background_texture_class = whole("background texture class", self.background_texture_class, 0, None)
        if not isinstance(self.keep_subject_photo, bool):
            raise CgnArtError(f"keep subject photo {self.keep_subject_photo!r} is not true or false")
        self.feather = number("feather", self.feather, *LIMITS["feather"])
        self.texture_mechanism = choice("texture mechanism", self.texture_mechanism, TEXTURE_MECHANISMS)
        self.background_mechanism = choice("background mechanism", self.background_mechanism, TEXTURE_MECHANISMS)
        if self.subject_box is not None:
            if not isinstance(self.subject_box, str):
                self.subject_box = ",".join(str(round(float(v))) for v in self.subject_box)
            self.subject_box = self.subject_box.strip() or None
        return self


