"""Robustness Lab: does training on counterfactual images make a classifier look at the digit's shape?

A small version of the paper's Table 2, run here with a progress bar: the same classifier trained on
the biased original data, on CGN counterfactuals and on both, tested where colour/texture and
background are random, and checked on cue-conflict images.
"""
import json

import pandas as pd
import streamlit as st
from common import MAX_SEED, error_box, get_model, job_panel, job_running, quick_png, start_job, state_key

import cgn_art
from cgn_art.data.registry import dataset
from cgn_art.robustness.experiment import (
    CUES,
    PAPER,
    VARIANTS,
    RobustnessSettings,
    biased_sheet,
    counterfactual_sheet,
    runnable_variants,
)
from cgn_art.runtime.heavy_jobs import run_lab

RESULT_KEY = state_key("robustness", "result")
JOB_KEY = state_key("lab", "job")


@st.cache_data(max_entries=8, show_spinner="Drawing samples…")
def samples(variant: str, seed: int, has_model: bool) -> tuple[bytes, bytes | None]:
    scale = max(1, round(96 / dataset(variant).native_size))  # about 96 px tiles: 32 px digits x3, letters x2
    real = biased_sheet(variant, columns=6, scale=scale)
    if not has_model:  # e.g. letters before its CGN ships
        return quick_png(real), None
    counterfactual = counterfactual_sheet(get_model(variant), columns=6, scale=scale, seed=seed)
    return quick_png(real), quick_png(counterfactual)


def result_frames(result: dict) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows = result["results"]
    accuracy = pd.DataFrame([{
        "variant": r["variant"], "training data": r["training_data"], "images": r["train_images"],
        "test accuracy %": round(100 * r["test_accuracy"], 1),
        "paper %": PAPER.get(r["training_data"], {}).get(r["variant"]),
        "train accuracy %": round(100 * r["train_accuracy"], 1)} for r in rows])
    cues = pd.DataFrame([{"variant": r["variant"], "training data": r["training_data"],
                          **{f"follows {c} %": None if r["cue_following"][c] is None
                             else round(100 * r["cue_following"][c], 1) for c in (*CUES, "other")}}
                         for r in rows])
    return accuracy, cues


def keep_result(result: dict) -> None:
    st.session_state[RESULT_KEY] = result


def header() -> None:
    st.title("Robustness Lab")
    st.write("In the biased training data the **colour or texture and the background give the digit away**, "
             "so a classifier trained on it learns to read colours, not shapes. A CGN can paint every digit "
             "with any texture on any background: trained on those **counterfactual images**, the same "
             "classifier has to look at the shape (Sauer & Geiger 2021, Table 2). Each dataset uses its shipped "
             "CGN (the model picked in the sidebar is not used here).")


def sample_sheets() -> None:
    """A dataset's biased training samples beside counterfactuals from its shipped CGN."""
    variant_col, seed_col = st.columns([3, 1])
    variant = variant_col.selectbox("Dataset", VARIANTS, key=state_key("lab", "variant"),
                                    help="Which data set to look at (an MNIST variant or letters): its biased "
                                         "training samples and counterfactuals from its shipped CGN.")
    sample_seed = int(seed_col.number_input("Sample seed", 0, 10_000, 0, key=state_key("lab", "sample_seed"),
                                            help="Draws other counterfactual samples."))
    real_png, cf_png = samples(variant, sample_seed, variant in runnable_variants())
    left, right = st.columns(2)
    left.image(real_png, caption="Real training samples: one row per class (the first ten); colour/texture and "
                                 "background follow the class.", width="stretch")
    if cf_png is None:
        right.info(f"No {variant} CGN ships yet, so there are no counterfactuals to show or train on.")
    else:
        right.image(cf_png, caption="CGN counterfactuals: generated shapes, each with a random colour/texture "
                                    "and background.", width="stretch")


def experiment_form() -> RobustnessSettings | None:
    """The experiment's settings; returns them when Run was pressed, else None."""
    st.subheader("Run the experiment")
    with st.form(state_key("lab", "settings")):
        chosen = st.multiselect("Datasets", runnable_variants(), default=["colored"], key=state_key("lab", "variants"),
                                help="Each dataset adds three classifiers to train. Letters appears once its "
                                     "CGN ships.")
        a, b, c = st.columns(3)
        count = a.select_slider("Counterfactual images", [1_000, 2_000, 5_000, 10_000, 20_000, 30_000],
                                value=5_000, key=state_key("lab", "count"),
                                help="Per dataset. The full experiment (cgn-art classify) uses 30,000.")
        epochs = b.slider("Epochs", 1, 10, 3, key=state_key("lab", "epochs"),
                          help="Passes over the training data. More is slower and closer to the full result.")
        seed = c.number_input("Seed", 0, MAX_SEED, 0, key=state_key("lab", "seed"),
                              help="Seeds the counterfactuals, the cue-conflict images and training.")
        run = st.form_submit_button("Run", icon=":material/play_arrow:", type="primary", key=state_key("lab", "run"),
                                    help="Build the counterfactual data and train the three classifiers per "
                                         "dataset (minutes on a CPU). The Cancel button below stops it.")
    if not run:
        return None
    return RobustnessSettings(variants=tuple(chosen), counterfactuals=count, epochs=epochs,
                              seed=int(seed), cue_conflict=500).validate()


def start_experiment(settings: RobustnessSettings) -> None:
    start_job(JOB_KEY, "the experiment", run_lab, settings)


def results(ran: bool) -> None:
    """The experiment while it runs, then its tables and their download (or a hint before the first run)."""
    job_panel(JOB_KEY, keep_result, cancelled_text="Experiment cancelled: the tables below are from the last "
                                                   "finished run, if any.")
    saved = st.session_state.get(RESULT_KEY)
    if saved:
        accuracy, cues = result_frames(saved)
        st.subheader("Test accuracy")
        st.caption("On the test split, where colour/texture and background are random: only the shape tells "
                   "the class (chance: 10 % for digits, 3.8 % for letters). The paper's figures are beside ours. "
                   f"{saved['seconds']:.0f} s.")
        st.dataframe(accuracy, hide_index=True, key=state_key("lab", "accuracy"))
        st.subheader("Which cue does each classifier follow?")
        st.caption("Cue-conflict images: a real digit of one class, painted with another class's texture, on a "
                   "third class's background. The share of predictions that name each class.")
        st.dataframe(cues, hide_index=True, key=state_key("lab", "cues"))
        st.download_button("Download results (JSON)", json.dumps(saved, indent=2), file_name="robustness.json",
                           mime="application/json", key=state_key("lab", "download"), on_click="ignore")
    elif not ran and not job_running(JOB_KEY):
        st.info("Pick the datasets and press Run: a small run takes a minute or two on a CPU.")


def main() -> None:
    header()
    try:
        sample_sheets()
        settings = experiment_form()
        if settings is not None:
            start_experiment(settings)
        results(ran=settings is not None)
    except cgn_art.CgnArtError as e:
        error_box(e)


main()
