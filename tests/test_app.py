"""The app shell and Home page in Streamlit's headless AppTest: navigation, the model picker, the gallery.

Images are compared by their media URLs, which Streamlit derives from a hash of the image bytes,
so equal URLs mean equal pictures.
"""
import importlib.util
import sys
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

import cgn_art

APP = Path(__file__).parents[1] / "app"


def _page_registry():
    """app/page_registry.py, the one list of pages, imported as the app imports it (app/ is a script folder,
    not a package)."""
    if "page_registry" not in sys.modules:
        spec = importlib.util.spec_from_file_location("page_registry", APP / "page_registry.py")
        sys.modules["page_registry"] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules["page_registry"]


REGISTRY = _page_registry()
# The Type page needs a letters model (which may not ship yet): test_typeset_app checks its controls.
CHECKED_ELSEWHERE = {"views/type.py"}
PAGE_FILES = [page.file for page in REGISTRY.PAGES if page.file not in CHECKED_ELSEWHERE]


@pytest.fixture
def app(monkeypatch) -> AppTest:
    # The Latent Dance page starts librosa's numba warm-up (tens of seconds of first-run compiling) on
    # a thread beside the script; here that only competes with the page for the CPU, and on a busy
    # machine pushed it past AppTest's timeout. The warm-up has its own test (tests/test_audio.py).
    from cgn_art.audio import analysis

    monkeypatch.setattr(analysis, "warm_up", lambda: None)
    at = AppTest.from_file("../app/Home.py", default_timeout=120).run()
    assert not at.exception
    return at


def urls(at: AppTest) -> list[str]:
    return [image.proto.imgs[0].url for image in at.image]


def test_home_shows_a_gallery_and_links_to_the_pages(app):
    assert not app.error
    assert len(urls(app)) == 8 and len(set(urls(app))) == 8
    captions = [image.proto.imgs[0].caption for image in app.image]
    names = cgn_art.load_model(device="cpu").class_names  # the default model
    assert all(c.startswith("shape ") and " · texture " in c for c in captions)
    assert any(name in captions[0] for name in names["texture"])
    links = [link.proto.label for link in app.get("page_link")]
    assert links == [page.title for page in REGISTRY.PAGES if not page.default]
    # each link has its page's description under it
    descriptions = [caption.value for caption in app.caption if caption.value in
                    {page.description for page in REGISTRY.PAGES}]
    assert descriptions == [page.description for page in REGISTRY.PAGES if not page.default]


def test_every_page_is_registered_once_with_a_description():
    files = sorted(p.relative_to(APP).as_posix() for p in (APP / "views").glob("*.py"))
    assert sorted(page.file for page in REGISTRY.PAGES) == files  # a page file nobody registered is an error
    assert len({page.title for page in REGISTRY.PAGES}) == len(REGISTRY.PAGES)
    assert [page.default for page in REGISTRY.PAGES].count(True) == 1
    for page in REGISTRY.PAGES:
        assert page.default or len(page.description.split()) >= 5, page
    with pytest.raises(ValueError, match="'Sketch' .* has no description"):
        REGISTRY.PageInfo("views/sketch.py", "Sketch", ":material/draw:")


def test_no_two_pages_can_claim_one_key_prefix():
    """Widget and session-state keys are one namespace for the whole app (common.state_key starts each with a
    prefix its page claims), so a prefix claimed twice, or one that another's key could start with, is refused."""
    assert set(REGISTRY.key_owners()) >= {"mix", "type", "dance", "sty", "lab", "model"}
    sketch = dict(file="views/sketch.py", title="Sketch", icon=":material/draw:", description="Draw by hand, then "
                  "paint the drawing with the model's textures.")
    with pytest.raises(ValueError, match="'mix' is claimed by Mixer"):
        REGISTRY.key_owners([*REGISTRY.PAGES, REGISTRY.PageInfo(**sketch, keys=("sketch", "mix"))])
    with pytest.raises(ValueError, match="'job' is claimed by shared"):
        REGISTRY.key_owners([*REGISTRY.PAGES, REGISTRY.PageInfo(**sketch, keys=("job",))])
    with pytest.raises(ValueError, match="'mix_sketch' must be one word"):
        REGISTRY.key_owners([*REGISTRY.PAGES, REGISTRY.PageInfo(**sketch, keys=("mix_sketch",))])


def test_shuffle_draws_a_new_gallery(app):
    before = urls(app)
    app.button(key="gallery_shuffle").click().run()
    assert not app.exception
    assert set(urls(app)).isdisjoint(before)


def test_model_picker_lists_models_and_changes_the_gallery(app):
    before = urls(app)
    assert set(app.selectbox(key="model").options) >= {"wildlife", "colored", "double-colored"}
    assert "runs on `cpu`" in app.sidebar.caption[0].value
    app.selectbox(key="model").select("colored").run()
    assert not app.exception and not app.error
    assert urls(app) != before
    classes = app.sidebar.expander[0].markdown
    assert any("Background** (1): black" in m.value for m in classes)


def test_bad_model_folder_says_why_and_keeps_the_picked_model(app, tmp_path):
    before = urls(app)
    app.text_input(key="model_folder").input(str(tmp_path / "no-such-model")).run()
    assert not app.exception
    assert len(app.error) == 1 and "no model named" in app.error[0].value
    assert urls(app) == before  # still drawing with the shipped model
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "model.safetensors").write_bytes(b"not weights")
    (tmp_path / "broken" / "config.json").write_text("{")
    app.text_input(key="model_folder").input(str(tmp_path / "broken")).run()
    assert not app.exception
    assert "not valid JSON" in app.error[0].value


def test_a_folder_that_failed_is_not_read_again_until_its_files_change(app, tmp_path, monkeypatch):
    folder = tmp_path / "broken"
    folder.mkdir()
    (folder / "model.safetensors").write_bytes(b"not weights")
    (folder / "config.json").write_text("{")
    reads = []
    real = cgn_art.load_model
    monkeypatch.setattr(cgn_art, "load_model", lambda *a, **k: (reads.append(a[0]), real(*a, **k))[1])
    app.text_input(key="model_folder").input(str(folder)).run()
    app.run()
    app.run()
    assert not app.exception and "not valid JSON" in app.error[0].value
    assert reads.count(str(folder)) == 1   # three reruns, one read
    (folder / "config.json").write_text("{}")   # mended (still wrong): its new time means a new read
    app.run()
    assert reads.count(str(folder)) == 2 and "not a cgn-art small CGN config" in app.error[0].value


def test_model_folder_is_used_by_every_page(app, model_dir):
    app.text_input(key="model_folder").input(str(model_dir)).run()
    assert not app.error
    assert "test-pattern" in app.sidebar.caption[0].value
    app.switch_page("views/mixer.py").run()
    assert not app.exception
    assert app.selectbox(key="mix_shape").options == [f"test shape {i}" for i in range(4)]


@pytest.mark.parametrize("page", PAGE_FILES)
def test_every_control_has_a_label_and_help(app, page):
    app.switch_page(page).run()
    assert not app.exception
    widgets = [*app.selectbox, *app.number_input, *app.slider, *app.select_slider, *app.text_input, *app.button,
               *app.get("download_button"), *app.toggle, *app.get("segmented_control")]
    assert len(widgets) >= 3
    for widget in widgets:
        assert widget.label and widget.help, widget
