"""The Mixer page in AppTest: every control changes the right images, the mix lives in the URL,
grids and interpolation strips appear in one click, and bad links fall back with a message."""
import pytest
from streamlit.testing.v1 import AppTest

PARTS = ["composite", "mask", "foreground", "background", "small composite"]


def open_mixer(query: dict | None = None, model_dir=None) -> AppTest:
    at = AppTest.from_file("../app/Home.py", default_timeout=60)
    at.query_params.update(query or {})
    at.switch_page("views/mixer.py")
    if model_dir is not None:  # the test model: its classes all look different
        at.session_state["model_folder"] = str(model_dir)
    at.run()
    assert not at.exception
    return at


@pytest.fixture
def mixer(model_dir) -> AppTest:
    at = open_mixer(model_dir=model_dir)
    assert not at.error and "test-pattern" in at.sidebar.caption[0].value
    return at


def shown(at: AppTest) -> dict[str, str]:
    """Media URL of the large composite and of each part beside it (found by their captions)."""
    found = {}
    for image in at.image:
        caption, url = image.proto.imgs[0].caption, image.proto.imgs[0].url
        name = "composite" if caption.startswith("shape ") else "small composite" if caption == "composite" else caption
        if name in PARTS:
            found[name] = url
    assert list(found) == PARTS, found
    return found


def test_mixer_shows_the_composite_and_its_parts(mixer):
    captions = [image.proto.imgs[0].caption for image in mixer.image]
    assert captions[:3] == ["shape classes", "texture classes", "background classes"]  # the thumbnails
    assert captions[4:8] == ["mask", "foreground", "background", "composite"]
    assert len(set(shown(mixer).values())) == 5
    assert "shape test shape 0" in captions[3]
    assert mixer.get("download_button")[0].label == "Download PNG"


@pytest.mark.parametrize("mechanism, part, index", [("shape", "mask", 2), ("texture", "foreground", 4),
                                                    ("background", "background", 5)])
def test_each_class_changes_only_its_part(mixer, mechanism, part, index):
    before = shown(mixer)
    mixer.selectbox(key=f"mix_{mechanism}").select(index).run()
    after = shown(mixer)
    assert not mixer.exception
    changed = {name for name in before if before[name] != after[name]}
    assert changed == {part, "composite", "small composite"}
    assert mixer.query_params[mechanism] == str(index)


@pytest.mark.parametrize("mechanism, part", [("shape", "mask"), ("texture", "foreground"),
                                             ("background", "background")])
def test_each_seed_and_its_dice_change_only_its_part(mixer, mechanism, part):
    before = shown(mixer)
    mixer.number_input(key=f"mix_{mechanism}_seed").set_value(7).run()
    typed = shown(mixer)
    assert {n for n in before if before[n] != typed[n]} == {part, "composite", "small composite"}
    mixer.button(key=f"mix_{mechanism}_seed_roll").click().run()
    assert mixer.number_input(key=f"mix_{mechanism}_seed").value != 7
    assert shown(mixer)[part] != typed[part]
    assert mixer.query_params[f"{mechanism}_seed"] == str(mixer.number_input(key=f"mix_{mechanism}_seed").value)


def test_truncation_and_size_change_the_image(mixer):
    before = shown(mixer)
    mixer.slider(key="mix_truncation").set_value(0.3).run()
    assert shown(mixer)["composite"] != before["composite"]
    truncated = shown(mixer)
    mixer.select_slider(key="mix_size").set_value(512).run()
    assert shown(mixer)["composite"] != truncated["composite"]
    assert mixer.query_params["size"] == "512" and mixer.query_params["truncation"] == "0.3"


def test_a_copied_link_opens_the_same_image(mixer, model_dir):
    mixer.selectbox(key="mix_texture").select(3).run()
    mixer.number_input(key="mix_background_seed").set_value(1234).run()
    mixer.slider(key="mix_truncation").set_value(0.6).run()
    link = dict(mixer.query_params)
    again = open_mixer(link, model_dir=model_dir)
    assert not again.warning
    assert shown(again) == shown(mixer)
    assert again.selectbox(key="mix_texture").value == 3 and again.slider(key="mix_truncation").value == 0.6


@pytest.mark.parametrize("query, field", [({"shape": "999"}, "shape"), ({"shape_seed": "abc"}, "shape_seed"),
                                          ({"size": "12345"}, "size"), ({"truncation": "-1"}, "truncation")])
def test_bad_link_values_warn_and_fall_back(query, field):
    at = open_mixer({**query, "texture": "2"})
    assert not at.exception and not at.error
    assert len(at.warning) == 1 and f"{field}=".replace("_", "\\_") in at.warning[0].value  # markdown-escaped
    assert at.selectbox(key="mix_texture").value == 2  # the good values of the link are kept
    assert at.query_params[field] != query[field]   # the URL now holds what is shown


def test_a_link_cannot_put_an_image_or_a_link_into_the_page():
    """A shared link's bad values are echoed as plain text: the warning once rendered the link's
    markdown image (the browser fetched it) and a clickable "Log in"."""
    at = open_mixer({"texture": "![x](http://host/EVIL.png)", "shape": "[Log in](http://host/x)"})
    assert not at.exception
    text = " ".join(w.value for w in at.warning)
    assert "EVIL" in text and "Log in" in text
    assert "![x](" not in text and "[Log in](" not in text
    assert "!\\[x\\](http\\://" in text


def test_link_can_name_the_model_and_classes_by_name():
    at = open_mixer({"model": "colored", "texture": "blue", "shape": "7"})
    names = at.selectbox(key="mix_texture").options
    assert at.selectbox(key="model").value == "colored"
    assert names[at.selectbox(key="mix_texture").value] == "blue"
    assert at.selectbox(key="mix_shape").value == 7


@pytest.mark.parametrize("layout, tiles", [("vary shape", 4), ("vary texture", 5), ("vary background", 6),
                                           ("shapes × textures", 20)])
def test_grid_in_one_click_with_zip(mixer, layout, tiles):
    count = len(mixer.image)
    mixer.get("segmented_control")[0].set_value(layout).run()
    assert not mixer.exception
    assert len(mixer.image) == count + 1
    assert "Download grid (ZIP)" in [b.label for b in mixer.get("download_button")]
    grid = mixer.image[-1].proto.imgs[0].url
    mixer.number_input(key="mix_shape_seed").set_value(5).run()
    assert mixer.image[-1].proto.imgs[0].url != grid  # the grid follows the mix


def test_interpolation_strip_with_downloads(mixer):
    count = len(mixer.image)
    mixer.toggle(key="mix_walk").set_value(True).run()
    assert len(mixer.image) == count + 1
    strip = mixer.image[-1].proto.imgs[0]
    assert "test texture 0" not in strip.caption and "shape: test shape 0 → test shape 0" in strip.caption
    mixer.selectbox(key="walk_to_shape").select(3).run()
    assert "→ test shape 3" in mixer.image[-1].proto.imgs[0].caption
    assert mixer.image[-1].proto.imgs[0].url != strip.url
    labels = [b.label for b in mixer.get("download_button")]
    assert {"Download strip (PNG)", "Download loop (GIF)", "Download loop (MP4)"} <= set(labels)
    mixer.selectbox(key="walk_mechanism").select("texture").run()
    assert "texture: test texture 0 → test texture 0" in mixer.image[-1].proto.imgs[0].caption
