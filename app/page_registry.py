"""Every page of the app, registered in this one place: app/Home.py builds the navigation from it,
the Home page links to each page with its description, and the tests visit each page.

A new page is one file in app/views/ and one line here.
"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class PageInfo:
    file: str  # relative to app/, as st.Page and AppTest.switch_page take it
    title: str
    icon: str
    description: str = ""  # the line under the page's link on Home; only the default page (Home) has none
    default: bool = False
    keys: tuple[str, ...] = ()  # the prefixes of this page's session-state and widget keys (common.state_key)

    def __post_init__(self):
        if not self.default and not self.description.strip():
            raise ValueError(f"page {self.title!r} ({self.file}) has no description: Home would show a blank line")


PAGES = (
    PageInfo("views/home.py", "Home", ":material/home:", default=True, keys=("gallery",)),
    PageInfo("views/mixer.py", "Mixer", ":material/tune:",
             "Pick a shape, a texture and a background, take the image apart, vary one mechanism across every "
             "class, walk from one class to another, and share the mix as a link.", keys=("mix", "walk")),
    PageInfo("views/type.py", "Type", ":material/text_fields:",
             "Set a phrase in counterfactual letters: each letter a mask from the Letters CGN, painted in its "
             "textures; download the poster, share it as a link.", keys=("type",)),
    PageInfo("views/materials.py", "Materials", ":material/texture:",
             "Make a texture or a background from your own photos, and use it on every page.", keys=("materials",)),
    PageInfo("views/dance.py", "Latent Dance", ":material/music_note:",
             "Upload a song and get a video whose shape, texture and background move with its beats, harmony "
             "and sections.", keys=("dance",)),
    PageInfo("views/stylizer.py", "Texture Stylizer", ":material/brush:",
             "Repaint a photo with a texture the model generates, and walk the photo through texture space as a "
             "video.", keys=("sty",)),
    PageInfo("views/robustness.py", "Robustness Lab", ":material/science:",
             "Train classifiers on biased data and on counterfactual data, and see which one looks at the shape.",
             keys=("lab", "robustness")),
)

# Key prefixes of what every page shares (app/Home.py and app/common.py): the sidebar's model picker,
# the heavy-job queue, the list of pages.
SHARED_KEYS = ("model", "job", "pages")


def key_owners(pages=PAGES, shared=SHARED_KEYS) -> dict[str, str]:
    """Each key prefix -> the title of the page that claims it ("shared" for SHARED_KEYS).

    Refuses a prefix claimed twice, or one with "_" in it: a key's first "_"-part names its owner, so
    keys of different pages cannot collide (Streamlit keeps one session state for the whole app)."""
    owners: dict[str, str] = {}
    for owner, prefixes in [("shared", shared), *((page.title, page.keys) for page in pages)]:
        for prefix in prefixes:
            if not prefix or "_" in prefix:
                raise ValueError(f"{owner}: the key prefix {prefix!r} must be one word without '_'")
            if prefix in owners:
                raise ValueError(f"{owner}: the key prefix {prefix!r} is claimed by {owners[prefix]} already")
            owners[prefix] = owner
    return owners


KEY_OWNERS = key_owners()
