"""The app with the ImageNet CGN (test-made tiny weights): the picker lists it only when its folder
loads, and the Home gallery and the Mixer draw with it."""
from __future__ import annotations

import pytest
from helpers.imagenet import save_released_layout, tiny_cgn
from streamlit.testing.v1 import AppTest

from cgn_art.mechanisms.imagenet_weights import ENV, import_cgn


@pytest.fixture(scope="module")
def imagenet_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app-imagenet")
    return import_cgn(save_released_layout(tiny_cgn(30), folder / "cgn.pth", module_prefix=False),
                      folder / "imagenet-cgn", resolution=32)


def test_picker_offers_the_imagenet_cgn_and_pages_draw_with_it(imagenet_folder, monkeypatch):
    monkeypatch.setenv(ENV, str(imagenet_folder))
    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    assert not at.exception
    assert "imagenet" in at.selectbox(key="model").options
    at.selectbox(key="model").select("imagenet").run()
    assert not at.exception and not at.error
    assert len(at.image) > 0  # the gallery, drawn by the ImageNet CGN
    assert "imagenet" in at.sidebar.caption[0].value
    at.switch_page("views/mixer.py").run()
    assert not at.exception and not at.error
    assert len(at.image) > 0


def test_picker_leaves_out_a_folder_that_does_not_load(tmp_path, monkeypatch):
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setenv(ENV, str(tmp_path))
    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    assert not at.exception
    assert "imagenet" not in at.selectbox(key="model").options
