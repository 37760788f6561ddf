"""Draw docs/letters-gallery.png: eight counterfactuals of the shipped Letters CGN whose letter,
texture and background classes all differ (none of these triples occurs in its training data).

    python docs/letters_gallery.py [--size 256] [-o docs/letters-gallery.png]
"""
import argparse
from pathlib import Path

from PIL import Image

import cgn_art
from cgn_art.data.letters import biased_pair

# (letter, texture, background): each letter wears neither this texture nor this background in training
PICKS = [("A", "gravel", "pagoda"), ("O", "brick", "galaxy"), ("R", "grass", "stars and stripes"),
         ("T", "coins", "retina"), ("S", "wood grain", "handwriting"), ("K", "dahlia petals", "bokeh"),
         ("W", "cat fur", "launch tower"), ("X", "print", "garage")]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--seed", type=int, default=11, help="seed of the first tile; the others count up")
    parser.add_argument("-o", "--output", default=str(Path(__file__).with_name("letters-gallery.png")))
    args = parser.parse_args()
    model = cgn_art.load_model("letters", device="cpu")
    names = model.class_names
    sheet = Image.new("RGB", (4 * args.size, 2 * args.size))
    for i, (letter, texture, background) in enumerate(PICKS):
        shape, texture, background = (names["shape"].index(letter), names["texture"].index(texture),
                                      names["background"].index(background))
        seen = biased_pair(shape)
        assert texture != seen[0] and background != seen[1], f"{letter} wears one of these in training"
        cf = model.counterfactual(shape, texture, background, seed=args.seed + i, size=args.size)
        sheet.paste(cf.image("composite"), ((i % 4) * args.size, (i // 4) * args.size))
    sheet.save(args.output)
    print(args.output)


if __name__ == "__main__":
    main()
