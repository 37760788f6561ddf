"""The Materials page in Streamlit's AppTest: the model it adds to, the materials a user model holds,
deleting one, and a model that has no materials. (Uploading photos is in tests/test_browser_materials.py:
AppTest has no file uploads.)"""
import io

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from cgn_art.materials import store


def photo() -> bytes:
    rng = np.random.default_rng(0)
    grey = np.asarray(Image.fromarray((rng.random((24, 32)) * 255).astype(np.uint8)).resize((320, 240)), np.float32)
    rgb = np.stack([grey, 0.6 * grey, 0.3 * grey], -1) * 0.7 + rng.random((240, 320, 1)) * 70
    out = io.BytesIO()
    Image.fromarray(rgb.clip(0, 255).astype(np.uint8)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture
def app(tmp_path, monkeypatch) -> AppTest:
    monkeypatch.setenv(store.ENV, str(tmp_path / "user-models"))
    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    return at.switch_page("views/materials.py").run()


def test_the_page_offers_to_add_to_a_copy_of_a_shipped_model(app):
    assert not app.exception
    assert app.text_input(key="materials_into").value == "my-letters"
    assert any("Upload photos" in info.value for info in app.info)
    assert "brick" in " ".join(m.value for m in app.markdown)


def test_a_user_models_materials_are_listed_and_can_be_deleted(app):
    store.add_material("letters", "texture", "rust", [photo()])
    app.run()  # the sidebar lists the new user model
    app.selectbox(key="model").select("my-letters").run()
    assert not app.exception
    assert app.text_input(key="materials_into").value == "my-letters"
    assert any("**rust** (yours)" in m.value for m in app.markdown)
    delete = [b for b in app.button if b.label == "Delete rust"]
    assert len(delete) == 1 and not any(b.label == "Delete brick" for b in app.button)
    delete[0].click().run()
    assert not app.exception
    assert not any("rust" in m.value for m in app.markdown)


def test_a_model_without_materials_says_so(app):
    app.selectbox(key="model").select("wildlife").run()
    assert not app.exception
    assert any("network, not from materials" in info.value for info in app.info)
