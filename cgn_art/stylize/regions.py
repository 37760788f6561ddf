"""Subject and background apart: a mask from the user's photo, and the CGN's own composite.

The subject's mask comes from GrabCut (OpenCV) seeded by a rectangle - by default the centre of
the photo - or from a mask the user made (a PNG, white = subject). The two stylized images are
then put together exactly as a CGN puts its mechanisms' outputs together,
``m * foreground + (1 - m) * background``, with the mask's edge feathered so the seam is soft.

>>> box = parse_box("40,30,200,180", width=256, height=192)       # doctest: +SKIP
>>> mask = grabcut_mask(photo, box)                                 # doctest: +SKIP
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.runtime.progress import sub_progress

CENTRE_MARGIN = 0.15    # the default box leaves this fraction of each side outside
GRABCUT_SIDE = 400      # GrabCut runs with the photo's longer side at most this (it is O(pixels))
GRABCUT_ITERATIONS = 5
MIN_BOX_SIDE = 4        # px of the photo


def default_box(width: int, height: int) -> tuple[int, int, int, int]:
    """The centre of the photo: (x0, y0, x1, y1) leaving CENTRE_MARGIN of each side outside."""
    return (round(CENTRE_MARGIN * width), round(CENTRE_MARGIN * height),
            round((1 - CENTRE_MARGIN) * width), round((1 - CENTRE_MARGIN) * height))


def parse_box(box, width: int, height: int) -> tuple[int, int, int, int]:
    """A subject box "x0,y0,x1,y1" (or a sequence of four numbers) in photo pixels, checked against
    the photo's size: inside it, x0 < x1, y0 < y1, not smaller than MIN_BOX_SIDE, not the whole photo."""
    text = box if isinstance(box, str) else ",".join(str(v) for v in box)
    parts = [p.strip() for p in str(text).replace(" ", ",").split(",") if p.strip()]
    try:
        x0, y0, x1, y1 = (round(float(p)) for p in parts)
    except ValueError:
        raise CgnArtError(f"subject box {text!r} is not four numbers: give x0,y0,x1,y1 in photo pixels, "
                          f"e.g. 40,30,200,180") from None
    if len(parts) != 4:
        raise CgnArtError(f"subject box {text!r} has {len(parts)} numbers: give four, x0,y0,x1,y1 in photo pixels")
    if min(x0, y0) < 0 or x1 > width or y1 > height:
        raise CgnArtError(f"subject box {x0},{y0},{x1},{y1} reaches outside the {width} x {height} photo: "
                          f"keep 0 <= x0 < x1 <= {width} and 0 <= y0 < y1 <= {height}")
    if x1 - x0 < MIN_BOX_SIDE or y1 - y0 < MIN_BOX_SIDE:
        raise CgnArtError(f"subject box {x0},{y0},{x1},{y1} is empty or too small: x1 must exceed x0 and y1 "
                          f"exceed y0 by at least {MIN_BOX_SIDE} px")
    if (x0, y0, x1, y1) == (0, 0, width, height):
        raise CgnArtError("the subject box is the whole photo, which leaves no background to learn from: "
                          "draw it around the subject")
    return x0, y0, x1, y1


def scale_box(box, from_size: tuple[int, int], to_size: tuple[int, int]) -> tuple[int, int, int, int]:
    """A box in a (width, height) image moved to another size of the same image."""
    sx, sy = to_size[0] / from_size[0], to_size[1] / from_size[1]
    x0, y0, x1, y1 = box
    left, top = max(0, int(x0 * sx)), max(0, int(y0 * sy))
    return left, top, min(to_size[0], max(left + 1, round(x1 * sx))), min(to_size[1], max(top + 1, round(y1 * sy)))


def grabcut_mask(photo: Image.Image, box=None, *, iterations: int = GRABCUT_ITERATIONS) -> Image.Image:
    """The subject's mask (mode "L", the photo's size, 255 = subject) by GrabCut seeded with ``box``
    (x0, y0, x1, y1 in photo pixels; default: the centre). Everything outside the box is background;
    inside, GrabCut's colour models decide. Runs on a copy at most GRABCUT_SIDE px long."""
    try:
        import cv2
    except ImportError:
        raise CgnArtError("finding the subject needs OpenCV: pip install opencv-python-headless "
                          "(or upload a mask instead)") from None
    width, height = photo.size
    box = parse_box(box, width, height) if box is not None else default_box(width, height)
    scale = min(1.0, GRABCUT_SIDE / max(width, height))
    small_size = (max(8, round(width * scale)), max(8, round(height * scale)))
    small = np.asarray(photo.convert("RGB").resize(small_size, Image.Resampling.LANCZOS))
    small = np.ascontiguousarray(small[..., ::-1])  # OpenCV wants BGR
    x0, y0, x1, y1 = scale_box(box, (width, height), small_size)
    labels = np.zeros(small.shape[:2], np.uint8)
    background_model, foreground_model = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)  # GrabCut's k-means starts at random: the same photo and box give the same mask
    cv2.grabCut(small, labels, (x0, y0, x1 - x0, y1 - y0), background_model, foreground_model, iterations,
                cv2.GC_INIT_WITH_RECT)
    subject = np.isin(labels, (cv2.GC_FGD, cv2.GC_PR_FGD)).astype(np.uint8) * 255
    mask = Image.fromarray(subject).resize((width, height), Image.Resampling.BILINEAR)
    return mask.point(lambda v: 255 if v >= 128 else 0)


def read_mask(source, width: int, height: int, name: str = "the mask") -> Image.Image:
    """A user's mask (a path, bytes or PIL image; white = subject) as mode "L" at (width, height).

    It must have the photo's shape: its size, or the same shape at another size (a mask saved at the
    result's size fits its full-size photo); any other size, a file that is not an image, and a mask
    with no subject or no background get one line."""
    if isinstance(source, Image.Image):
        image = source
    else:
        from cgn_art.images import read_image

        try:
            image = read_image(source, name=name)
        except CgnArtError:
            raise
        except Exception:
            raise CgnArtError(f"{name}: is not an image; give a PNG, white where the subject is") from None
    if image.mode in ("RGBA", "LA") and np.asarray(image.getchannel("A")).min() < 255:
        grey = image.getchannel("A")  # a cut-out: opaque = subject
    else:
        grey = image.convert("L")
    w, h = grey.size
    if abs(w / h - width / height) > 0.01 * max(width / height, 1) + 1 / min(w, h):
        raise CgnArtError(f"{name} is {w} x {h} but the photo is {width} x {height}: give a mask of the photo's "
                          f"size (or the same shape scaled)")
    if (w, h) != (width, height):
        grey = grey.resize((width, height), Image.Resampling.BILINEAR)
    values = np.asarray(grey, dtype=np.float32) / 255
    subject = float((values >= 0.5).mean())
    if subject == 0.0:
        raise CgnArtError(f"{name} is empty (no white pixels): paint the subject white, the background black")
    if subject == 1.0:
        raise CgnArtError(f"{name} is all subject (no black pixels): paint the background black")
    return grey


def mask_tensor(mask: Image.Image, height: int, width: int, feather: float) -> torch.Tensor:
    """(1, 1, height, width) float mask in [0, 1] with its edge feathered by a Gaussian of
    ``feather`` x the longer side (0: a hard edge)."""
    m = torch.from_numpy(np.asarray(mask.convert("L").resize((width, height), Image.Resampling.BILINEAR),
                                    dtype=np.float32) / 255)[None, None]
    sigma = feather * max(height, width)
    if sigma >= 0.3:
        radius = max(1, int(3 * sigma))
        x = torch.arange(-radius, radius + 1, dtype=torch.float32)
        kernel = torch.exp(-x ** 2 / (2 * sigma ** 2))
        kernel = kernel / kernel.sum()
        m = F.pad(m, [radius] * 4, mode="replicate")
        m = F.conv2d(m, kernel.view(1, 1, 1, -1))
        m = F.conv2d(m, kernel.view(1, 1, -1, 1))
    return m.clamp(0, 1)


def composite(mask: torch.Tensor, foreground: torch.Tensor, background: torch.Tensor) -> torch.Tensor:
    """The CGN's composite ``m * f + (1 - m) * b``."""
    return mask * foreground + (1 - mask) * background


def mask_iou(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    """Intersection over union of two masks (white / > 0.5 = subject)."""
    a = np.asarray(a, dtype=np.float32) / (255 if np.asarray(a).dtype == np.uint8 else 1) >= 0.5
    b = np.asarray(b, dtype=np.float32) / (255 if np.asarray(b).dtype == np.uint8 else 1) >= 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def check_two_regions(photo: Image.Image, settings, background_texture_image=None) -> None:
    """The mistakes two regions can hold, found before any work: a bad box, nothing to stylize."""
    if settings.keep_subject_photo and settings.background_texture_class is None and background_texture_image is None:
        raise CgnArtError("the subject keeps the photo and the background has no texture: nothing to stylize; "
                          "give a background texture class")
    if settings.subject_box:
        parse_box(settings.subject_box, photo.width, photo.height)


def subject_mask(photo: Image.Image, settings, mask=None) -> Image.Image:
    """The subject's mask at the photo's size: the user's ``mask`` if given, else GrabCut seeded by
    ``settings.subject_box`` (default: the centre)."""
    if mask is not None:
        return read_mask(mask, photo.width, photo.height)
    box = parse_box(settings.subject_box, photo.width, photo.height) if settings.subject_box else None
    return grabcut_mask(photo, box)


def stylize_two_regions(photo: Image.Image, settings, *, model=None, texture_image=None,
                        background_texture_image=None, mask=None, encoder=None, progress=None, preview=None,
                        preview_every: float = 2.0, cancel=None):
    """Two regions (see :func:`cgn_art.stylize.stylize`): the subject gets the texture (or keeps the
    photo), the background gets ``settings.background_texture_class`` or ``background_texture_image``
    (or keeps the photo); each stylized region is one ordinary stylization of the whole photo, and
    the two are composited with the feathered mask. Two stylized regions take twice as long as one."""
    import time

    from cgn_art.mechanisms.base import to_pil
    from cgn_art.stylize.optimize import StylizeResult, stylize_validated, working_size
    from cgn_art.stylize.textures import pil_to_tensor

    began = time.perf_counter()
    check_two_regions(photo, settings, background_texture_image)
    background_styled = settings.background_texture_class is not None or background_texture_image is not None
    height, width = working_size(photo, settings.size)
    subject = subject_mask(photo, settings, mask)
    weights = mask_tensor(subject, height, width, settings.feather)
    one = settings.replace(regions="one")
    jobs = []
    if not settings.keep_subject_photo:
        jobs.append(("subject", one, texture_image))
    if background_styled:
        jobs.append(("background", one.replace(texture_class=settings.background_texture_class or 0, blend_class=None,
                                               texture_mechanism=settings.background_mechanism),
                     background_texture_image))
    plain = pil_to_tensor(photo.resize((width, height), Image.Resampling.LANCZOS))
    parts = {"subject": plain, "background": plain}
    results, cancelled = [], False
    for index, (name, part_settings, image) in enumerate(jobs):
        def part_preview(_image, message, name=name):
            # show the composite so far: the region being made from its in-between picture
            if preview:
                partial = dict(parts, **{name: pil_to_tensor(_image)})
                preview(to_pil(composite(weights, partial["subject"], partial["background"])[0]), f"{name}: {message}")

        result = stylize_validated(photo, part_settings, model=model, texture_image=image, encoder=encoder,
                         progress=sub_progress(progress, index / len(jobs), (index + 1) / len(jobs),
                                               f"{name} ({index + 1}/{len(jobs)})"),
                         preview=part_preview if preview else None,
                         preview_every=preview_every, cancel=cancel)
        parts[name] = result.tensor
        results.append(result)
        if result.cancelled:
            cancelled = True
            break
    image = composite(weights, parts["subject"], parts["background"]).clamp(0, 1)
    return StylizeResult(image=to_pil(image[0]), tensor=image, settings=settings.to_dict(),
                         seconds=time.perf_counter() - began,
                         style_loss=float(np.mean([r.style_loss for r in results])) if results else 0.0,
                         content_loss=float(np.mean([r.content_loss for r in results])) if results else 0.0,
                         steps=[s for r in results for s in r.steps], cancelled=cancelled, mask=subject)
