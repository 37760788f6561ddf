"""Mixer latency as users feel it, alone and while two renders run (one JSON line).

Starts the real app (``streamlit run app/Home.py``) on 127.0.0.1 and drives it with Debian's
Chromium through Playwright. A change is a click on one of the Mixer's Roll buttons (a new seed);
its latency is the time from the click until the composite image in the page has a new picture,
loaded: the server's rerun, PNG encoding, the websocket, the image's HTTP fetch and decoding.

1. Alone: one Mixer user makes ``--changes`` changes at 512 px.
2. Four users: four Mixer users make ``--changes`` changes each at once, no renders: what the users
   cost each other, the floor for phase 3 on this machine.
3. Loaded: two other browsers press "Render the video" on the Latent Dance page (demo song, at
   ``--render-size`` px and ``--render-fps``), then four Mixer users change controls at once until
   both renders are done (at least ``--changes`` each; at most ``--max-load-s``). Render times run from the click to the
   finished video on the page, so the second includes its wait in the heavy-job queue.

Each user waits ``--think-s`` after seeing a picture before the next change (default 0: a stress test
no person can match; a person looks at the picture for a second or so).

    python benchmarks/server_load.py [--changes 20] [--think-s 0] [--slots N] [--render-size 256]

``--slots`` sets CGN_ART_HEAVY_JOBS for the server (default: the app's own, half the cores).
"""
from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.access(p, os.X_OK)), None)
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        "--disable-background-timer-throttling", "--disable-renderer-backgrounding"]
COMPOSITE_SRC = """() => {
    for (const el of document.querySelectorAll('[data-testid="stImage"]')) {
        const img = el.querySelector('img');
        if (img && el.innerText.includes(' · ')) return img.complete && img.naturalWidth ? img.src : null;
    }
    return null;
}"""
TRACE = bool(os.environ.get("SERVER_LOAD_TRACE"))  # each change's time and the renders' start and end, on stderr
IDLE = """() => { const a = document.querySelector('[data-testid="stApp"]');
    return a && a.dataset.testScriptState === 'notRunning' && a.dataset.testConnectionState === 'CONNECTED'
        && !document.querySelector('[data-testid="stSkeleton"]'); }"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, slots: int | None, log: Path) -> subprocess.Popen:
    env = dict(os.environ)
    if slots:
        env["CGN_ART_HEAVY_JOBS"] = str(slots)
    command = [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
               "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
               "--server.fileWatcherType", "none"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT,
                               start_new_session=True)
    for _ in range(600):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.read() == b"ok":
                    return process
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise SystemExit(f"the server did not start; see {log}")


async def open_mixer(context, url: str):
    page = await context.new_page()
    await page.goto(f"{url}/mixer?size=512")
    await page.wait_for_function(COMPOSITE_SRC, timeout=300_000)
    await page.wait_for_function(IDLE, timeout=300_000)
    return page


async def change(page, index: int) -> float:
    """Click a Roll button; seconds until the composite shows its new picture."""
    before = await page.evaluate(COMPOSITE_SRC)
    started = time.perf_counter()
    await page.get_by_role("button", name="Roll").nth(index % 3).click()
    await page.wait_for_function(f"(old) => {{ const src = ({COMPOSITE_SRC})(); return src && src !== old; }}",
                                 arg=before, polling="raf", timeout=300_000)
    seconds = time.perf_counter() - started
    await page.wait_for_function(IDLE, timeout=300_000)
    return seconds


async def mixer_user(page, changes: int, until=None, offset: int = 0, deadline: float | None = None,
                     think: float = 0.0) -> list[float]:
    times = []
    while len(times) < changes or (until is not None and not until()):
        if deadline is not None and time.monotonic() > deadline and len(times) >= changes:
            break
        times.append(await change(page, offset + len(times)))
        if TRACE:
            print(f"trace {time.monotonic():.2f} user {offset} change {1000 * times[-1]:.0f} ms", file=sys.stderr)
        await asyncio.sleep(think)
    return times


async def render(context, url: str, size_steps: int, fps_steps: int, ready: asyncio.Event, go: asyncio.Event,
                 deadline: float):
    page = await context.new_page()
    await page.set_viewport_size({"width": 1400, "height": 2400})
    await page.goto(f"{url}/dance")
    await page.get_by_text(re.compile(r"20\.0 s · ")).wait_for(timeout=600_000)
    await page.wait_for_function(IDLE, timeout=600_000)
    for name, steps in (("Video size (px)", size_steps), ("Frames per second", fps_steps)):
        slider = page.get_by_role("slider", name=name)
        await slider.focus()
        for _ in range(abs(steps)):
            await slider.press("ArrowLeft" if steps < 0 else "ArrowRight")
        await page.wait_for_function(IDLE, timeout=600_000)
    ready.set()
    await go.wait()
    started = time.perf_counter()
    if TRACE:
        print(f"trace {time.monotonic():.2f} render clicked", file=sys.stderr)
    await page.get_by_role("button", name="Render the video").click()
    caption = page.get_by_text(re.compile(r"^\d+ frames, .* s to render\.$"))
    try:
        await caption.wait_for(timeout=1000 * max(1.0, deadline - time.monotonic()))
    except Exception:  # noqa: BLE001 - past the deadline: say how far it got
        return None, f"unfinished after {time.perf_counter() - started:.0f} s: {await shown(page)}"
    if TRACE:
        print(f"trace {time.monotonic():.2f} render shown", file=sys.stderr)
    return time.perf_counter() - started, await caption.inner_text()


async def shown(page) -> str:
    """What a render's page shows now, read from the page: its progress bar, its place in line, or
    neither (the rerun after the click has not reached the job's panel yet). Never a guess: an earlier
    version said "waiting in line" whenever there was no progress bar."""
    for test_id in ("stProgress", "stAlertContainer"):
        found = page.get_by_test_id(test_id)
        if await found.count():
            return " / ".join((await found.all_inner_texts())).replace("\n", " ").strip()[:160]
    state = await page.evaluate("() => document.querySelector('[data-testid=\"stApp\"]')?.dataset.testScriptState")
    return f"no progress bar and no place in line on the page (its script is {state})"


def cpu_by_program() -> dict:
    """CPU seconds used so far by each (program, nice) on the machine, children that ended included."""
    tick = os.sysconf("SC_CLK_TCK")
    used: dict = {}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            text = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        name, fields = text[text.index("(") + 1:text.rindex(")")], text[text.rindex(")") + 2:].split()
        key = f"{name} (nice {fields[16]})"
        used[key] = used.get(key, 0.0) + sum(int(v) for v in fields[11:15]) / tick
    return used


def trace_cpu(label: str, before: dict | None) -> dict:
    now = cpu_by_program()
    if TRACE and before is not None:
        spent = {k: round(v - before.get(k, 0.0), 1) for k, v in now.items() if v - before.get(k, 0.0) >= 0.5}
        print(f"trace cpu {label}: {dict(sorted(spent.items(), key=lambda kv: -kv[1]))}", file=sys.stderr)
    return now


def autogroup() -> str:
    """Linux's autogroup scheduling shares the CPU between sessions first and only then by nice value:
    with it on, Chromium (here in the benchmark's session) and the server's session are weighed as
    groups. Say which was measured."""
    try:
        return "on" if Path("/proc/sys/kernel/sched_autogroup_enabled").read_text().strip() == "1" else "off"
    except OSError:
        return "absent"


def summary(times: list[float]) -> dict:
    ms = sorted(1000 * t for t in times)
    return {"changes": len(ms), "median_ms": round(statistics.median(ms)),
            "p90_ms": round(ms[min(len(ms) - 1, int(0.9 * len(ms)))])}


async def main_async(args) -> dict:
    from playwright.async_api import async_playwright

    port = free_port()
    log = Path(os.environ.get("TMPDIR", "/tmp")) / f"cgn-art-server-load-{port}.log"
    server = start_server(port, args.slots, log)
    url = f"http://127.0.0.1:{port}"
    load_before = os.getloadavg()[0]
    try:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            print("alone…", file=sys.stderr)
            lone = await open_mixer(await browser.new_context(), url)
            await mixer_user(lone, 3)  # warm-up: caches, first PNGs
            alone = await mixer_user(lone, args.changes)

            print("four Mixer users…", file=sys.stderr)
            users = [lone] + [await open_mixer(await browser.new_context(), url) for _ in range(3)]
            for page in users[1:]:
                await mixer_user(page, 1)  # warm-up, as for the lone user
            cpu = trace_cpu("start", None)
            four_lists = await asyncio.gather(*[mixer_user(page, args.changes, offset=i, think=args.think_s)
                                                for i, page in enumerate(users)])
            trace_cpu("four users", cpu)

            print("two renders and four Mixer users…", file=sys.stderr)
            ready = [asyncio.Event(), asyncio.Event()]
            go = asyncio.Event()
            sizes = {256: -2, 384: -1, 512: 0, 720: 1, 1080: 2}
            fpss = {12: -1, 24: 0, 30: 1}
            deadline = time.monotonic() + args.max_load_s
            renders = [asyncio.create_task(render(await browser.new_context(), url, sizes[args.render_size],
                                                  fpss[args.render_fps], ready[i], go, deadline)) for i in range(2)]
            for event in ready:
                await event.wait()
            go.set()
            cpu = trace_cpu("start", None)
            await asyncio.sleep(1.0)  # both renders have been asked for
            loaded_lists = await asyncio.gather(*[
                mixer_user(page, args.changes, until=lambda: all(r.done() for r in renders), offset=i,
                           deadline=deadline, think=args.think_s) for i, page in enumerate(users)])
            render_results = await asyncio.gather(*renders)
            trace_cpu("loaded phase", cpu)
            await browser.close()
    finally:
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    loaded = [t for times in loaded_lists for t in times]
    four = [t for times in four_lists for t in times]
    result = {
        "benchmark": "server_load", "mixer_size": 512, "cpu_count": os.cpu_count(),
        "heavy_job_slots": args.slots or max(1, len(os.sched_getaffinity(0)) // 2),
        "think_s": args.think_s,
        "alone": summary(alone), "four_users": summary(four), "with_2_renders_4_users": summary(loaded),
        "median_ratio": round(statistics.median(loaded) / statistics.median(alone), 2),
        "four_users_ratio": round(statistics.median(four) / statistics.median(alone), 2),
        "renders_cost_ratio": round(statistics.median(loaded) / statistics.median(four), 2),
        "renders_s": [None if seconds is None else round(seconds, 1) for seconds, _ in render_results],
        "render_captions": [caption for _, caption in render_results],
        "render": {"size": args.render_size, "fps": args.render_fps, "song_s": 20},
        "load_average_before": round(load_before, 2),
        "job_isolation": os.environ.get("CGN_ART_JOB_ISOLATION", "process"),
        "job_nice": os.environ.get("CGN_ART_JOB_NICE", "default"),
        "encoder_nice": int(os.environ.get("CGN_ART_ENCODER_NICE", "10")), "server_nice": os.nice(0),
        "autogroup": autogroup(),
    }
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--changes", type=int, default=20, help="changes per Mixer user and phase")
    parser.add_argument("--think-s", type=float, default=0.0,
                        help="seconds each Mixer user looks at a new picture before the next change")
    parser.add_argument("--slots", type=int, default=None, help="heavy jobs at once (CGN_ART_HEAVY_JOBS)")
    parser.add_argument("--render-size", type=int, default=256, choices=[256, 384, 512, 720, 1080])
    parser.add_argument("--render-fps", type=int, default=24, choices=[12, 24, 30])
    parser.add_argument("--max-load-s", type=float, default=900,
                        help="end the loaded phase after this long even if a render is unfinished")
    args = parser.parse_args()
    if CHROMIUM is None:
        raise SystemExit("no chromium found (apt-get install -y chromium)")
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
