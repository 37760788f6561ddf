"""The app in a real (headless, Debian) Chromium: Home, then the Mixer end to end, then a shared link."""
import re

import pytest
from playwright.sync_api import expect

from cgn_art.io import read_png_settings

pytestmark = pytest.mark.browser


def composite(page):
    """The large composite: the one image whose caption names all three classes."""
    return (page.get_by_test_id("stImage").filter(has_text=re.compile(r"^shape .* · texture .* · background "))
            .locator("img"))


def test_home_gallery_and_navigation(page, app_server, artifacts, wait_for_app):
    page.set_viewport_size({"width": 1400, "height": 1400})
    page.goto(app_server)
    expect(page.get_by_test_id("stImage")).to_have_count(8, timeout=60_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "page-home.png", full_page=True)
    first = page.get_by_test_id("stImage").first.locator("img").get_attribute("src")
    page.get_by_role("button", name=re.compile(r"Shuffle$")).click()
    expect(page.get_by_test_id("stImage").first.locator("img")).not_to_have_attribute("src", first, timeout=30_000)
    page.get_by_test_id("stSidebarNav").get_by_role("link", name="Mixer").click()
    expect(page.get_by_role("heading", name="Mixer")).to_be_visible(timeout=30_000)


def test_mixer_end_to_end_and_shared_link(page, app_server, model_dir, artifacts, wait_for_app):
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(f"{app_server}/mixer")
    expect(composite(page)).to_have_count(1, timeout=60_000)
    wait_for_app(page)

    # The test model: its classes all look different, whatever state the shipped weights are in.
    folder = page.get_by_role("textbox", name="Model folder (optional)")
    folder.fill(str(model_dir))
    folder.press("Enter")
    expect(page.get_by_test_id("stSidebar").get_by_text("test-pattern", exact=True)).to_be_visible(timeout=30_000)
    wait_for_app(page)
    image = composite(page)
    start = image.get_attribute("src")

    page.get_by_role("combobox", name="Texture", exact=True).click()
    page.get_by_role("option", name="test texture 3").click()
    expect(image).not_to_have_attribute("src", start, timeout=30_000)
    page.get_by_role("combobox", name="Background", exact=True).click()
    page.get_by_role("option", name="test background 2").click()
    expect(page.get_by_text("background test background 2")).to_be_visible(timeout=30_000)
    wait_for_app(page)
    picked = image.get_attribute("src")

    seed = page.get_by_role("spinbutton", name="Shape seed")
    expect(seed).to_have_value("0")
    page.get_by_role("button", name=re.compile(r"Roll$")).first.click()
    expect(seed).not_to_have_value("0", timeout=30_000)
    expect(image).not_to_have_attribute("src", picked, timeout=30_000)
    wait_for_app(page)
    rolled = int(seed.input_value())
    page.screenshot(path=artifacts / "page-mixer.png", full_page=True)

    page.get_by_test_id("stButtonGroup").get_by_text("vary texture", exact=True).click()
    expect(page.get_by_role("button", name="Download grid (ZIP)")).to_be_visible(timeout=30_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "page-mixer-grid.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download PNG").click()
    path = artifacts / download.value.suggested_filename
    download.value.save_as(path)
    settings = read_png_settings(path)
    assert path.name.startswith("cgn-test-pattern-shape0-texture3-background2-")
    assert settings["model"] == str(model_dir.resolve())
    assert (settings["texture_class"], settings["background_class"], settings["shape_seed"]) == (3, 2, rolled)

    # The address bar holds the mix: a new tab on the same link shows the same image.
    shared = page.url
    assert f"shape_seed={rolled}" in shared and "texture=3" in shared
    shown = image.get_attribute("src")
    other = page.context.new_page()
    other.set_viewport_size({"width": 1400, "height": 1800})
    other.goto(shared)
    expect(composite(other)).to_have_count(1, timeout=60_000)
    folder = other.get_by_role("textbox", name="Model folder (optional)")  # folders stay out of links
    folder.fill(str(model_dir))
    folder.press("Enter")
    expect(other.get_by_test_id("stSidebar").get_by_text("test-pattern", exact=True)).to_be_visible(timeout=30_000)
    wait_for_app(other)
    expect(other.get_by_role("spinbutton", name="Shape seed")).to_have_value(str(rolled))
    assert composite(other).get_attribute("src") == shown


STALE_WATCH = """() => {
    // Streamlit marks an element stale (data-stale="true") while a rerun that will redraw it runs,
    // often so briefly that only the mutation record shows it: any change of the attribute counts
    window.__staleTitle = false;
    const title = [...document.querySelectorAll('h1')].find(h => h.textContent.includes('Mixer'))
        .closest('[data-testid="stElementContainer"]');
    new MutationObserver(changes => { if (changes.length) window.__staleTitle = true; })
        .observe(title, {attributes: true, attributeFilter: ['data-stale']});
}"""


def test_mixer_change_reruns_only_the_mix(page, app_server, wait_for_app):
    """A change of a Mixer control reruns and redraws the mix, not the page around it (a fragment;
    README, "Reliability", has the load benchmark with and without it)."""
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(f"{app_server}/mixer")
    expect(composite(page)).to_have_count(1, timeout=60_000)
    wait_for_app(page)
    page.evaluate(STALE_WATCH)
    image = composite(page)
    start = image.get_attribute("src")
    page.get_by_role("button", name=re.compile(r"Roll$")).first.click()
    expect(image).not_to_have_attribute("src", start, timeout=30_000)
    wait_for_app(page)
    assert page.evaluate("window.__staleTitle") is False

    # the watch can see a rerun of the whole page: Streamlit's "Rerun" (the R key)
    page.locator("body").press("r")
    page.wait_for_function("window.__staleTitle === true", timeout=30_000)
    wait_for_app(page)
