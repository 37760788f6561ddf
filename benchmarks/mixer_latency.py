"""Server time of the Mixer page from a control change to the new 512 px composite (one JSON line).

Drives the real page in Streamlit's AppTest (the whole script rerun: sidebar, model cache, render,
image encoding, widgets) at 512 px with the shipped model, changing one control per run (classes,
seeds, truncation, in turn). Baseline in the same process: the bare library call that draws the
same 512 px counterfactual, so ``page_vs_library`` is what the page adds on top of the model.
AppTest also spends time turning the page into protobuf messages, so these figures overstate a
real server's time a little.

    python benchmarks/mixer_latency.py [--changes 40]
"""
import argparse
import json
import os
import statistics
import time
from pathlib import Path

import torch
from streamlit.testing.v1 import AppTest

import cgn_art
from cgn_art import mixing

ROOT = Path(__file__).resolve().parents[1]


def changes(at: AppTest, n: int):
    """Yield n (description, widget change) pairs that each alter the composite."""
    for i in range(n):
        kind = i % 6
        if kind < 3:
            mechanism = ("shape", "texture", "background")[kind]
            box = at.selectbox(key=f"mix_{mechanism}")
            yield f"{mechanism} class", lambda box=box, i=i: box.select_index((box.index + 1 + i) % len(box.options))
        elif kind < 5:
            mechanism = ("shape", "background")[kind - 3]
            yield f"{mechanism} seed", lambda m=mechanism, i=i: at.number_input(key=f"mix_{m}_seed").set_value(1000 + i)
        else:
            yield "truncation", lambda i=i: at.slider(key="mix_truncation").set_value(0.5 + 0.05 * (i % 10))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=40)
    args = parser.parse_args()
    os.chdir(ROOT)

    at = AppTest.from_file(str(ROOT / "app" / "Home.py"), default_timeout=120)
    at.switch_page("views/mixer.py").run()
    at.select_slider(key="mix_size").set_value(512).run()
    at.run()  # warm: model loaded, class thumbnails cached
    assert not at.exception, at.exception
    page_ms, by_kind = [], {}
    for kind, change in changes(at, args.changes):
        change()
        start = time.perf_counter()
        at.run()
        elapsed = (time.perf_counter() - start) * 1000
        assert not at.exception and not at.error, (at.exception, at.error)
        page_ms.append(elapsed)
        by_kind.setdefault(kind, []).append(elapsed)

    model = cgn_art.load_model("wildlife", device="auto")
    library_ms = []
    for i in range(args.changes):
        mix = mixing.MixSettings(shape=i % 10, texture=(i * 3) % 10, background=(i * 7) % 10, shape_seed=i,
                                 size=512)
        start = time.perf_counter()
        mixing.render(model, mix).image("composite")
        library_ms.append((time.perf_counter() - start) * 1000)

    page, library = statistics.median(page_ms), statistics.median(library_ms)
    print(json.dumps({
        "model": "wildlife", "size": 512, "device": str(model.device), "threads": torch.get_num_threads(),
        "changes": len(page_ms), "page_ms_median": round(page, 1),
        "page_ms_p90": round(sorted(page_ms)[int(0.9 * (len(page_ms) - 1))], 1),
        "page_ms_by_control": {k: round(statistics.median(v), 1) for k, v in by_kind.items()},
        "library_render_ms_median": round(library, 1), "page_vs_library": round(page / library, 2),
        "target_ms": 150,
    }))


if __name__ == "__main__":
    main()
