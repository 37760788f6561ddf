"""Texture Stylizer: repaint a photo with a texture the CGN generates, or one you upload.

The page gathers a photo, a texture and StylizeSettings, and calls cgn_art.stylize; the texture walk
calls cgn_art.stylize.walk. Work is stored in session state so the result survives reruns.
"""
from pathlib import Path

import streamlit as st
from common import (
    MAX_SEED,
    class_picker,
    current_model,
    error_box,
    get_model,
    job_panel,
    job_running,
    quick_png,
    seed_input,
    session_dir,
    start_job,
    state_key,
)
from subject_regions import subject_and_background

import cgn_art
from cgn_art.features import available_encoders, vgg19_available
from cgn_art.images import DEMO_PHOTOS, demo_photo, read_image
from cgn_art.runtime.heavy_jobs import stylize_photo, walk_textures
from cgn_art.stylize import HELP, StylizeSettings, texture_preview
from cgn_art.stylize.walk import WALK_HELP, WalkSettings

DEFAULTS = StylizeSettings()
RESULT = state_key("sty", "result")
WALK = state_key("sty", "walk")
STYLIZE_JOB = state_key("sty", "job")
WALK_JOB = state_key("sty", "walk_job")
# The uploader refuses other types with only a red icon, so the page says in words what it takes.
PHOTO_TYPES = ["jpg", "jpeg", "png", "webp", "gif", "bmp", "tif", "tiff"]
TYPES_IN_WORDS = "JPEG, PNG, WebP, GIF (its first frame), BMP or TIFF"


@st.cache_data(max_entries=8, show_spinner=False)
def demo(name: str):
    return demo_photo(name)


@st.cache_data(max_entries=32, show_spinner=False)
def class_texture_preview(source: str, settings: dict) -> bytes:
    """The texture preview of a class (cached: a large model's texture mechanism takes a while)."""
    return quick_png(texture_preview(StylizeSettings(**settings), model=get_model(source), size=256))


def uploaded_image(upload, kind: str):
    """An upload saved into this session's own temporary folder, then read safely (one message if bad)."""
    if upload is None:
        return None, None
    cache = st.session_state.setdefault(state_key("sty", "uploads"), {})
    key = (kind, upload.file_id)
    if key not in cache:
        path = session_dir() / f"{kind}-{Path(upload.name).name}"
        path.write_bytes(upload.getvalue())
        if len(cache) > 8:  # only the latest uploads are needed; the folder goes with the session
            cache.clear()
        cache[key] = path
    return read_image(cache[key], name=upload.name), upload.name


def start_stylize(photo, photo_name, settings, model, texture_image, meta, mask=None) -> None:
    """Queue the stylization as this session's heavy job (in-between pictures show as it goes)."""
    start_job(STYLIZE_JOB, "the stylization", stylize_photo, photo, photo_name, settings, model, texture_image, meta,
              mask)


def keep_stylized(result: dict) -> None:
    st.session_state[RESULT] = result


def start_walk(photo, settings, walk, model) -> None:
    start_job(WALK_JOB, "the texture walk", walk_textures, photo, session_dir() / "texture-walk.mp4", settings, walk,
              model)


def keep_walk(result: dict) -> None:
    st.session_state[WALK] = result


def header() -> None:
    st.title("Texture Stylizer")
    st.write("Repaint a photo with a texture the CGN's **texture mechanism** generates: the photo keeps its "
             "layout, the texture gives it its colours and grain (Gram-matrix style transfer, optimised coarse "
             "to fine so it runs on a CPU).")


def photo_choice():
    """1. The photo: (image, name), a demo photo or an upload; the page stops here until there is one."""
    st.subheader("1. The photo")
    photo_from = st.radio("Photo from", ["A demo photo", "My photo"], horizontal=True,
                          key=state_key("sty", "photo_from"),
                          help="The demo photos ship with scikit-image and scikit-learn; or upload your own.")
    photo, photo_name = None, None
    if photo_from == "A demo photo":
        photo_name = st.selectbox("Demo photo", DEMO_PHOTOS, key=state_key("sty", "demo"),
                                  help="Photos that ship with scikit-image (astronaut, chelsea, coffee, rocket) "
                                       "and scikit-learn (china, flower).")
        photo = demo(photo_name)
    else:
        upload = st.file_uploader(f"Upload a photo ({TYPES_IN_WORDS})", type=PHOTO_TYPES,
                                  key=state_key("sty", "photo_upload"),
                                  help=f"{TYPES_IN_WORDS}, up to 50 MB and 40 megapixels. Phone photos are "
                                       "turned upright from their EXIF orientation.")
        photo, photo_name = uploaded_image(upload, "photo")
    if photo is None:
        st.info("Upload a photo, or pick a demo photo, to start.")
        st.stop()
    return photo, photo_name


def texture_choice(model, settings_values: dict):
    """2. The texture: a class, a blend of two, or an upload. Fills ``settings_values``; returns
    (the uploaded texture or None, the texture's name)."""
    st.subheader("2. The texture")
    texture_from = st.radio("Texture from", ["A texture class", "A blend of two classes", "My texture image"],
                            horizontal=True, key=state_key("sty", "texture_from"),
                            help="A texture the CGN generates for a class, a mix of two classes, or an image "
                                 "you upload.")
    texture_image, texture_name = None, None
    left, right = st.columns([2, 1])
    with left:
        if texture_from == "My texture image":
            upload = st.file_uploader(f"Upload a texture ({TYPES_IN_WORDS})", type=PHOTO_TYPES,
                                      key=state_key("sty", "texture_upload"),
                                      help="Any image: its colours and grain repaint the photo. It is tiled "
                                           "mirrored, so it need not repeat seamlessly.")
            texture_image, texture_name = uploaded_image(upload, "texture")
            if texture_image is None:
                st.info("Upload a texture image, or pick a texture class.")
                st.stop()
        else:
            names = model.class_names["texture"]
            settings_values["texture_class"] = class_picker(model, "texture", "Texture class",
                                                            key=state_key("sty", "class"),
                                                            help="The texture class the CGN paints.")
            texture_name = names[settings_values["texture_class"]]
            if texture_from == "A blend of two classes":
                settings_values["blend_class"] = class_picker(model, "texture", "Blend with",
                                                              key=state_key("sty", "blend_class"),
                                                              help=HELP["blend_class"])
                settings_values["blend"] = st.slider("Blend", 0.0, 1.0, 0.5, 0.05, key=state_key("sty", "blend"),
                                                     help=HELP["blend"])
                texture_name = f"{texture_name} + {names[settings_values['blend_class']]}"
            a, b = st.columns(2)
            settings_values["texture_seed"] = seed_input(state_key("sty", "texture_seed"), container=a,
                                                         label="Texture seed", help=HELP["texture_seed"])
            settings_values["truncation"] = b.slider("Truncation", 0.1, 1.0, 1.0, 0.05,
                                                     key=state_key("sty", "truncation"), help=HELP["truncation"])
        settings_values["texture_scale"] = st.slider("Texture scale", 0.05, 0.5, DEFAULTS.texture_scale, 0.025,
                                                     key=state_key("sty", "scale"), help=HELP["texture_scale"])
    return texture_image, texture_name


def settings_controls(model, settings_values: dict) -> StylizeSettings:
    """3. Size, strength, colours, seed and the optimisation; with ``settings_values``, the settings."""
    st.subheader("3. Settings")
    a, b, c = st.columns(3)
    sizes = [256, 384, 512, 768, 1024] + ([1536, 2048] if model.device.type == "cuda" else [])
    settings_values["size"] = a.select_slider(
        "Size (px)", sizes, value=512, key=state_key("sty", "size"),
        help=f"{HELP['size']}. About a minute for 512 px on a 2-core CPU.")
    settings_values["strength"] = b.slider("Style strength", 0.0, 10.0, 1.0, 0.25, key=state_key("sty", "strength"),
                                           help=HELP["strength"])
    settings_values["content_weight"] = c.slider("Content weight", 0.0, 5.0, 1.0, 0.1,
                                                 key=state_key("sty", "content"), help=HELP["content_weight"])
    a, b, c = st.columns(3)
    settings_values["smoothness"] = a.slider("Smoothness", 0.0, 10.0, 1.0, 0.5, key=state_key("sty", "smoothness"),
                                             help=HELP["smoothness"])
    colours = {"texture": "The texture's colours", "luminance": "Keep the photo's colours",
               "palette": "Texture in the photo's palette"}
    settings_values["colors"] = b.selectbox("Colours", list(colours), format_func=colours.get,
                                            key=state_key("sty", "colors"), help=HELP["colors"])
    with c:
        settings_values["seed"] = seed_input(state_key("sty", "seed"), label="Seed", help=HELP["seed"])
    with st.expander("Optimisation"):
        a, b, c, d = st.columns(4)
        settings_values["optimizer"] = a.selectbox("Optimizer", ["lbfgs", "adam"], key=state_key("sty", "optimizer"),
                                                   help=HELP["optimizer"])
        settings_values["steps"] = b.slider("Steps", 5, 200, DEFAULTS.steps, 5, key=state_key("sty", "steps"),
                                            help=HELP["steps"])
        settings_values["levels"] = c.slider("Pyramid levels", 1, 4, DEFAULTS.levels, key=state_key("sty", "levels"),
                                             help=HELP["levels"])
        encoders = ["random"] + (["vgg19"] if vgg19_available() else [])
        settings_values["encoder"] = d.selectbox("Features", encoders, key=state_key("sty", "encoder"),
                                                 help="random: fixed random filters, no download. vgg19: higher "
                                                      "quality, slower; offered when its ImageNet weights are in "
                                                      "the torch cache.")
        st.caption(f"Active features: **{settings_values['encoder']}** — "
                   f"{available_encoders()[settings_values['encoder']]}."
                   + ("" if vgg19_available() else f" VGG19: {available_encoders()['vgg19'].split(' - ')[-1]}."))
    return StylizeSettings(**settings_values, device=str(model.device)).validate(model.device)


def previews(photo, photo_name, settings: StylizeSettings, source: str, texture_image, texture_name) -> None:
    """The photo and the texture side by side, the texture at the scale it will have."""
    left, right = st.columns(2)
    left.image(quick_png(photo.resize((max(1, round(256 * photo.width / max(photo.size))),
                                       max(1, round(256 * photo.height / max(photo.size)))))),
               caption=f"Photo: {photo_name} ({photo.width} x {photo.height})")
    if texture_image is None:
        texture_png = class_texture_preview(source, settings.to_dict())
    else:
        texture_png = quick_png(texture_preview(settings, texture_image=texture_image, size=256))
    right.image(texture_png, caption=f"Texture: {texture_name} (a 256 px view at the scale it will have)")


def stylize_button(photo, photo_name, settings: StylizeSettings, model, texture_image, texture_name,
                   mask, mask_name) -> None:
    """Stylize: queues the job, which then shows below the button while it runs."""
    meta = {"photo": photo_name, "texture": texture_name, "model": Path(model.name).name}
    if settings.regions == "two" and mask_name != "GrabCut":
        meta["subject_mask"] = mask_name
    run = st.button("Stylize", type="primary", icon=":material/brush:", key=state_key("sty", "run"),
                    disabled=job_running(STYLIZE_JOB),
                    help="Start the optimisation. Progress and in-between pictures show below; Cancel stops it.")
    if run:
        start_stylize(photo, photo_name, settings, model, texture_image, meta, mask=mask)
    job_panel(STYLIZE_JOB, keep_stylized, cancelled_text="Stylization cancelled: the last result is kept.")


def before_and_after() -> None:
    """The last result beside its photo, and its downloads."""
    saved = st.session_state.get(RESULT)
    if not saved:
        return
    st.subheader("Before and after")
    before, after = st.columns(2)
    before.image(saved["photo"], caption="Before", width="stretch")
    after.image(saved["png"], caption=f"After ({saved['size'][0]} x {saved['size'][1]}, "
                                      f"{saved['seconds']:.1f} s)", width="stretch")
    stem = Path(str(saved["name"])).stem
    st.download_button("Download PNG", saved["png"], file_name=f"stylized-{stem}.png", mime="image/png",
                       key=state_key("sty", "download"), on_click="ignore",
                       help="The result as a PNG; every setting that made it is stored inside the file.")
    if saved.get("mask"):
        st.download_button("Download the mask (PNG)", saved["mask"], file_name=f"mask-{stem}.png",
                           mime="image/png", key=state_key("sty", "result_mask_download"), on_click="ignore",
                           help="The subject's mask this result was made with (white = subject).")


def walk_form(model) -> tuple[WalkSettings, int] | None:
    """The walk's settings and its video size; returns (walk, size) when Render was pressed, else None."""
    with st.form(state_key("sty", "walk_form")):
        a, b, c = st.columns(3)
        walk_path = a.selectbox("Walk", ["class", "seed"], key=state_key("sty", "walk_path"),
                                format_func={"class": "to another class", "seed": "to another seed"}.get,
                                help=WALK_HELP["path"])
        to_class = b.selectbox("To class", range(model.num_classes("texture")),
                               index=1 % model.num_classes("texture"),
                               format_func=model.class_names["texture"].__getitem__,
                               key=state_key("sty", "walk_to_class"), help=WALK_HELP["to_class"])
        to_seed = c.number_input("To seed", 0, MAX_SEED, 1, key=state_key("sty", "walk_to_seed"),
                                 help=WALK_HELP["to_seed"])
        a, b, c, d = st.columns(4)
        seconds = a.slider("Seconds", 1.0, 20.0, 4.0, 0.5, key=state_key("sty", "walk_seconds"),
                           help=WALK_HELP["seconds"])
        fps = b.select_slider("Frames per second", [6, 8, 12, 24], value=12, key=state_key("sty", "walk_fps"),
                              help=WALK_HELP["fps"])
        walk_size = c.select_slider("Video size (px)", [128, 192, 256, 384, 512], value=256,
                                    key=state_key("sty", "walk_size"),
                                    help="The video's longer side. 4 s at 256 px takes a few minutes on a CPU.")
        frame_steps = d.slider("Steps per frame", 1, 30, 6, key=state_key("sty", "walk_steps"),
                               help=WALK_HELP["frame_steps"])
        render = st.form_submit_button("Render the walk", icon=":material/movie:", key=state_key("sty", "walk_run"),
                                       help="Render the video with the settings above and the texture "
                                            "and settings chosen on this page.")
    if not render:
        return None
    walk = WalkSettings(seconds=seconds, fps=fps, path=walk_path, to_class=int(to_class), to_seed=int(to_seed),
                        frame_steps=frame_steps).validate()
    return walk, walk_size


def texture_walk_section(photo, settings: StylizeSettings, model, texture_image) -> None:
    """The texture walk: its form, the job while it runs, then the video and its download."""
    st.subheader("Texture walk")
    st.write("Stylize the photo along a walk through the texture space, as a video. Each frame starts from the "
             "previous one, so the picture changes smoothly instead of flickering.")
    if texture_image is not None:
        st.info("The walk moves through the CGN's texture classes or seeds: pick a texture class above to use it.")
        return
    asked = walk_form(model)
    if asked is not None:
        walk, walk_size = asked
        start_walk(photo, settings.replace(size=walk_size), walk, model)
    job_panel(WALK_JOB, keep_walk, cancelled_text="Texture walk cancelled: no video was written.")
    walked = st.session_state.get(WALK)
    if walked and Path(walked["path"]).is_file():
        data = Path(walked["path"]).read_bytes()
        st.video(data, format="video/mp4")
        st.caption(f"{walked['frames']} frames, rendered in {walked['seconds']:.0f} s.")
        st.download_button("Download the walk (mp4)", data, file_name="texture-walk.mp4", mime="video/mp4",
                           key=state_key("sty", "walk_download"), on_click="ignore",
                           help="H.264 mp4: plays in browsers and most players.")


def main() -> None:
    header()
    try:
        model, source = current_model()
        photo, photo_name = photo_choice()
        settings_values = {}
        texture_image, texture_name = texture_choice(model, settings_values)
        mask, mask_name = subject_and_background(photo, model, settings_values)
        settings = settings_controls(model, settings_values)
        previews(photo, photo_name, settings, source, texture_image, texture_name)
        stylize_button(photo, photo_name, settings, model, texture_image, texture_name, mask, mask_name)
        before_and_after()
        texture_walk_section(photo, settings, model, texture_image)
    except cgn_art.CgnArtError as e:
        error_box(e)


main()
