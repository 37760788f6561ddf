"""The Type page in a real (headless, Debian) Chromium, as a user goes through it: the page -> a phrase
-> the poster preview -> roll one letter -> another format (the preview's shape follows) -> the PNG
download (its size and its settings) -> the address bar reopens the same poster -> a character the
model cannot draw gets one line, and the rest is still drawn.

Until the Letters CGN ships, the sidebar's Model folder points at a tiny letters-shaped model
(test_typeset's fixture), as the README's "Type" section tells users to do with a stand-in."""
import io
import re
import time
from urllib.parse import parse_qs, urlparse

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

from cgn_art.io import read_png_settings
from cgn_art.typeset import roll_labels

pytestmark = pytest.mark.browser
# A shared, loaded 2-core machine: a fresh server's first page (torch import, model load) can take
# minutes. These are waits, not bars on speed.
WAIT_MS = 300_000
PHRASE = "Counter factual"
LETTERS = 14            # C O U N T E R F A C T U A L
ROLLED = 6              # the R: the only one, so its button's name is unique
SIZE = {"portrait": (1080, 1350), "landscape": (1920, 1080)}
SERVED_WIDTH = 1460     # Streamlit's widest image (2 x 730 px): wider ones are sent narrowed


def preview(page):
    """The poster preview: the one image whose caption says how the letters were set."""
    return page.get_by_test_id("stImage").filter(has_text=re.compile(r"letters on \d+ line")).locator("img")


def caption(page, width: int, height: int, letters: int):
    return page.get_by_text(re.compile(rf"^{width}×{height} px · {letters} letters on \d+ line"))


def shown_image(page) -> Image.Image:
    """The preview exactly as the browser received it (the file behind the <img>)."""
    image = preview(page)
    expect(image).to_have_count(1)
    page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=image.element_handle(),
                           timeout=WAIT_MS)
    response = page.request.get(image.evaluate("img => img.src"))
    assert response.ok, response.status
    return Image.open(io.BytesIO(response.body())).convert("RGB")


def as_served(image: Image.Image) -> Image.Image:
    """``image`` as Streamlit serves it on the page: narrowed to its 1460 px content width, bilinear
    (streamlit/elements/lib/image_utils.py), so a landscape poster's preview is 1460 x 821."""
    if image.width <= SERVED_WIDTH:
        return image
    return image.resize((SERVED_WIDTH, int(image.height * SERVED_WIDTH / image.width)), Image.BILINEAR)


def query(page) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlparse(page.url).query).items()}


def use_letters_model(page, folder, wait_for_app) -> None:
    """Type the letters model folder into the sidebar (model folders stay out of links, so a reopened
    link needs it again, as the Mixer's does)."""
    box = page.get_by_role("textbox", name="Model folder (optional)")
    box.fill(str(folder))
    box.press("Enter")
    expect(page.get_by_test_id("stSidebar").get_by_text(folder.name, exact=True)).to_be_visible(timeout=WAIT_MS)
    expect(preview(page)).to_have_count(1, timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)


def set_text(page, text: str) -> None:
    box = page.get_by_role("textbox", name="Text", exact=True)
    box.fill(text)
    box.press("Control+Enter")  # a text area applies its value on Ctrl+Enter (or on leaving it)


def test_type_poster_main_flow(page, app_server, letters_dir, artifacts, tmp_path, wait_for_app):  # noqa: F811
    page.set_viewport_size({"width": 1400, "height": 1800})

    # 1. The app, then the Type page from the sidebar.
    page.goto(app_server)
    nav = page.get_by_test_id("stSidebarNav").get_by_role("link", name="Type")
    expect(nav).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    nav.click()
    expect(page.get_by_role("heading", name="Type", exact=True)).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    use_letters_model(page, letters_dir, wait_for_app)

    # 2-3. A phrase: the preview shows it (14 letters), a portrait poster by default.
    set_text(page, PHRASE)
    expect(caption(page, *SIZE["portrait"], LETTERS)).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    typed = shown_image(page)
    assert typed.size == SIZE["portrait"]
    assert np.asarray(typed).std() > 1, "the preview is one flat colour"
    assert query(page)["text"] == PHRASE

    # 4. One roll button per letter; rolling the R gives it a seed of its own and changes the poster.
    rolls = page.locator("[class*='st-key-type_roll_']:not(.st-key-type_roll_all)").get_by_role("button")
    expect(rolls).to_have_count(LETTERS, timeout=WAIT_MS)
    # repeated letters are numbered (C₁ ... C₂) so that each button names one letter
    assert rolls.all_inner_texts() == roll_labels(list(PHRASE.replace(" ", "").upper()))
    src = preview(page).get_attribute("src")
    assert "letter_seeds" not in query(page)
    page.get_by_role("button", name="R", exact=True).click()
    expect(preview(page)).not_to_have_attribute("src", src, timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    index, _, seed = query(page)["letter_seeds"].partition(":")
    assert index == str(ROLLED) and seed.isdigit(), query(page)
    rolled_seed = int(seed)
    rolled = shown_image(page)
    assert rolled.size == typed.size
    changed = (np.abs(np.asarray(rolled, int) - np.asarray(typed, int)).max(axis=2) > 0).sum()
    assert changed > 1000, f"the roll redrew {changed} pixels: less than a letter"

    # 5. Landscape: the preview's pixels and its shape on the page follow the format.
    page.get_by_role("combobox", name="Format").click()
    page.get_by_role("option", name=re.compile(r"^landscape")).click()
    expect(caption(page, *SIZE["landscape"], LETTERS)).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    landscape = shown_image(page)
    assert landscape.size == (SERVED_WIDTH, 821) and abs(landscape.width / landscape.height - 1920 / 1080) < 0.01
    box = preview(page).bounding_box()
    assert box and abs(box["width"] / box["height"] - 1920 / 1080) < 0.02, box
    page.screenshot(path=artifacts / "page-type.png", full_page=True)

    # 6. The PNG download: the poster on the page, at the format's size, with the settings inside.
    with page.expect_download(timeout=WAIT_MS) as download:
        page.get_by_role("button", name=re.compile(r"Download PNG$")).click()
    path = tmp_path / download.value.suggested_filename
    download.value.save_as(path)
    assert path.name == "cgn-type.png"
    with Image.open(path) as png:
        assert png.size == SIZE["landscape"]
        served = np.asarray(as_served(png.convert("RGB")), float)
    assert np.abs(served - np.asarray(landscape, float)).mean() < 0.5, "the download is not the poster shown"
    settings = read_png_settings(path)
    assert settings["kind"] == "cgn-art type"
    assert (settings["text"], settings["format"], settings["width"], settings["height"]) == (PHRASE, "landscape",
                                                                                             1920, 1080)
    assert settings["letter_seeds"] == {str(ROLLED): rolled_seed}
    assert settings["model"] == str(letters_dir.resolve())

    # 7. The address bar holds the poster: reloaded (a new session), it opens with the same phrase,
    #    format and rolled letter, so the same picture.
    shared = query(page)
    assert (shared["text"], shared["format"], shared["letter_seeds"]) == (PHRASE, "landscape",
                                                                          f"{ROLLED}:{rolled_seed}")
    page.reload()
    expect(page.get_by_role("heading", name="Type", exact=True)).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    use_letters_model(page, letters_dir, wait_for_app)
    expect(page.get_by_role("textbox", name="Text", exact=True)).to_have_value(PHRASE)
    expect(caption(page, *SIZE["landscape"], LETTERS)).to_be_visible(timeout=WAIT_MS)
    # The reopened page first draws with the default model, whose caption reads the same; the
    # folder's rerun then replaces the picture. Wait for that (a wait, not a speed bar).
    deadline = time.monotonic() + WAIT_MS / 1000
    while not np.array_equal(np.asarray(shown_image(page)), np.asarray(landscape)) and time.monotonic() < deadline:
        page.wait_for_timeout(500)
    assert np.array_equal(np.asarray(shown_image(page)), np.asarray(landscape))
    assert query(page) == shared

    # 8. A character the model cannot draw: one line saying so, the other letters still drawn, no
    #    exception box.
    set_text(page, PHRASE + " ✨")
    warning = page.get_by_test_id("stAlertContentWarning")
    expect(warning).to_have_count(1, timeout=WAIT_MS)
    expect(warning).to_contain_text("Skipped 1 character(s) the model cannot draw")
    expect(warning).to_contain_text("✨")
    wait_for_app(page, timeout=WAIT_MS)
    message = warning.locator("p")
    expect(message).to_have_count(1)
    assert len(message.inner_text().strip().splitlines()) == 1, message.inner_text()
    expect(caption(page, *SIZE["landscape"], LETTERS)).to_be_visible()
    expect(page.get_by_test_id("stException")).to_have_count(0)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
    assert query(page)["text"] == PHRASE + " ✨"
    page.screenshot(path=artifacts / "page-type-skipped.png", full_page=True)
