"""Grids of equal-sized tiles with class names, shared by the app's pages and the CLI."""
from __future__ import annotations

from PIL import Image, ImageDraw, ImageFont


def labelled_grid(tiles: list[Image.Image], columns: int, row_names: list[str], column_names: list[str],
                  gap: int = 2) -> Image.Image:
    """Paste equal-sized tiles into a grid with row names on the left and column names written upwards on top."""
    tile_w, tile_h = tiles[0].size
    font = ImageFont.load_default(size=max(10, min(16, tile_h // 3)))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    width_of = lambda text: int(measure.textlength(text, font=font))  # noqa: E731
    left = max(width_of(n) for n in row_names) + 8
    top = max(width_of(n) for n in column_names) + 8
    rows = -(-len(tiles) // columns)
    grid = Image.new("RGB", (left + columns * (tile_w + gap), top + rows * (tile_h + gap)), "white")
    draw = ImageDraw.Draw(grid)
    for i, tile in enumerate(tiles):
        grid.paste(tile.convert("RGB"), (left + (i % columns) * (tile_w + gap), top + (i // columns) * (tile_h + gap)))
    for r, name in enumerate(row_names):
        draw.text((left - 4, top + r * (tile_h + gap) + tile_h // 2), name, fill="black", font=font, anchor="rm")
    for c, name in enumerate(column_names):
        label = Image.new("RGB", (top, tile_w), "white")
        ImageDraw.Draw(label).text((4, tile_w // 2), name, fill="black", font=font, anchor="lm")
        grid.paste(label.rotate(90, expand=True), (left + c * (tile_w + gap), 0))
    return grid
