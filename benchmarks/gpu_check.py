"""GPU readiness of the ImageNet CGN, one JSON line: Mixer, Latent Dance, torch.compile, Stylizer,
small-CGN training and peak GPU memory, on the paper's layout with random weights.

What it measures (on CUDA, bf16 autocast, BigGAN-deep-256 x3 + the full U^2-Net):
- mixer: ms per counterfactual at 256 px, batch 1 and 16 (``model.counterfactual``, as the Mixer);
- dance: a 10 s Latent Dance at 256 px and 24 fps with mechanism caching: frames/s of generation
  alone (frames to memory), the same without caching (the baseline: ``ratio``), and of the whole
  render including H.264 encoding; encoding alone with libx264 (veryfast, ultrafast) and, when the
  ffmpeg at hand has it, NVIDIA's h264_nvenc through a raw pipe. ``bar_24fps``: the whole render
  with caching keeps up with 24 fps;
- compile: the Mixer figures again after ``model.compile()`` (torch.compile), with its warm-up;
- stylize: one Texture Stylizer run at 1024 px (the ImageNet CGN's robin texture on chelsea);
- train_small: small-CGN (wildlife) training steps per second;
- peak GPU memory per part (``torch.cuda.max_memory_allocated``) and over the whole run.
A part that fails records its error and the others still run.

    # on a GPU machine, after --prepare here (see below):
    python benchmarks/gpu_check.py --assets .gpu_assets [--out $OUT/gpu_check.json]
    # CI-safe smoke test on a CPU (small sizes and few steps; not part of the test suite):
    python benchmarks/gpu_check.py --device cpu --resolution 128

The GPU machine lacks librosa, soundfile and mlxtend (and pytorch-pretrained-biggan's download
helpers import boto3): ``--prepare DIR`` writes, on a machine that has them, the song, its
analysis (features.npz) and the small-CGN training data cache, so ``--assets DIR`` there needs
none of them. Missing download-only modules (boto3, botocore, requests) are stubbed: nothing is
downloaded. Without an ffmpeg (imageio-ffmpeg or one on PATH) the encoding figures say so.
"""
from __future__ import annotations

import argparse
import importlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import types
import wave
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
STUBBED: list[str] = []


def _importable(name: str) -> bool:
    try:
        importlib.import_module(name)
        return True
    except ImportError:
        return False


def stub_download_modules() -> None:
    """pytorch-pretrained-biggan imports boto3/botocore/requests for downloads we never make."""
    if not _importable("boto3"):
        sys.modules["boto3"] = types.ModuleType("boto3")
        STUBBED.append("boto3")
    if not _importable("botocore.exceptions"):
        botocore, exceptions = types.ModuleType("botocore"), types.ModuleType("botocore.exceptions")
        exceptions.ClientError = type("ClientError", (Exception,), {})
        botocore.exceptions = exceptions
        sys.modules.update({"botocore": botocore, "botocore.exceptions": exceptions})
        STUBBED.append("botocore")
    if not _importable("requests"):
        sys.modules["requests"] = types.ModuleType("requests")
        STUBBED.append("requests")


def find_ffmpeg() -> str | None:
    """imageio-ffmpeg's binary, else an ffmpeg on PATH (then imageio_ffmpeg is stubbed to return it)."""
    if _importable("imageio_ffmpeg"):
        import imageio_ffmpeg

        return imageio_ffmpeg.get_ffmpeg_exe()
    found = shutil.which("ffmpeg")
    if found:
        stub = types.ModuleType("imageio_ffmpeg")
        stub.get_ffmpeg_exe = lambda: found
        sys.modules["imageio_ffmpeg"] = stub
        STUBBED.append("imageio_ffmpeg")
    return found


# Inputs ---------------------------------------------------------------------------------------------

def write_song(path: Path, seconds: float, bpm: float = 120.0, rate: int = 22050) -> Path:
    """A drum-and-chord loop (kick on every beat, a chord change every bar) as 16-bit WAV."""
    t = np.arange(int(seconds * rate)) / rate
    beat = 60.0 / bpm
    kick = np.sin(2 * np.pi * 60 * t) * np.exp(-((t % beat) / beat) * 12)
    roots = np.array([220.0, 174.6, 261.6, 196.0])[(t // (4 * beat)).astype(int) % 4]
    chord = sum(np.sin(2 * np.pi * roots * r * t) for r in (1, 1.26, 1.5)) * 0.15
    samples = np.clip((0.6 * kick + chord) * 32767 * 0.8, -32768, 32767).astype("<i2")
    with wave.open(str(path), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.tobytes())
    return path


def prepare(folder: Path, seconds: float) -> None:
    """Write what --assets reads: song.wav, features.npz, and the wildlife training-data cache."""
    from cgn_art.audio import analyse_file

    folder.mkdir(parents=True, exist_ok=True)
    song = write_song(folder / "song.wav", seconds + 0.5)
    features = analyse_file(song, 0.0, seconds, use_cache=False)
    np.savez(folder / "features.npz", **features.to_arrays())
    os.environ["CGN_ART_CACHE"] = str(folder)
    from cgn_art.data import mnist

    mnist.load("wildlife", "train", seed=0, copies=1)
    print(json.dumps({"prepared": str(folder), "files": sorted(str(p.relative_to(folder)) for p in folder.rglob("*")
                                                               if p.is_file())}))


def song_and_features(assets: Path | None, tmp: Path, seconds: float):
    from cgn_art.audio.analysis import AudioFeatures

    if assets is not None:
        with np.load(assets / "features.npz", allow_pickle=False) as data:
            features = AudioFeatures.from_arrays({k: data[k] for k in data.files})
        return assets / "song.wav", features
    from cgn_art.audio import analyse_file

    song = write_song(tmp / "song.wav", seconds + 0.5)
    return song, analyse_file(song, 0.0, seconds, use_cache=False)


# Measuring --------------------------------------------------------------------------------------------

class Clock:
    def __init__(self, device: torch.device):
        self.cuda = device.type == "cuda"
        self.overall_peak_mb = 0.0  # parts reset the peak; this keeps the largest

    def sync(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()

    def reset_peak(self) -> None:
        if self.cuda:
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()

    def peak_mb(self) -> float | None:
        return round(torch.cuda.max_memory_allocated() / 2**20, 1) if self.cuda else None

    def seconds(self, call, repeats: int = 1) -> float:
        """Median wall time of ``call()`` over ``repeats`` (after the caller's warm-up)."""
        times = []
        for _ in range(repeats):
            self.sync()
            began = time.perf_counter()
            call()
            self.sync()
            times.append(time.perf_counter() - began)
        return float(np.median(times))


def build_model(resolution: int, device: torch.device, warm_up_passes: int):
    """The released layout (BigGAN-deep x3 + the full U^2-Net), random weights that give finite
    images; no biggan_GT (rendering never uses it)."""
    from cgn_art.mechanisms.biggan import biggan_config, random_biggan
    from cgn_art.mechanisms.imagenet import ImageNetCGN, ImageNetCGNConfig

    config = biggan_config(resolution)
    model = ImageNetCGN(ImageNetCGNConfig(biggan=config.to_dict(), u2net_divisor=1, batch_size=16,
                                          target_biggan=False))
    state = random_biggan(config, seed=0, warm_up_passes=warm_up_passes).state_dict()
    for part in ("f_shape", "f_text", "f_bg"):
        getattr(model, part).load_state_dict(state)
    model = model.eval().requires_grad_(False).to(device)
    model.precision = "bf16" if device.type == "cuda" else "fp32"
    return model


@torch.no_grad()
def mixer(model, clock: Clock, batches, size: int, repeats: int) -> dict:
    shapes, textures, backgrounds = (model.presets[m] for m in ("shape", "texture", "background"))
    out = {}
    for n in batches:
        def call(n=n):
            return model.counterfactual([shapes[i % len(shapes)] for i in range(n)],
                                        [textures[i % len(textures)] for i in range(n)],
                                        [backgrounds[i % len(backgrounds)] for i in range(n)],
                                        seed=list(range(n)), truncation=0.5, size=size)
        first = clock.seconds(call)  # warm-up: allocator, cuDNN autotuning, compile when compiled
        out[f"batch{n}_ms_per_counterfactual"] = round(clock.seconds(call, repeats) / n * 1e3, 2)
        out[f"batch{n}_first_call_s"] = round(first, 2)
    return out


def dance_settings(model, size: int, fps: int, seconds: float):
    from cgn_art.dance import DanceSettings

    return DanceSettings.from_preset("groove", size=size, fps=fps, duration=seconds).with_changes(
        {f"{m}.classes": ",".join(map(str, model.presets[m][:12])) for m in ("shape", "texture", "background")})


@torch.no_grad()
def generate_frames(model, features, settings, reuse: bool, clock: Clock, keep: bool, limit: int | None = None):
    """(frames/s of generation alone, uint8 frames or None, mechanism counts): the dance renderer's
    own frame loop (the benchmark reaches into it to leave encoding out)."""
    from cgn_art.dance import choreograph, render_size
    from cgn_art.dance.renderer import _FrameRenderer, class_counts
    from cgn_art.video import to_uint8_frames

    choreography = choreograph(features, settings, class_counts(model), model.presets)
    renderer = _FrameRenderer(model, choreography, settings, render_size(model, settings.size), reuse)
    n, kept = min(choreography.n_frames, limit or choreography.n_frames), []
    clock.sync()
    began = time.perf_counter()
    for first in range(0, n, 32):
        frames = renderer.frames(first, min(n, first + 32))
        if keep:
            kept.append(to_uint8_frames(frames))
    clock.sync()
    fps = n / (time.perf_counter() - began)
    return fps, (np.concatenate(kept) if keep else None), dict(renderer.computed)


def encode_figures(frames: np.ndarray, fps: int, ffmpeg: str, tmp: Path, cuda: bool) -> dict:
    from cgn_art.video import VideoWriter

    out = {}
    for preset in ("veryfast", "ultrafast"):
        began = time.perf_counter()
        with VideoWriter(tmp / f"enc-{preset}.mp4", fps=fps, preset=preset) as writer:
            writer.write(frames)
        out[f"libx264_{preset}_fps"] = round(len(frames) / (time.perf_counter() - began), 1)
    encoders = subprocess.run([ffmpeg, "-hide_banner", "-encoders"], capture_output=True, text=True).stdout
    out["ffmpeg_has_h264_nvenc"] = "h264_nvenc" in encoders
    if cuda and out["ffmpeg_has_h264_nvenc"]:
        h, w = frames.shape[1:3]
        cmd = [ffmpeg, "-y", "-hide_banner", "-loglevel", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{w}x{h}", "-r", str(fps), "-i", "-", "-c:v", "h264_nvenc", "-pix_fmt", "yuv420p",
               str(tmp / "enc-nvenc.mp4")]
        began = time.perf_counter()
        done = subprocess.run(cmd, input=frames.tobytes(), capture_output=True)
        if done.returncode == 0:
            out["h264_nvenc_fps"] = round(len(frames) / (time.perf_counter() - began), 1)
        else:
            out["h264_nvenc_error"] = done.stderr.decode(errors="replace").strip().splitlines()[-1:] or "failed"
    return out


def dance(model, clock: Clock, song: Path, features, size: int, fps: int, seconds: float, ffmpeg: str | None,
          tmp: Path) -> dict:
    from cgn_art.dance import render_dance

    settings = dance_settings(model, size, fps, seconds)
    generate_frames(model, features, settings, True, clock, keep=False, limit=4)  # warm-up
    fps_cached, frames, computed = generate_frames(model, features, settings, True, clock, keep=True)
    fps_plain, _, _ = generate_frames(model, features, settings, False, clock, keep=False)
    out = {"frames": int(len(frames)), "size": size, "fps": fps, "computed_with_caching": computed,
           "generation_fps": round(fps_cached, 2), "generation_fps_without_caching": round(fps_plain, 2),
           "ratio": round(fps_cached / fps_plain, 2)}
    if ffmpeg is None:
        out["render"] = "unavailable: no ffmpeg (imageio-ffmpeg or ffmpeg on PATH)"
        return out
    result = render_dance(model, song, tmp / "dance.mp4", settings, features=features, write_sidecar=False)
    out["render_fps"] = round(result.frames / result.timings["render_s"], 2)
    out.update(encode_figures(frames, fps, ffmpeg, tmp, clock.cuda))
    return out


def stylize_run(model, device: torch.device, size: int, steps: int, levels: int) -> dict:
    from cgn_art.images import demo_photo
    from cgn_art.stylize import StylizeSettings, stylize

    settings = StylizeSettings(size=size, texture_class=15, steps=steps, levels=levels, device=device.type)
    began = time.perf_counter()
    result = stylize(demo_photo("chelsea"), settings, model=model)
    seconds = time.perf_counter() - began
    return {"size": size, "steps": sum(result.steps), "levels": levels, "seconds": round(seconds, 2),
            "steps_per_s": round(sum(result.steps) / seconds, 2)}


def train_small(device: torch.device, clock: Clock, steps: int, batch_size: int) -> dict:
    from cgn_art.train.cgn import Trainer, TrainSettings

    trainer = Trainer(TrainSettings(variant="wildlife", steps=steps + 2, batch_size=batch_size, copies=1,
                                    device=device.type, sample_every=10**6, checkpoint_every=10**6))
    for _ in range(2):  # warm-up
        trainer.train_step()
    seconds = clock.seconds(lambda: [trainer.train_step() for _ in range(steps)])
    return {"steps": steps, "batch_size": batch_size, "steps_per_s": round(steps / seconds, 2)}


def part(name: str, results: dict, errors: dict, clock: Clock, call) -> None:
    clock.reset_peak()
    began = time.perf_counter()
    try:
        results[name] = call()
    except Exception as e:  # noqa: BLE001 - one broken part must not hide the others' figures
        errors[name] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:300]
        return
    results[name]["wall_s"] = round(time.perf_counter() - began, 1)
    if clock.cuda:
        results[name]["peak_gpu_memory_mb"] = clock.peak_mb()
        clock.overall_peak_mb = max(clock.overall_peak_mb, clock.peak_mb())
    print(f"gpu_check: {name} done in {time.perf_counter() - began:.1f} s", file=sys.stderr, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--resolution", type=int, default=None, choices=(128, 256, 512),
                        help="BigGAN-deep size (default 256; 128 in the CPU smoke test)")
    parser.add_argument("--size", type=int, default=None, help="render size (default: the resolution)")
    parser.add_argument("--batches", default=None, help="Mixer batch sizes (default 1,16; CPU 1,2)")
    parser.add_argument("--dance-seconds", type=float, default=None, help="default 10 (CPU 1, the shortest song)")
    parser.add_argument("--fps", type=int, default=None, help="default 24 (CPU 6)")
    parser.add_argument("--stylize-size", type=int, default=None, help="default 1024 (CPU 128)")
    parser.add_argument("--stylize-steps", type=int, default=None, help="default 25 per level (CPU 2)")
    parser.add_argument("--train-steps", type=int, default=None, help="default 50 (CPU 3)")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls per Mixer figure (default 5; CPU 1)")
    parser.add_argument("--compile", choices=("auto", "on", "off"), default="auto",
                        help="torch.compile part (auto: on for CUDA, off for the CPU smoke test)")
    parser.add_argument("--compile-backend", default="inductor",
                        help="torch.compile backend (eager: a quick check of the code path on a CPU)")
    parser.add_argument("--assets", type=Path, default=None, help="folder written by --prepare")
    parser.add_argument("--prepare", type=Path, default=None, metavar="DIR",
                        help="write the song, its analysis and the training data to DIR, then exit")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON line to this file")
    args = parser.parse_args()

    stub_download_modules()
    cpu = args.device == "cpu"
    seconds = args.dance_seconds if args.dance_seconds is not None else (1.0 if cpu else 10.0)
    if args.prepare is not None:
        prepare(args.prepare, seconds)
        return
    if args.assets is not None:
        os.environ["CGN_ART_CACHE"] = str(args.assets)  # the prepared training-data cache
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("gpu_check: CUDA is not available here; for the smoke test use --device cpu --resolution 128")
    resolution = args.resolution or (128 if cpu else 256)
    fps = args.fps or (6 if cpu else 24)
    size = args.size or resolution
    batches = [int(b) for b in (args.batches or ("1,2" if cpu else "1,16")).split(",")]
    repeats = args.repeats or (1 if cpu else 5)
    compile_on = args.compile == "on" or (args.compile == "auto" and not cpu)
    clock = Clock(device)
    ffmpeg = find_ffmpeg()
    results: dict = {}
    errors: dict = {}
    began = time.perf_counter()
    if clock.cuda:
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True
    model = build_model(resolution, device, warm_up_passes=3 if cpu else 10)
    build_s = time.perf_counter() - began
    if clock.cuda:
        clock.overall_peak_mb = clock.peak_mb()
    print(f"gpu_check: model built in {build_s:.1f} s", file=sys.stderr, flush=True)
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        part("mixer", results, errors, clock, lambda: mixer(model, clock, batches, size, repeats))
        part("dance", results, errors, clock, lambda: dance(model, clock, *song_and_features(args.assets, tmp, seconds),
                                                            size, fps, seconds, ffmpeg, tmp))
        part("stylize", results, errors, clock, lambda: stylize_run(
            model, device, args.stylize_size or (128 if cpu else 1024), args.stylize_steps or (2 if cpu else 25),
            1 if cpu else 3))
        part("train_small", results, errors, clock, lambda: train_small(
            device, clock, args.train_steps or (3 if cpu else 50), 8 if cpu else 32))
        if compile_on:
            def compiled():
                model.compile(backend=args.compile_backend)
                figures = mixer(model, clock, batches, size, repeats)
                eager = results.get("mixer", {})
                for n in batches:
                    key = f"batch{n}_ms_per_counterfactual"
                    if key in eager:
                        figures[f"batch{n}_speedup"] = round(eager[key] / figures[key], 2)
                figures["backend"] = args.compile_backend
                return figures
            part("compile", results, errors, clock, compiled)
        else:
            results["compile"] = {"skipped": "off (--compile on to measure it)"}
    dance_figures = results.get("dance", {})
    line = {
        "benchmark": "gpu_check",
        "device": torch.cuda.get_device_name(device) if clock.cuda else "cpu",
        "torch": torch.__version__, "smoke": cpu, "resolution": resolution, "size": size,
        "precision": model.precision, "threads": torch.get_num_threads(), "build_s": round(build_s, 1),
        **results,
        "ratio": dance_figures.get("ratio"),  # generation with mechanism caching vs without, same process
        "bar_24fps": (dance_figures["render_fps"] >= 24 and dance_figures["generation_fps"] >= 24)
        if "render_fps" in dance_figures else None,
        "peak_gpu_memory_mb": max(clock.overall_peak_mb, clock.peak_mb()) if clock.cuda else None,
        "stubbed_modules": STUBBED, "errors": errors, "wall_s": round(time.perf_counter() - began, 1),
    }
    text = json.dumps(line)
    print(text)
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")


if __name__ == "__main__":
    main()
