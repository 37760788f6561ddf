"""Reliability (issue 15) in a real (headless, Debian) Chromium: an animated GIF is a photo the
Stylizer takes. (Cancel with a second browser waiting in line, and a closed tab's upload folder,
are tested in AppTest, tests/test_reliability_app.py; their browser versions did not pass yet.)"""
from __future__ import annotations

import os
import re

import pytest
from conftest import free_port, start_server, stop_server, streamlit_command
from PIL import Image
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def one_slot_server(tmp_path_factory):
    """The app with one heavy job at a time (as on a 2-core machine), and its server process."""
    port = free_port()
    before = os.environ.get("CGN_ART_HEAVY_JOBS")
    os.environ["CGN_ART_HEAVY_JOBS"] = "1"
    try:
        process = start_server(streamlit_command(port), port, tmp_path_factory.mktemp("server") / "server.log")
    finally:
        if before is None:
            os.environ.pop("CGN_ART_HEAVY_JOBS")
        else:
            os.environ["CGN_ART_HEAVY_JOBS"] = before
    yield f"http://127.0.0.1:{port}", process
    stop_server(process)


def test_an_animated_gif_is_a_photo_the_stylizer_takes(page, one_slot_server, tmp_path, wait_for_app):
    url, _server = one_slot_server
    frames = [Image.new("RGB", (80, 60), colour) for colour in ("orange", "teal")]
    gif = tmp_path / "dancing.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    page.goto(f"{url}/stylizer")
    expect(page.get_by_role("heading", name="Texture Stylizer")).to_be_visible(timeout=300_000)
    wait_for_app(page, timeout=300_000)
    page.get_by_text("My photo", exact=True).click()
    expect(page.get_by_text(re.compile(r"Upload a photo \(JPEG, PNG, WebP, GIF"))).to_be_visible(timeout=300_000)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(gif)
    expect(page.get_by_text(re.compile(r"^Photo: dancing\.gif \(80 x 60\)"))).to_be_visible(timeout=300_000)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
