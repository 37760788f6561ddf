"""Audio in: load any song (wav, mp3, ogg, flac, m4a/aac; any rate, any channels), analyse it with
librosa into one :class:`AudioFeatures`, and cache analyses per file and stretch.

>>> from cgn_art.audio import analyse_file
>>> features = analyse_file("assets/audio/demo_song.ogg")
>>> features.tempo, features.beats[:4], features.sections
"""
from cgn_art.audio.analysis import (
                                AudioFeatures,
                                analyse,
                                warm_up,
                                warm_up_in_background,
)
from cgn_art.audio.cache import analyse_file, cache_dir
from cgn_art.audio.load import (
                                AUDIO_SUFFIXES,
                                DEFAULT_MAX_DURATION,
                                MIN_DURATION,
                                SAMPLE_RATE,
                                Audio,
                                audio_duration,
                                ensure_ffmpeg_on_path,
                                file_hash,
                                load_audio,
)

__all__ = [
                                "AUDIO_SUFFIXES",
                                "DEFAULT_MAX_DURATION",
                                "MIN_DURATION",
                                "SAMPLE_RATE",
                                "Audio",
                                "AudioFeatures",
                                "analyse",
                                "analyse_file",
                                "audio_duration",
                                "cache_dir",
                                "ensure_ffmpeg_on_path",
                                "file_hash",
                                "load_audio",
                                "warm_up",
                                "warm_up_in_background",
]
