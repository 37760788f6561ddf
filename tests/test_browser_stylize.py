"""The Texture Stylizer in a real (headless, Debian) Chromium: upload a photo -> stylize -> the result
image -> download the PNG (its settings inside); a bad file and a file over the upload cap get a
message and the page keeps working."""
import re

import pytest
from playwright.sync_api import expect

from cgn_art.images import demo_photo
from cgn_art.io import read_png_settings

pytestmark = pytest.mark.browser


@pytest.fixture
def photo_files(tmp_path):
    photo = tmp_path / "cat.jpg"
    demo_photo("chelsea").save(photo, quality=90)
    fake = tmp_path / "notes.jpg"
    fake.write_text("this is a shopping list, not a photo\n")
    huge = tmp_path / "huge.png"
    with open(huge, "wb") as out:  # just over the 50 MB cap in .streamlit/config.toml
        out.truncate(51 * 1024 * 1024)
    return photo, fake, huge


def slider_to_start(page, label: str) -> None:
    """Move a slider (or select slider) to its smallest value with the keyboard."""
    page.get_by_role("slider", name=label).first.focus()
    page.keyboard.press("Home")


def test_upload_stylize_download(page, app_server, artifacts, wait_for_app, photo_files):
    photo, fake, huge = photo_files
    page.set_viewport_size({"width": 1400, "height": 2200})
    page.goto(f"{app_server}/stylizer")
    expect(page.get_by_role("heading", name="Texture Stylizer")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stImage")).to_have_count(2, timeout=60_000)  # demo photo + texture preview
    wait_for_app(page)

    page.get_by_text("My photo", exact=True).click()
    uploader = page.get_by_test_id("stFileUploaderDropzoneInput")
    expect(uploader).to_have_count(1, timeout=30_000)
    wait_for_app(page)

    uploader.set_input_files(str(huge))  # over the cap: Streamlit refuses it in the browser
    expect(page.get_by_text(re.compile(r"File must be 50(\.0)?\s?MB or smaller"))).to_be_visible(timeout=30_000)

    uploader.set_input_files(str(fake))
    expect(page.get_by_text("notes.jpg: is not an image")).to_be_visible(timeout=30_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "stylizer-bad-upload.png", full_page=True)

    uploader.set_input_files(str(photo))
    expect(page.get_by_text(re.compile(r"^Photo: cat\.jpg"))).to_be_visible(timeout=30_000)
    wait_for_app(page)
    page.get_by_role("combobox", name="Texture class").click()
    page.get_by_role("option", name="coins", exact=True).click()
    expect(page.get_by_text(re.compile(r"^Texture: coins"))).to_be_visible(timeout=30_000)
    wait_for_app(page)
    slider_to_start(page, "Size (px)")
    expect(page.get_by_role("slider", name="Size (px)").first).to_have_attribute("aria-valuetext", "256",
                                                                                  timeout=30_000)
    wait_for_app(page)
    page.get_by_text("Optimisation", exact=True).click()
    slider_to_start(page, "Steps")
    wait_for_app(page)

    page.get_by_role("button", name=re.compile(r"Stylize$")).click()
    after = page.get_by_test_id("stImage").filter(has_text=re.compile(r"^After \(256 x 170"))
    expect(after).to_have_count(1, timeout=120_000)
    wait_for_app(page)
    page.screenshot(path=artifacts / "stylizer-result.png", full_page=True)

    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download PNG").click()
    path = artifacts / "stylizer-download.png"
    download_info.value.save_as(path)
    settings = read_png_settings(path)
    assert settings["photo"] == "cat.jpg" and settings["texture"] == "coins" and settings["size"] == 256
