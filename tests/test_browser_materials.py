"""The Materials page in a real (headless, Debian) Chromium: photos in, a material saved, then used in the Mixer."""
import re

import numpy as np
import pytest
from PIL import Image
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def speckled_photo(path, seed: int):
    """A made-up photo of a reddish speckled stone (nothing shipped): blobs and grain."""
    rng = np.random.default_rng(seed)
    blobs = np.asarray(Image.fromarray((rng.random((24, 32)) * 255).astype(np.uint8)).resize((320, 240)), np.float32)
    grey = np.clip(0.6 * blobs / 255 + 0.4 * rng.random((240, 320)), 0, 1)
    rgb = np.stack([0.45 + 0.5 * grey, 0.15 + 0.3 * grey, 0.1 + 0.2 * grey], -1)
    Image.fromarray((rgb * 255).astype(np.uint8)).save(path)
    return path


def test_a_material_from_photos_is_saved_and_shows_in_the_mixer(page, app_server, artifacts, wait_for_app, tmp_path):
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(f"{app_server}/materials")
    expect(page.get_by_role("heading", name="Materials", exact=True)).to_be_visible(timeout=60_000)
    wait_for_app(page)
    page.get_by_role("textbox", name="Name").fill("red stone")
    page.get_by_role("textbox", name="Name").press("Enter")
    photos = [str(speckled_photo(tmp_path / f"stone{i}.png", i)) for i in range(3)]
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(photos)
    expect(page.get_by_text("1080 px, crisp (its own pixels)")).to_be_visible(timeout=60_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "page-materials.png", full_page=True)
    page.get_by_role("button", name="Save the texture").click()
    expect(page.get_by_text(re.compile(r"saved in the model 'my-letters'"))).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stSidebar").get_by_text("my-letters", exact=True)).to_be_visible(timeout=30_000)
    wait_for_app(page)

    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Mixer").click()
    expect(page.get_by_role("heading", name="Mixer")).to_be_visible(timeout=30_000)
    wait_for_app(page)
    page.get_by_role("combobox", name="Texture", exact=True).click()
    page.get_by_role("option", name="red stone").click()
    expect(page.get_by_text(re.compile(r"texture red stone"))).to_be_visible(timeout=30_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "page-mixer-material.png", full_page=True)
