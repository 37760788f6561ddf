"""The Counterfactual Latent Dance: a song in, a music-synchronised CGN video out.

Each of the CGN's three mechanisms follows its own part of the music (by default: drums pulse the
shape, harmony paints the texture, sections and loudness move the background).

>>> import cgn_art
>>> from cgn_art.dance import DanceSettings, render_dance
>>> settings = DanceSettings.from_preset("punchy", size=512, duration=20)
>>> settings.size, settings.duration
(512, 20.0)
>>> render_dance(cgn_art.load_model(), "assets/audio/demo_song.ogg", "dance.mp4", settings)  # doctest: +SKIP
"""
from cgn_art.dance.choreography import Choreography, Track, choreograph
from cgn_art.dance.renderer import (
                                    DanceResult,
                                    check_song_matches,
                                    read_sidecar,
                                    render_dance,
                                    render_size,
                                    sidecar_data,
                                    slerp,
)
from cgn_art.dance.settings import (
                                    CLASS_DRIVERS,
                                    DRIFT_DRIVERS,
                                    MECHANISMS,
                                    PRESETS,
                                    PULSE_DRIVERS,
                                    DanceSettings,
                                    MechanismMapping,
)

__all__ = [
                                    "CLASS_DRIVERS",
                                    "DRIFT_DRIVERS",
                                    "MECHANISMS",
                                    "PRESETS",
                                    "PULSE_DRIVERS",
                                    "Choreography",
                                    "DanceResult",
                                    "DanceSettings",
                                    "MechanismMapping",
                                    "Track",
                                    "check_song_matches",
                                    "choreograph",
                                    "read_sidecar",
                                    "render_dance",
                                    "render_size",
                                    "sidecar_data",
                                    "slerp",
]
