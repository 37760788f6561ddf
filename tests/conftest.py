"""Shared fixtures: a model whose classes visibly matter, the app server, and Debian Chromium for Playwright."""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
# AppTest runs the pages in this process, where tests replace library functions (monkeypatch) and hold
# jobs with threading events: heavy jobs run on threads here. The servers these tests start get the
# app's own default, worker processes (start_server), so the browser tests cover that path.
os.environ["CGN_ART_JOB_ISOLATION"] = "thread"
# User models (your own materials) go to a folder of this run's, never to the real user's; the servers
# the browser tests start inherit it.
os.environ["CGN_ART_MODELS"] = tempfile.mkdtemp(prefix="cgn-art-test-user-models-")
# The real binary skips the Debian wrapper script (and its noise); either works.
CHROMIUM = next((p for p in ("/usr/lib/chromium/chromium", "/usr/bin/chromium") if os.access(p, os.X_OK)),
                shutil.which("chromium"))


def pytest_collection_modifyitems(config, items):
    if CHROMIUM:
        return
    skip = pytest.mark.skip(reason="no chromium found (apt-get install -y chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory) -> Path:
    """A small CGN saved as a model folder, with random class embeddings so every class looks different.

    The shipped weights may be untrained placeholders, in which a class changes nothing; the app's
    tests must not depend on how far training has got.
    """
    from cgn_art import save_model
    from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig

    config = SmallCGNConfig(
        variant="test-pattern", width=16,
        shape_classes=[f"test shape {i}" for i in range(4)],
        texture_classes=[f"test texture {i}" for i in range(5)],
        background_classes=[f"test background {i}" for i in range(6)])
    torch.manual_seed(0)
    model = SmallCGN(config)
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".film." in name:  # zero at init: without this, the class would not matter
                parameter.normal_(0, 0.5)
    return save_model(model, tmp_path_factory.mktemp("models") / "test-pattern")


@pytest.fixture(scope="module")
def model(model_dir):
    """The model_dir model, loaded on the CPU: every class looks different whatever the shipped weights are.
    Modules that need another model (the shipped one, an ImageNet CGN) define their own ``model``."""
    import cgn_art

    return cgn_art.load_model(str(model_dir), device="cpu")


@pytest.fixture(scope="module")
def one_thread():
    """torch on one thread for a module's tests, restored afterwards."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state not in ("Z", "X")


def wait_until(condition, seconds=120.0):
    """Poll ``condition`` (a wait for an event, not a speed requirement: the machine may be busy)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(command: list[str], port: int, log: Path, timeout: float = 90) -> subprocess.Popen:
    """Start ``command`` in its own process group and wait until Streamlit's health check answers ok."""
    env = {name: value for name, value in os.environ.items() if name != "CGN_ART_JOB_ISOLATION"}
    with open(log, "wb") as out:
        process = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   env=env)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.read().decode().strip() == "ok":
                    return process
        except OSError:
            time.sleep(0.2)
    stop_server(process)
    raise RuntimeError(f"server did not answer /_stcore/health within {timeout} s:\n{log.read_text()[-3000:]}")


def stop_server(process: subprocess.Popen) -> None:
    """Stop the server and anything it started (make starts streamlit as a child)."""
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


@pytest.fixture(scope="module")
def serve(tmp_path_factory):
    """``serve(command_for_port)`` starts a server on a free port, waits for its health check and
    returns its URL; it is stopped when the module's tests are done."""
    started = []

    def start(command_for_port) -> str:
        port = free_port()
        log = tmp_path_factory.mktemp("server") / "server.log"
        started.append((start_server(command_for_port(port), port, log), log))
        return f"http://127.0.0.1:{port}"

    yield start
    deaths = [death(process, log) for process, log in started]
    for process, _ in started:
        stop_server(process)
    if any(deaths):
        raise RuntimeError(next(d for d in deaths if d))


def death(process: subprocess.Popen, log: Path) -> str | None:
    """Why a server died before its tests ended (its tests then fail with "connection refused"):
    its exit status and the end of its log, where faulthandler writes a native crash's stack."""
    if process.poll() is None:
        return None
    last_words = log.read_text(errors="replace")[-4000:]
    return f"the app server died during the tests (exit {process.returncode}):\n{last_words}"


def streamlit_command(port: int) -> list[str]:
    """The app on ``port``, as browser-testing.md recommends."""
    return [sys.executable, "-m", "streamlit", "run", "app/Home.py", "--server.headless", "true",
            "--server.address", "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false",
            "--server.fileWatcherType", "none"]


@pytest.fixture(scope="module")
def app_server(serve) -> str:
    return serve(streamlit_command)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright launches Debian's Chromium (never `playwright install`: it needs the internet)."""
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    }


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def wait_for_app():
    return _wait_for_app


def song_box(page):
    """The Latent Dance page's Song upload (its file input), found by its label. The demo song's page
    has another drop zone, the Lyrics box, and until the rerun after "Upload a song" arrives it is the
    only one: never upload to whichever input comes first."""
    return page.locator('[data-testid="stFileUploaderDropzone"][aria-label="Song"]').get_by_test_id(
        "stFileUploaderDropzoneInput")


def _wait_for_app(page, timeout: float = 60_000) -> None:
    """Wait until Streamlit is connected, idle and has no lazily rendered widget left.

    Call it after expecting the result of an action: idle alone races the rerun the action starts.
    """
    app = page.get_by_test_id("stApp")
    app.wait_for(timeout=timeout)
    page.wait_for_function(
        """() => {
            const app = document.querySelector('[data-testid="stApp"]');
            return app && app.dataset.testConnectionState === 'CONNECTED'
                && app.dataset.testScriptState === 'notRunning'
                && !document.querySelector('[data-testid="stSkeleton"]');
        }""", timeout=timeout)


@pytest.fixture(scope="module")
def letters_dir(tmp_path_factory):
    """A tiny random letters-shaped SmallCGN saved as a model folder (the shape the Letters CGN will have)."""
    from helpers.typeset import CAPS

    from cgn_art import save_model
    from cgn_art.mechanisms.small import SmallCGN, SmallCGNConfig

    torch.manual_seed(0)
    model = SmallCGN(SmallCGNConfig(variant="letters", shape_classes=CAPS, native_size=64, width=8))
    with torch.no_grad():
        for name, parameter in model.named_parameters():
            if ".film." in name:
                parameter.normal_(0, 0.5)
    return save_model(model.eval(), tmp_path_factory.mktemp("letters") / "letters")
