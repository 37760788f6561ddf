"""Reliability (issue 15) in a real (headless, Debian) Chromium: Cancel a render, wait in line behind
another browser's render, upload an animated GIF, and a closed tab's files go with it."""
from __future__ import annotations

import os
import re
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from conftest import death, free_port, song_box, start_server, stop_server, streamlit_command
from PIL import Image
from playwright.sync_api import expect

WAIT_MS = 300_000  # waits for a fresh server on a shared 2-core machine, not bars on its speed

pytestmark = pytest.mark.browser


@pytest.fixture(scope="module")
def one_slot_server(tmp_path_factory):
    """The app with one heavy job at a time (as on a 2-core machine), and its server process."""
    port = free_port()
    log = tmp_path_factory.mktemp("server") / "server.log"
    before = os.environ.get("CGN_ART_HEAVY_JOBS")
    os.environ["CGN_ART_HEAVY_JOBS"] = "1"
    try:
        process = start_server(streamlit_command(port), port, log)
    finally:
        if before is None:
            os.environ.pop("CGN_ART_HEAVY_JOBS")
        else:
            os.environ["CGN_ART_HEAVY_JOBS"] = before
    yield f"http://127.0.0.1:{port}", process
    died = death(process, log)
    stop_server(process)
    if died:
        raise RuntimeError(died)


def open_dance(page, url, wait_for_app):
    page.set_viewport_size({"width": 1400, "height": 2400})
    page.goto(f"{url}/dance")
    expect(page.get_by_text(re.compile(r"20\.0 s · 1\d\d\.\d BPM"))).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)


def slide(page, label: str, steps: int, wait_for_app) -> None:
    """Move a select slider ``steps`` stops to the right with the keyboard, as a user can."""
    slider = page.get_by_role("slider", name=label)
    slider.focus()
    for _ in range(steps):
        slider.press("ArrowRight")
    wait_for_app(page, timeout=WAIT_MS)


def test_cancel_a_render_and_wait_in_line_behind_another_browser(page, context, one_slot_server, wait_for_app,
                                                                  artifacts):
    url, _server = one_slot_server
    other = context.browser.new_page()
    open_dance(page, url, wait_for_app)
    open_dance(other, url, wait_for_app)
    # The largest, smoothest render (1080 px, 30 fps: 600 frames) holds the one slot long enough for
    # the second browser to queue behind it; it is cancelled, not waited for.
    slide(page, "Video size (px)", 2, wait_for_app)
    slide(page, "Frames per second", 1, wait_for_app)

    page.get_by_role("button", name="Render the video").click()
    expect(page.get_by_text(re.compile(r"Rendered frame \d+ of 600"))).to_be_visible(timeout=WAIT_MS)
    other.get_by_role("button", name=re.compile(r"Preview \(5 s, small\)")).click()
    expect(other.get_by_text(re.compile(r"Waiting in line: you are number 1"))).to_be_visible(timeout=WAIT_MS)
    other.screenshot(path=str(artifacts / "reliability-waiting-in-line.png"), full_page=True)

    other.get_by_role("button", name="Cancel").click()  # leaves the line
    expect(other.get_by_text("Render cancelled: no video was written.")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_text(re.compile(r"Rendered frame \d+ of 600"))).to_be_visible()  # still running
    page.get_by_role("button", name="Cancel").click()  # stops the running render
    expect(page.get_by_text("Render cancelled: no video was written.")).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stProgress")).to_have_count(0)
    expect(page.locator("video")).to_have_count(0)
    expect(page.get_by_role("button", name="Render the video")).to_be_enabled()
    page.screenshot(path=str(artifacts / "reliability-cancelled.png"), full_page=True)
    other.close()


def session_folders(server_pid: int) -> list[Path]:
    return list(Path(tempfile.gettempdir()).glob(f"cgn-art-session-{server_pid}-*"))


def test_a_closed_tab_takes_its_upload_folder_along(context, one_slot_server, wait_for_app, tmp_path):
    url, server = one_slot_server
    song = tmp_path / "tab.wav"
    sf.write(song, (0.3 * np.sin(np.arange(3 * 22050) / 7)).astype(np.float32), 22050)
    page = context.new_page()
    page.goto(f"{url}/dance")
    expect(page.get_by_role("heading", name="Latent Dance")).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    page.get_by_text("Upload a song").click()
    expect(page.get_by_text("Upload a song to dance to")).to_be_visible(timeout=WAIT_MS)
    song_box(page).set_input_files(song)
    expect(page.get_by_text(re.compile(r"3\.0 s · "))).to_be_visible(timeout=WAIT_MS)
    uploads = [f for folder in session_folders(server.pid) for f in folder.glob("upload-*/tab.wav")]
    assert len(uploads) == 1
    page.close()
    deadline = time.monotonic() + 300  # a wait for the janitor's sweeps, not a speed requirement
    while uploads[0].exists() and time.monotonic() < deadline:
        time.sleep(0.5)
    assert not uploads[0].exists() and not uploads[0].parent.parent.exists()


def test_an_animated_gif_is_a_photo_the_stylizer_takes(page, one_slot_server, tmp_path, wait_for_app):
    url, _server = one_slot_server
    frames = [Image.new("RGB", (80, 60), colour) for colour in ("orange", "teal")]
    gif = tmp_path / "dancing.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    page.goto(f"{url}/stylizer")
    expect(page.get_by_role("heading", name="Texture Stylizer")).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    page.get_by_text("My photo", exact=True).click()
    expect(page.get_by_text(re.compile(r"Upload a photo \(JPEG, PNG, WebP, GIF"))).to_be_visible(timeout=WAIT_MS)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(gif)
    expect(page.get_by_text(re.compile(r"^Photo: dancing\.gif \(80 x 60\)"))).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)
