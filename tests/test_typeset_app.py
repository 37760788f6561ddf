"""The Type page in Streamlit's AppTest: with a letters model folder in the sidebar it draws a poster,
rolls one letter, keeps the poster in the URL and offers the PNG; without one it says so in one line."""
from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest


def image_urls(at) -> list[str]:
    return [image.proto.imgs[0].url for image in at.image]


@pytest.fixture
def type_page(letters_dir) -> AppTest:  # noqa: F811
    at = AppTest.from_file("../app/Home.py", default_timeout=90).run()
    at.text_input(key="model_folder").input(str(letters_dir)).run()
    at.switch_page("views/type.py").run()
    assert not at.exception, at.exception
    return at


def test_type_page_draws_rolls_and_shares(type_page):
    at = type_page
    assert not at.error
    assert len(at.image) == 1 and "letters on" in at.image[0].proto.imgs[0].caption
    assert at.query_params["text"] == "HELLO WORLD"
    before = image_urls(at)
    at.button(key="type_roll_3").click().run()
    assert not at.exception and image_urls(at) != before
    assert at.query_params["letter_seeds"].startswith("3:")
    at.text_area(key="type_text").input("Counter factual").run()
    at.selectbox(key="type_texture_by").select("letter").run()
    at.selectbox(key="type_format").select("square").run()
    assert not at.error and "1080×1080" in at.image[0].proto.imgs[0].caption
    assert at.query_params["texture_by"] == "letter" and at.query_params["format"] == "square"
    assert len([b for b in at.button if b.key.startswith("type_roll_") and b.key != "type_roll_all"]) == 14
    assert any(d.proto.label == "Download PNG" for d in at.get("download_button"))


def test_type_page_errors_and_warnings_keep_it_running(type_page):
    at = type_page
    at.text_area(key="type_text").input("✨✨").run()
    assert not at.exception and len(at.error) == 1 and "nothing to draw" in at.error[0].value
    at.text_area(key="type_text").input("OK ✨").run()
    assert not at.error and "Skipped 1 character" in at.warning[0].value
    at.number_input(key="type_letter_size").set_value(3000).run()
    assert not at.exception and "letter size 3000" in at.error[0].value


def test_a_link_opens_its_poster_and_says_what_it_ignored(letters_dir):  # noqa: F811
    at = AppTest.from_file("../app/Home.py", default_timeout=90)
    at.query_params.update({"text": "LINKED", "align": "sideways", "format": "landscape"})
    at.run()
    at.text_input(key="model_folder").input(str(letters_dir)).run()
    at.switch_page("views/type.py").run()
    assert not at.exception
    assert at.text_area(key="type_text").value == "LINKED"
    assert at.selectbox(key="type_format").value == "landscape"
    assert any("align='sideways' ignored" in w.value for w in at.warning)


def test_without_a_letters_model_the_page_says_so(monkeypatch):
    from cgn_art import typeset

    monkeypatch.setattr(typeset, "letters_status", lambda: (False, typeset.NOT_SHIPPED))
    at = AppTest.from_file("../app/Home.py", default_timeout=90).run()
    at.selectbox(key="model").select("wildlife").run()  # the default is the Letters CGN itself
    at.switch_page("views/type.py").run()
    assert not at.exception and not at.error
    assert len(at.info) == 1 and "Letters CGN is not shipped" in at.info[0].value


def test_every_control_has_a_label_and_help(type_page):
    at = type_page
    at.selectbox(key="type_format").select("custom").run()
    widgets = [*at.selectbox, *at.multiselect, *at.number_input, *at.slider, *at.text_area, *at.text_input,
               *at.button, *at.get("download_button")]
    assert len(widgets) >= 15
    for widget in widgets:
        assert widget.label and widget.help, widget
