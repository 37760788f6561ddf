"""The Robustness Lab in a real (headless, Debian) Chromium: samples, a small run, its tables, the download."""
import json

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_robustness_lab_small_run(page, app_server, artifacts, wait_for_app):
    page.set_viewport_size({"width": 1400, "height": 1800})
    page.goto(f"{app_server}/robustness")
    expect(page.get_by_role("heading", name="Robustness Lab")).to_be_visible(timeout=60_000)
    expect(page.get_by_test_id("stImage")).to_have_count(2, timeout=60_000)
    wait_for_app(page)

    # The smallest run: sliders to their lowest values with the keyboard (1,000 images, 1 epoch).
    for name in ("Counterfactual images", "Epochs"):
        slider = page.get_by_role("slider", name=name)
        slider.focus()
        slider.press("Home")
    expect(page.get_by_role("slider", name="Epochs")).to_have_attribute("aria-valuetext", "1")
    expect(page.get_by_role("slider", name="Counterfactual images")).to_have_attribute("aria-valuetext", "1000")
    page.get_by_role("button", name="Run").click()
    expect(page.get_by_role("heading", name="Test accuracy")).to_be_visible(timeout=240_000)
    wait_for_app(page, timeout=60_000)
    expect(page.get_by_test_id("stDataFrame")).to_have_count(2)
    page.screenshot(path=artifacts / "page-robustness.png", full_page=True)

    with page.expect_download() as download:
        page.get_by_role("button", name="Download results (JSON)").click()
    saved = json.loads(download.value.path().read_text())
    assert saved["settings"]["counterfactuals"] == 1000 and saved["settings"]["epochs"] == 1
    assert [r["training_data"] for r in saved["results"]] == ["original", "counterfactual",
                                                              "original + counterfactual"]
