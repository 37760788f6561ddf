"""The Texture Stylizer's two regions: what the subject and the background get, and the subject's
mask, found by GrabCut in a box (dragged on the photo or set with sliders) or uploaded."""
import streamlit as st
from common import quick_png, state_key

from cgn_art.stylize import HELP
from cgn_art.stylize.regions import GRABCUT_SIDE, default_box, grabcut_mask, parse_box, read_mask, scale_box

try:  # a box dragged on the photo; four sliders where the component is not installed
    from streamlit_drawable_canvas import st_canvas
except ImportError:
    st_canvas = None


@st.cache_data(max_entries=16, show_spinner="Finding the subject (GrabCut)...")
def found_mask(small_png: bytes, box: tuple) -> bytes:
    """GrabCut's mask of a small copy of the photo (cached: it reruns only when the box moves)."""
    from io import BytesIO

    from PIL import Image

    return quick_png(grabcut_mask(Image.open(BytesIO(small_png)).convert("RGB"), box))


def subject_box_input(photo) -> tuple[int, int, int, int]:
    """The subject box in photo pixels: dragged on the photo (drawable canvas) or four sliders."""
    width, height = photo.size
    x0, y0, x1, y1 = default_box(width, height)
    ways = (["Draw a box on the photo"] if st_canvas else []) + ["Four sliders"]
    way = st.radio("Subject box", ways, horizontal=True, key=state_key("sty", "box_way"),
                   help="Drag a rectangle around the subject, or set its edges with sliders. Outside the box is "
                        "background; inside, GrabCut tells the subject from the rest by colour.")
    if way == "Draw a box on the photo":
        side = 512
        scale = side / max(width, height)
        shown = (max(1, round(width * scale)), max(1, round(height * scale)))
        drawn = st_canvas(fill_color="rgba(255, 140, 0, 0.15)", stroke_width=2, stroke_color="#ff8c00",
                          background_image=photo.resize(shown), height=shown[1], width=shown[0],
                          drawing_mode="rect", key=state_key("sty", "box_canvas"))
        rects = [o for o in ((drawn.json_data or {}).get("objects", []) if drawn is not None else [])
                 if o.get("type") == "rect"]
        if not rects:
            st.caption("No box drawn yet: the centre of the photo is used.")
            return x0, y0, x1, y1
        r = rects[-1]
        left, top = r.get("left", 0), r.get("top", 0)
        right, bottom = left + r.get("width", 0) * r.get("scaleX", 1), top + r.get("height", 0) * r.get("scaleY", 1)
        box = [min(left, right) / scale, min(top, bottom) / scale, max(left, right) / scale, max(top, bottom) / scale]
        return (max(0, round(box[0])), max(0, round(box[1])), min(width, round(box[2])), min(height, round(box[3])))
    a, b = st.columns(2)
    xs = a.slider("Subject: left and right edges (px)", 0, width, (x0, x1), key=state_key("sty", "box_x"),
                  help="Where the subject starts and ends across the photo.")
    ys = b.slider("Subject: top and bottom edges (px)", 0, height, (y0, y1), key=state_key("sty", "box_y"),
                  help="Where the subject starts and ends down the photo.")
    return xs[0], ys[0], xs[1], ys[1]


def subject_and_background(photo, model, settings_values: dict):
    """Two regions: what the subject and the background get, and the subject's mask (found by
    GrabCut in a box, or uploaded). Returns (mask or None, mask name or None)."""
    st.subheader("Subject and background")
    regions = st.radio("Regions", ["one", "two"], horizontal=True, key=state_key("sty", "regions"),
                       format_func={"one": "One: the whole photo", "two": "Two: subject and background apart"}.get,
                       help=HELP["regions"])
    settings_values["regions"] = regions
    if regions == "one":
        return None, None
    a, b, c = st.columns(3)
    subject_gets = a.radio("The subject gets", ["texture", "photo"], key=state_key("sty", "subject_gets"),
                           format_func={"texture": "The texture above", "photo": "The photo, untouched"}.get,
                           help=HELP["keep_subject_photo"])
    settings_values["keep_subject_photo"] = subject_gets == "photo"
    options = ["photo"] + [f"texture:{i}" for i in range(model.num_classes("texture"))] + \
              [f"background:{i}" for i in range(model.num_classes("background"))]

    def option_name(option: str) -> str:
        if option == "photo":
            return "The photo, untouched"
        mechanism, index = option.split(":")
        return f"{model.class_names[mechanism][int(index)]} ({mechanism})"

    background = b.selectbox("The background gets", options, index=1, format_func=option_name,
                             key=state_key("sty", "background"),
                             help="A texture class, a background class of the CGN (e.g. galaxy), or the photo.")
    if background != "photo":
        mechanism, index = background.split(":")
        settings_values.update(background_mechanism=mechanism, background_texture_class=int(index))
    settings_values["feather"] = c.slider("Seam softness", 0.0, 0.05, 0.01, 0.005, key=state_key("sty", "feather"),
                                          help=HELP["feather"])
    mask_from = st.radio("The subject", ["box", "upload"], horizontal=True, key=state_key("sty", "mask_from"),
                         format_func={"box": "Found in a box (GrabCut)", "upload": "My mask (PNG)"}.get,
                         help="GrabCut finds the subject inside a box around it; or upload a mask you made, white "
                              "where the subject is (a mask downloaded here works too).")
    if mask_from == "upload":
        upload = st.file_uploader("Upload the subject's mask (PNG, white = subject)", type=["png"],
                                  key=state_key("sty", "mask_upload"),
                                  help="The photo's size or the same shape scaled; white = subject, "
                                       "black = background.")
        if upload is None:
            st.info("Upload a mask, or let GrabCut find the subject in a box.")
            st.stop()
        mask, name = read_mask(upload.getvalue(), photo.width, photo.height, name=upload.name), upload.name
    else:
        box = parse_box(subject_box_input(photo), photo.width, photo.height)
        settings_values["subject_box"] = ",".join(str(v) for v in box)
        scale = min(1.0, GRABCUT_SIDE / max(photo.size))
        small = photo.resize((max(8, round(photo.width * scale)), max(8, round(photo.height * scale))))
        small_box = scale_box(box, photo.size, small.size)
        mask = read_mask(found_mask(quick_png(small), small_box), photo.width, photo.height, name="the found mask")
        name = "GrabCut"
    left, right = st.columns(2)
    shown = (max(1, round(256 * photo.width / max(photo.size))), max(1, round(256 * photo.height / max(photo.size))))
    from PIL import Image

    overlay = Image.composite(photo.resize(shown), Image.new("RGB", shown, (255, 140, 0)),
                              mask.resize(shown).point(lambda v: 255 if v >= 128 else 90))
    left.image(quick_png(overlay), caption="The subject (the background tinted orange)")
    right.image(quick_png(mask.resize(shown)), caption=f"The mask ({name}), white = subject")
    right.download_button("Download the mask (PNG)", quick_png(mask), file_name="subject-mask.png", mime="image/png",
                          key=state_key("sty", "mask_download"), on_click="ignore",
                          help="The subject's mask at the photo's size: edit it in any paint program and upload it.")
    return mask, name
