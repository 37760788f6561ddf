"""The Latent Dance page in a real (headless, Debian) Chromium: upload a song, see its features,
preview, render, watch and download."""
import re

import numpy as np
import pytest
import soundfile as sf
from conftest import song_box
from playwright.sync_api import expect

pytestmark = pytest.mark.browser
# A fresh server on a shared 2-core machine can take minutes for its first page (torch, librosa's
# compile, the demo song's analysis) and a render minutes more: these are waits, not bars on speed.
WAIT_MS = 600_000


@pytest.fixture
def song(tmp_path):
    """A 4 s 120 BPM beat with a chord, as an ogg upload."""
    sr = 22050
    t = np.arange(4 * sr) / sr
    y = 0.2 * np.sin(2 * np.pi * 220 * t) * (1 + 0.0 * t)
    for beat in np.arange(0, 4, 0.5):
        i = int(beat * sr)
        n = int(0.05 * sr)
        y[i:i + n] += np.sin(2 * np.pi * 80 * np.arange(n) / sr) * np.linspace(1, 0, n)
    path = tmp_path / "beat.ogg"
    sf.write(path, (0.8 * y / np.abs(y).max()).astype(np.float32), sr)
    return path


def open_dance_and_pick_upload(page, app_server, wait_for_app):
    page.goto(f"{app_server}/dance")
    expect(page.get_by_role("heading", name="Latent Dance")).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    page.get_by_text("Upload a song").click()
    expect(page.get_by_text("Upload a song to dance to")).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)


def test_upload_preview_render_video_and_download(page, app_server, song, tmp_path, artifacts, wait_for_app):
    page.set_viewport_size({"width": 1400, "height": 2200})
    open_dance_and_pick_upload(page, app_server, wait_for_app)
    song_box(page).set_input_files(song)
    expect(page.get_by_text(re.compile(r"4\.0 s · 1\d\d\.\d BPM"))).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stImage").first).to_be_visible(timeout=WAIT_MS)  # the feature plot
    wait_for_app(page, timeout=WAIT_MS)

    page.get_by_role("button", name=re.compile(r"Preview \(5 s, small\)")).click()
    expect(page.get_by_text(re.compile(r"^Preview: 96 frames"))).to_be_visible(timeout=WAIT_MS)
    expect(page.locator("video")).to_have_count(1)
    wait_for_app(page, timeout=WAIT_MS)

    page.get_by_role("button", name=re.compile("Render the video")).click()
    expect(page.get_by_text(re.compile(r"^96 frames, 4\.0 s at 512 px"))).to_be_visible(timeout=WAIT_MS)
    video = page.locator("video")
    expect(video).to_have_count(1)
    wait_for_app(page, timeout=WAIT_MS)
    # The browser can decode it (H.264 yuv420p + AAC): metadata loads and says 4 s.
    page.wait_for_function("() => { const v = document.querySelector('video'); return v && v.readyState >= 1; }",
                           timeout=30_000)
    assert abs(video.evaluate("v => v.duration") - 4.0) < 0.2
    page.screenshot(path=artifacts / "page-dance.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"Download the video \(mp4\)")).click()
    saved = tmp_path / download.value.suggested_filename
    download.value.save_as(saved)
    assert saved.suffix == ".mp4" and saved.read_bytes()[4:8] == b"ftyp"
    with page.expect_download() as download:
        page.get_by_role("button", name=re.compile(r"Download the settings")).click()
    assert download.value.suggested_filename.endswith(".json")


def test_a_non_audio_upload_gets_one_message_and_the_page_keeps_running(page, app_server, tmp_path, wait_for_app):
    fake = tmp_path / "song.mp3"
    fake.write_text("this is a text file renamed to look like an mp3 " * 20)
    open_dance_and_pick_upload(page, app_server, wait_for_app)
    song_box(page).set_input_files(fake)
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("could not read", timeout=WAIT_MS)
    page.get_by_text("Demo song").click()
    expect(page.get_by_text(re.compile(r"20\.0 s · 1\d\d\.\d BPM"))).to_be_visible(timeout=WAIT_MS)
    expect(page.get_by_test_id("stAlertContentError")).to_have_count(0)


def test_a_song_dropped_on_the_lyrics_box_says_where_it_goes(page, app_server, song, wait_for_app):
    """The demo song's page has one drop zone, the lyrics one: a song dropped there (easily done while
    the page is still switching to "Upload a song") must say so in words, not a red icon."""
    page.goto(f"{app_server}/dance")
    expect(page.get_by_text(re.compile(r"20\.0 s · 1\d\d\.\d BPM"))).to_be_visible(timeout=WAIT_MS)
    wait_for_app(page, timeout=WAIT_MS)
    page.get_by_test_id("stFileUploaderDropzoneInput").set_input_files(song)  # the only one: Lyrics
    expect(page.get_by_test_id("stAlertContentError")).to_contain_text("beat.ogg is a song, not lyrics",
                                                                       timeout=WAIT_MS)
    expect(page.get_by_text(re.compile(r"s · 1\d\d\.\d BPM"))).to_have_count(0)
