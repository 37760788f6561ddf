"""Reading user photos: odd-but-valid files become upright RGB images, bad files one clear CgnArtError."""
from __future__ import annotations

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from cgn_art.errors import CgnArtError
from cgn_art.images import DEMO_PHOTOS, demo_photo, photo_source, read_image


def encoded(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def gradient(width=64, height=48) -> Image.Image:
    x = np.linspace(0, 255, width)[None, :].repeat(height, 0)
    y = np.linspace(0, 255, height)[:, None].repeat(width, 1)
    return Image.fromarray(np.stack([x, y, 255 - x], -1).astype(np.uint8))


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims ``width`` x ``height`` (a bomb's first bytes) with almost no data."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 10)) + chunk(b"IEND", b"")


def test_plain_rgb_photo_round_trips_from_path_bytes_and_file(tmp_path):
    image = gradient()
    path = tmp_path / "photo.png"
    image.save(path)
    for source in (path, str(path), path.read_bytes(), io.BytesIO(path.read_bytes())):
        out = read_image(source)
        assert out.mode == "RGB" and out.size == (64, 48)
        assert np.array_equal(np.asarray(out), np.asarray(image))


def test_exif_orientation_is_applied():
    image = gradient(64, 48)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to view": what a phone writes for a portrait
    out = read_image(encoded(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.size == (48, 64)
    # the top-left of the upright image is the bottom-left of the stored one (dark red, bright y)
    expected = np.asarray(image.transpose(Image.Transpose.ROTATE_270), dtype=float)
    assert np.abs(np.asarray(out, dtype=float) - expected).mean() < 6


def test_cmyk_jpeg_becomes_rgb():
    cmyk = gradient().convert("CMYK")
    out = read_image(encoded(cmyk, "JPEG", quality=95))
    assert out.mode == "RGB"
    assert np.abs(np.asarray(out, float) - np.asarray(gradient(), float)).mean() < 12


def test_16bit_greyscale_png_is_scaled_not_clipped():
    array = np.linspace(0, 65535, 64 * 48).reshape(48, 64).astype(np.uint16)
    out = np.asarray(read_image(encoded(Image.fromarray(array), "PNG")))
    assert out.shape == (48, 64, 3)
    assert out.min() == 0 and out.max() == 255
    assert abs(out.mean() - 127.5) < 2  # clipping at 255 would make the mean ~254


def png_16bit_rgb(array: np.ndarray) -> bytes:
    """A 16-bit RGB PNG written by hand (Pillow cannot write one)."""
    height, width, _ = array.shape
    rows = b"".join(b"\0" + array[y].astype(">u2").tobytes() for y in range(height))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def test_16bit_rgb_png():
    array = np.asarray(gradient(), np.uint16) * 257
    out = read_image(png_16bit_rgb(array))
    assert out.mode == "RGB" and np.abs(np.asarray(out, float) - np.asarray(gradient(), float)).max() <= 1


def test_palette_png_with_transparency_flattens_on_white():
    image = Image.new("P", (32, 32), 0)
    image.putpalette([0, 0, 0, 255, 0, 0] + [0] * 762)
    image.paste(1, (0, 0, 16, 32))  # left half red, right half palette index 0 = black, transparent
    out = np.asarray(read_image(encoded(image, "PNG", transparency=0)))
    assert tuple(out[5, 5]) == (255, 0, 0)
    assert tuple(out[5, 25]) == (255, 255, 255)


def test_rgba_and_greyscale_alpha_flatten_on_white():
    rgba = Image.new("RGBA", (16, 16), (0, 0, 0, 0))
    assert tuple(np.asarray(read_image(encoded(rgba, "PNG")))[0, 0]) == (255, 255, 255)
    la = Image.new("LA", (16, 16), (10, 255))
    assert tuple(np.asarray(read_image(encoded(la, "PNG")))[0, 0]) == (10, 10, 10)


def test_animated_gif_gives_its_first_frame():
    frames = [Image.new("RGB", (20, 20), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    data = encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    assert Image.open(io.BytesIO(data)).n_frames == 2
    out = np.asarray(read_image(data))
    assert out[0, 0, 0] > 200 and out[0, 0, 2] < 50


def test_greyscale_and_one_bit():
    assert read_image(encoded(Image.new("L", (16, 16), 77), "PNG")).getpixel((0, 0)) == (77, 77, 77)
    assert read_image(encoded(Image.new("1", (16, 16), 1), "PNG")).getpixel((0, 0)) == (255, 255, 255)


def test_webp():
    assert read_image(encoded(gradient(), "WEBP")).size == (64, 48)


@pytest.mark.parametrize("data, words", [
    (b"hello, this is not a photo\n" * 20, "not an image"),
    (b"\xff\xd8\xff\xe0" + b"\x00" * 40, "not an image"),
    (png_header_only(30000, 30000), "megapixels"),
])
def test_bad_files_get_one_clear_message(data, words):
    with pytest.raises(CgnArtError, match=words):
        read_image(data, name="upload.jpg")


def test_decompression_bomb_is_refused_before_decoding():
    # Just over our own limit but under Pillow's: our check says the size.
    with pytest.raises(CgnArtError, match="7000 x 7000"):
        read_image(png_header_only(7000, 7000), name="big.png")
    # Header says 30000 x 30000 (900 MP); the refusal must come from the header, not a 2.7 GB decode.
    with pytest.raises(CgnArtError, match="900 megapixels.*at most 40 megapixels"):
        read_image(png_header_only(30000, 30000), name="bomb.png")


def test_truncated_and_corrupt_files(tmp_path):
    data = encoded(gradient(256, 256), "JPEG", quality=95)
    with pytest.raises(CgnArtError, match="damaged or cut short"):
        read_image(data[: len(data) // 2], name="cut.jpg")
    png = bytearray(encoded(gradient(), "PNG"))
    png[60:80] = b"\x00" * 20  # inside the pixel data: bad CRC / zlib stream
    with pytest.raises(CgnArtError, match="cut.png|damaged"):
        read_image(bytes(png), name="cut.png")


def test_text_file_renamed_jpg(tmp_path):
    path = tmp_path / "notes.jpg"
    path.write_text("shopping list: eggs, milk\n")
    with pytest.raises(CgnArtError, match="notes.jpg: is not an image"):
        read_image(path)


def test_tiny_image_and_missing_file(tmp_path):
    with pytest.raises(CgnArtError, match="only 1 x 1 pixels"):
        read_image(encoded(Image.new("RGB", (1, 1)), "PNG"), name="dot.png")
    with pytest.raises(CgnArtError, match="no such file"):
        read_image(tmp_path / "missing.png")
    with pytest.raises(CgnArtError, match="folder"):
        read_image(tmp_path)


def test_demo_photos_load_offline():
    for name in DEMO_PHOTOS:
        image = demo_photo(name)
        assert image.mode == "RGB" and min(image.size) >= 256
    assert photo_source("demo:chelsea").size == demo_photo("chelsea").size
    with pytest.raises(CgnArtError, match="choose one of"):
        demo_photo("eagle")
