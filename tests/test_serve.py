"""`make run`: the command it runs serves a healthy app that draws counterfactuals.

The server is started through make itself (``-o`` keeps make from reinstalling the venv), with
the interpreter running these tests, on a free port.
"""
import shutil
import sys
import urllib.request
from pathlib import Path

import pytest
from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.skipif(not shutil.which("make"), reason="make is not installed")


@pytest.fixture(scope="module")
def make_run(serve) -> str:
    return serve(lambda port: ["make", "--no-print-directory", "-C", str(ROOT), "-o", ".venv/.installed", "run",
                               f"PY={sys.executable}", f"PORT={port}"])


def test_health_answers_ok(make_run):
    with urllib.request.urlopen(f"{make_run}/_stcore/health", timeout=10) as response:
        assert response.status == 200 and response.read().decode().strip() == "ok"


@pytest.mark.browser
def test_page_draws_a_counterfactual(page, make_run, artifacts, wait_for_app):
    page.goto(make_run)
    images = page.get_by_test_id("stImage").locator("img")
    expect(images).to_have_count(8, timeout=60_000)  # Home's gallery
    wait_for_app(page)
    for i in range(8):
        size = images.nth(i).evaluate("img => img.complete ? [img.naturalWidth, img.naturalHeight] : null")
        assert size and min(size) >= 32, size
    first = page.request.get(images.first.evaluate("img => img.src"))  # absolute, however src is written
    assert first.ok and first.body()[:8] == b"\x89PNG\r\n\x1a\n"
    page.screenshot(path=artifacts / "serve.png", full_page=True)
