"""The app in a real (headless, Debian) Chromium: pick a background, roll the seed, download the PNG."""
import re

import pytest
from playwright.sync_api import expect

from cgn_art.io import read_png_settings

pytestmark = pytest.mark.browser


def grid_src(page) -> str:
    return page.get_by_test_id("stImage").first.locator("img").get_attribute("src")


def test_mix_roll_and_download(page, app_server, model_dir, artifacts, wait_for_app):
    page.set_viewport_size({"width": 1400, "height": 1600})
    page.goto(app_server)
    expect(page.get_by_test_id("stImage")).to_have_count(5, timeout=60_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "browser-1-start.png", full_page=True)

    # The shipped weights may be untrained placeholders, whose classes all look alike: use the test model.
    folder = page.get_by_role("textbox", name="Model folder (optional)")
    folder.fill(str(model_dir))
    folder.press("Enter")
    expect(page.get_by_test_id("stSidebar").get_by_text("test-pattern", exact=True)).to_be_visible(timeout=30_000)
    wait_for_app(page)
    grid = page.get_by_test_id("stImage").first.locator("img")
    before = grid_src(page)

    page.get_by_role("combobox", name="Background").click()
    page.get_by_role("option", name="test background 3").click()
    expect(grid).not_to_have_attribute("src", before, timeout=30_000)
    expect(page.get_by_text("Background: test background 3")).to_be_visible()
    wait_for_app(page)
    page.screenshot(path=artifacts / "browser-2-background.png", full_page=True)

    seed = page.get_by_role("spinbutton", name="Seed")
    expect(seed).to_have_value("0")
    with_background = grid_src(page)
    page.get_by_role("button", name=re.compile(r"\bRoll$")).click()
    expect(seed).not_to_have_value("0", timeout=30_000)
    expect(grid).not_to_have_attribute("src", with_background, timeout=30_000)
    wait_for_app(page)
    rolled = int(seed.input_value())
    page.screenshot(path=artifacts / "browser-3-rolled.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download PNG").click()
    path = artifacts / download.value.suggested_filename
    download.value.save_as(path)
    settings = read_png_settings(path)
    assert path.name.startswith("cgn-test-pattern-shape0-texture0-background3-")
    assert settings["model"] == str(model_dir.resolve())  # what load_model takes back
    assert settings["background_class"] == 3
    assert settings["shape_seed"] == settings["texture_seed"] == settings["background_seed"] == rolled
    assert settings["size"] == 256 and settings["truncation"] == 1.0
