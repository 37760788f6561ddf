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

    def __post_init__(self):
        if not self.default and not self.description.strip():
            raise ValueError(f"page {self.title!r} ({self.file}) has no description: Home would show a blank line")


PAGES = (
    PageInfo("views/home.py", "Home", ":material/home:", default=True),
    PageInfo("views/mixer.py", "Mixer", ":material/tune:",
             "Pick a shape, a texture and a background, take the image apart, vary one mechanism across every "
             "class, walk from one class to another, and share the mix as a link."),
    PageInfo("views/type.py", "Type", ":material/text_fields:",
             "Set a phrase in counterfactual letters: each letter a mask from the Letters CGN, painted in its "
             "textures; download the poster, share it as a link."),
    PageInfo("views/dance.py", "Latent Dance", ":material/music_note:",
             "Upload a song and get a video whose shape, texture and background move with its beats, harmony "
             "and sections."),
    PageInfo("views/stylizer.py", "Texture Stylizer", ":material/brush:",
             "Repaint a photo with a texture the model generates, and walk the photo through texture space as a "
             "video."),
    PageInfo("views/robustness.py", "Robustness Lab", ":material/science:",
             "Train classifiers on biased data and on counterfactual data, and see which one looks at the shape."),
)
