"""Type poster speed: the Type page's live preview of a 1080x1350 poster of 20 letters (one JSON line).

- library: ``render_poster`` plus the page's PNG encoding (``quick_png``), median of ``--runs``, for
  each texture mode (all, word, letter, walk) with one background per line. Bar: <= 1 s.
- page: the Type page rerun in Streamlit's AppTest after a text change (sidebar, caches, render,
  image encoding, widgets). Bar: <= 1 s.
- baseline (same process): the straightforward painting: texture and background drawn at the full
  canvas size (no working size), one full canvas per distinct texture; ``speedup`` = baseline / library.

The model is the shipped Letters CGN when it is there; otherwise a stand-in of the same shape
(a SmallCGN with 26 letter classes, native 64 px, two detail levels, random weights): speed does
not depend on how far training has got.

    python benchmarks/type_speed.py [--runs 5]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
TEXT = "COUNTERFACTUAL POSTER"  # 20 letters


def letters_model(folder: Path):
    """(model, folder or name, label): the shipped Letters CGN, else a saved stand-in of its shape."""
    from cgn_art import load_model, save_model
    from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig
    from cgn_art.typeset import LETTERS, letters_status

    if letters_status()[0]:
        return load_model(LETTERS, device="cpu"), LETTERS, "letters (shipped)"
    from cgn_art.data import letters as data

    names = data.class_names()
    torch.manual_seed(0)
    model = SmallCGN(SmallCGNConfig(variant="letters", shape_classes=names["shape"], texture_classes=names["texture"],
                                    background_classes=names["background"], native_size=64, detail_levels=2))
    path = save_model(model.eval(), folder / "letters-stand-in")
    return load_model(path, device="cpu"), str(path), "stand-in: letters-shaped SmallCGN, random weights"


def timed(fn, runs: int) -> float:
    """Median wall seconds of ``fn`` (after a warm-up run); CPU seconds go to CPU_TIMES."""
    fn()  # warm
    times, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    CPU_TIMES.append(statistics.median(cpu))
    return statistics.median(times)


CPU_TIMES: list[float] = []


def baseline(model, settings) -> None:
    """Texture and background painted at full canvas size, one canvas per distinct texture."""
    from cgn_art.mechanisms.base import to_pil
    from cgn_art.typeset.layout import arrange, split_text
    from cgn_art.typeset.render import box_of, fit_mask, glyph_masks, glyph_seeds, letter_classes, measure, texture_keys

    text = split_text(settings.text, letter_classes(model), None)
    seeds = glyph_seeds(settings, len(text.glyphs))
    w, h = settings.size
    side = max(w, h)
    layout = arrange(text, measure({"letters": model}, text, seeds, settings.truncation), w, h,
                     margin=settings.margin, align=settings.align, letter_size=0, tracking=settings.tracking,
                     word_space=settings.word_space, line_spacing=settings.line_spacing)
    with torch.no_grad():
        bg = model.mechanism("background", model.one_hot("background", [0]), model.noise("background", [0], 0.8, side),
                             side)[..., :h, :w].clone()
        weights, tex_seeds, key_of = texture_keys(model, settings, layout, seeds)
        masks = glyph_masks({"letters": model}, text, seeds, settings.truncation,
                            size=max(8, int(max(g.side for g in layout.glyphs)) + 1))["letters"]
        for g in layout.glyphs:
            k = key_of[g.index]
            fg = model.mechanism("texture", weights[k:k + 1], model.noise("texture", [tex_seeds[k]], 0.8, side), side)
            box, where = box_of(g, w, h)
            (rows, cols), (mr, mc) = where
            m = fit_mask(masks[g.index:g.index + 1], box)[..., mr, mc]
            region = bg[..., rows, cols]
            bg[..., rows, cols] = region + m * (fg[..., :h, :w][..., rows, cols] - region)
    to_pil(bg[0])


def page_time(source: str, runs: int) -> float:
    from streamlit.testing.v1 import AppTest

    os.chdir(ROOT)
    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=120).run()
    at.text_input(key="model_folder").input(source).run()
    at.switch_page("views/type.py").run()
    at.text_area(key="type_text").input(TEXT).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    # a new seed: the whole poster is drawn again (a text change would be the same work)
    times = []
    for i in range(runs):
        at.number_input(key="type_seed").set_value(1000 + i)
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert len(at.image) == 1
    return statistics.median(times)


def png(image) -> bytes:
    """The page's encoding (app/common.py quick_png): PNG at compression level 1."""
    import io

    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-page", action="store_true")
    args = parser.parse_args()
    from cgn_art.typeset import TypeSettings, render_poster

    with tempfile.TemporaryDirectory(prefix="cgn-art-type-bench-") as tmp:
        model, source, label = letters_model(Path(tmp))
        library = {}
        library_cpu = {}
        for mode in ("all", "word", "letter", "walk"):
            settings = TypeSettings(text=TEXT, format="portrait", texture_by=mode, background_by="line")
            library[mode] = timed(lambda s=settings: png(render_poster(model, s).image), args.runs)
            library_cpu[mode] = CPU_TIMES[-1]
        letter = TypeSettings(text=TEXT, format="portrait", texture_by="letter", background_by="all")
        ours = timed(lambda: png(render_poster(model, letter).image), args.runs)
        naive = timed(lambda: baseline(model, letter), max(1, args.runs // 2))
        figures = {
            "benchmark": "type_speed", "model": label, "size": "1080x1350", "letters": 20,
            "torch_threads": torch.get_num_threads(), "cpu_count": os.cpu_count(),
            "library_s_by_texture": {k: round(v, 3) for k, v in library.items()},
            "library_s_max": round(max(library.values()), 3), "bar_s": 1.0,
            "library_bar_met": max(library.values()) <= 1.0,
            "baseline_letter_s": round(naive, 3), "letter_s": round(ours, 3),
            "speedup_vs_baseline": round(naive / ours, 2),
            # On a shared machine wall time says little: CPU seconds (all threads) are what the work cost.
            "library_cpu_s_by_texture": {k: round(v, 3) for k, v in library_cpu.items()},
            "load_average": round(os.getloadavg()[0], 1),
        }
        print(json.dumps(figures), file=sys.stderr, flush=True)
        if not args.skip_page:
            page = page_time(source, args.runs)
            figures.update(page_s_median=round(page, 3), page_bar_met=page <= 1.0)
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
