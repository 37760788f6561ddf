"""The Robustness Lab page in Streamlit's headless AppTest: samples, a tiny run, its tables, mistakes explained."""
import pytest
from streamlit.testing.v1 import AppTest


@pytest.fixture(scope="module", autouse=True)
def cache(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        # Shared with test_robustness.py in one session: building a variant costs seconds.
        mp.setenv("CGN_ART_CACHE", str(tmp_path_factory.getbasetemp() / "robustness-cache"))
        yield


@pytest.fixture
def lab() -> AppTest:
    at = AppTest.from_file("../app/Home.py", default_timeout=180).run()
    at.switch_page("views/robustness.py").run()
    assert not at.exception and not at.error
    return at


def urls(at):
    return [image.proto.imgs[0].url for image in at.image]


def test_shows_real_and_counterfactual_samples_and_reseeds(lab):
    before = urls(lab)
    assert len(before) == 2 and before[0] != before[1]
    lab.number_input(key="lab_sample_seed").set_value(3).run()
    after = urls(lab)
    assert after[0] == before[0] and after[1] != before[1]  # the real data stays, the counterfactuals change
    lab.selectbox(key="lab_variant").select("wildlife").run()
    assert not lab.exception and urls(lab)[0] != before[0]


def test_a_small_run_shows_the_tables(lab):
    lab.select_slider(key="lab_count").set_value(1_000)
    lab.slider(key="lab_epochs").set_value(1)
    lab.button(key="lab_run").click().run()
    from cgn_art.runtime.jobs import default_queue

    for job in default_queue().jobs():  # the run is a heavy job on its own thread
        job.wait()
    lab.run()
    assert not lab.exception and not lab.error
    accuracy, cues = lab.dataframe
    assert list(accuracy.value["training data"]) == ["original", "counterfactual", "original + counterfactual"]
    assert list(accuracy.value["images"]) == [4000, 1000, 5000]
    assert cues.value["follows background %"].isna().all()  # colored MNIST has one background
    assert lab.session_state["robustness_result"]["settings"]["epochs"] == 1


def test_no_dataset_chosen_is_explained(lab):
    lab.multiselect(key="lab_variants").set_value([])
    lab.button(key="lab_run").click().run()
    assert not lab.exception
    assert len(lab.error) == 1 and "at least one variant" in lab.error[0].value


def test_letters_samples_show_and_letters_runs_only_with_its_cgn(lab, monkeypatch):
    import numpy as np

    from cgn_art.data import letters
    from cgn_art.mechanisms.weights import shipped_models

    # A stand-in letters split (building the real one takes minutes): 26 letters x 6 samples, each
    # letter its own grey level, so the sheet shows what it was given.
    labels = np.repeat(np.arange(26), 6)
    images = np.repeat((labels * 9).astype(np.uint8)[:, None, None, None], 64, 1).repeat(64, 2).repeat(3, 3)
    fake = letters.LetterDataset("train", images, labels, labels % 10, labels % 8, images[..., 0],
                                 np.zeros((0, 256, 256, 3), np.uint8), np.zeros(0, np.int64))
    monkeypatch.setattr(letters, "load", lambda split="train", seed=0, rebuild=False: fake)
    before = urls(lab)
    lab.selectbox(key="lab_variant").select("letters").run()
    assert not lab.exception and not lab.error
    assert urls(lab)[0] != before[0]
    runnable = "letters" in lab.multiselect(key="lab_variants").options
    assert runnable == ("letters" in shipped_models())
    if runnable:
        assert len(urls(lab)) == 2
    else:  # before its CGN ships: the real letters, and a line saying why there are no counterfactuals
        assert len(urls(lab)) == 1 and any("No letters CGN ships yet" in i.value for i in lab.info)
