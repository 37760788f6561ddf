"""The Home page in Streamlit's headless AppTest: it renders, every control changes the picture, errors stay readable.

Images are compared by their media URLs, which Streamlit derives from a hash of the image bytes,
so equal URLs mean equal pictures.
"""
import pytest
from streamlit.testing.v1 import AppTest

import cgn_art


@pytest.fixture
def app() -> AppTest:
    at = AppTest.from_file("../app/Home.py", default_timeout=60).run()
    assert not at.exception
    return at


@pytest.fixture
def test_app(app, model_dir) -> AppTest:
    """The page showing the test model, whose classes all look different (shipped weights may be placeholders)."""
    app.text_input(key="model_folder").input(str(model_dir)).run()
    assert not app.exception and not app.error
    return app


def shown(at: AppTest) -> dict[str, str]:
    """Media URL of the grid and of each part of the large counterfactual."""
    urls = [image.proto.imgs[0].url for image in at.image]
    assert len(urls) == 5, urls
    return dict(zip(["grid", "mask", "foreground", "background", "composite"], urls))


def test_page_shows_grid_parts_and_download(app):
    assert not app.error
    assert len(set(shown(app).values())) == 5
    assert [image.proto.imgs[0].caption for image in app.image[1:]] == ["mask", "foreground", "background", "composite"]
    assert app.get("download_button")[0].label == "Download PNG"


def test_classes_are_listed_by_name(app):
    names = cgn_art.load_model("wildlife", device="cpu").class_names
    for key, mechanism in [("background", "background"), ("shape", "shape"), ("texture", "texture")]:
        assert app.selectbox(key=key).options == names[mechanism]
    assert names["background"][0] in app.image[0].proto.imgs[0].caption


def test_every_control_has_a_label_and_help(app):
    widgets = [*app.selectbox, *app.number_input, *app.slider, *app.select_slider, *app.text_input, *app.button,
               *app.get("download_button")]
    assert len(widgets) >= 10
    for widget in widgets:
        assert widget.label and widget.help, widget


def test_background_changes_grid_and_composite(test_app):
    before = shown(test_app)
    test_app.selectbox(key="background").select(3).run()
    after = shown(test_app)
    assert not test_app.exception
    assert after["grid"] != before["grid"]
    assert after["background"] != before["background"] and after["composite"] != before["composite"]
    assert after["mask"] == before["mask"] and after["foreground"] == before["foreground"]
    assert "test background 3" in test_app.image[0].proto.imgs[0].caption


def test_shape_and_texture_change_only_the_large_view(test_app):
    before = shown(test_app)
    test_app.selectbox(key="shape").select(2).run()
    middle = shown(test_app)
    assert middle["mask"] != before["mask"] and middle["grid"] == before["grid"]
    test_app.selectbox(key="texture").select(4).run()
    after = shown(test_app)
    assert after["foreground"] != middle["foreground"] and after["mask"] == middle["mask"]


def test_seed_and_dice_change_the_image(app):
    before = shown(app)
    app.number_input(key="seed").set_value(7).run()
    typed = shown(app)
    assert typed["grid"] != before["grid"] and typed["composite"] != before["composite"]
    app.button(key="seed_roll").click().run()
    assert not app.exception
    assert app.number_input(key="seed").value != 7
    assert shown(app)["grid"] != typed["grid"]


def test_truncation_changes_the_image(app):
    before = shown(app)
    app.slider(key="truncation").set_value(0.3).run()
    assert shown(app)["grid"] != before["grid"]


def test_model_changes_image_and_class_names(app):
    before = shown(app)
    app.selectbox(key="background").select(5).run()
    app.selectbox(key="model").select("colored").run()
    assert not app.exception and not app.error
    colored = cgn_art.load_model("colored", device="cpu").class_names
    assert app.selectbox(key="background").options == colored["background"]
    assert app.selectbox(key="background").value == 0  # 'colored' has fewer backgrounds: picked again from 0
    assert app.selectbox(key="texture").options == colored["texture"]
    assert shown(app)["grid"] != before["grid"]


def test_sizes_change_the_image(app):
    before = shown(app)
    app.select_slider(key="tile_size").set_value(64).run()
    tiles = shown(app)
    assert tiles["grid"] != before["grid"] and tiles["composite"] == before["composite"]
    app.select_slider(key="large_size").set_value(128).run()
    assert shown(app)["composite"] != tiles["composite"]


def test_bad_model_folder_shows_an_error_and_keeps_running(app, tmp_path):
    before = shown(app)
    app.text_input(key="model_folder").input(str(tmp_path / "no-such-model")).run()
    assert not app.exception
    assert len(app.error) == 1 and "no model named" in app.error[0].value
    assert shown(app) == before  # still drawing with the shipped model
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"not weights")
    (tmp_path / "broken" / "config.json").write_text("{")
    app.text_input(key="model_folder").input(str(tmp_path / "broken")).run()
    assert not app.exception
    assert "not valid JSON" in app.error[0].value
