"""pyproject.toml declares every third-party package the library imports (so `pip install .` with
its extras gives a package whose every job runs), and the tree is clean under the project's ruff."""
from __future__ import annotations

import ast
import importlib.metadata
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def third_party_imports() -> set[str]:
    names = set()
    for path in (ROOT / "cgn_art").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return {n for n in names if n not in sys.stdlib_module_names and n not in ("cgn_art", "__future__")}


def declared_requirements(tmp_path) -> set[str]:
    """Requires-Dist of the wheel's metadata, as setuptools builds it from pyproject.toml."""
    from setuptools import build_meta

    cwd = os.getcwd()
    os.chdir(ROOT)
    try:
        folder = build_meta.prepare_metadata_for_build_wheel(str(tmp_path))
    finally:
        os.chdir(cwd)
        shutil.rmtree(ROOT / "cgn_art.egg-info", ignore_errors=True)
    metadata = (tmp_path / folder / "METADATA").read_text()
    names = re.findall(r"^Requires-Dist: ([A-Za-z0-9_.\-]+)", metadata, flags=re.M)
    return {n.lower().replace("_", "-") for n in names}


def test_every_third_party_import_is_declared(tmp_path):
    declared = declared_requirements(tmp_path)
    providers = importlib.metadata.packages_distributions()
    missing = {}
    for module in sorted(third_party_imports()):
        distributions = {d.lower().replace("_", "-") for d in providers.get(module, [module])}
        if not distributions & declared:
            missing[module] = sorted(distributions)
    assert not missing, f"imported under cgn_art/ but not in pyproject.toml: {missing}"


def test_the_check_sees_an_undeclared_import(tmp_path):
    # the test above would pass trivially if the scan found nothing: it must see the real imports
    found = third_party_imports()
    assert {"torch", "librosa", "pytorch_pretrained_biggan", "cv2", "PIL"} <= found
    assert "os" not in found and "cgn_art" not in found


def test_ruff_is_clean_on_the_whole_tree():
    # ruff comes with the [test] extra, next to this interpreter
    result = subprocess.run([sys.executable, "-m", "ruff", "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-3000:]


def test_the_wheel_carries_the_shipped_models_and_the_demo_song(tmp_path):
    # A non-editable `pip install .` gets only what the wheel holds: without the assets in it, the
    # installed cgn-art had no model to mix with and no demo song to dance to.
    import zipfile

    from setuptools import build_meta

    from cgn_art.mechanisms.weights import shipped_models

    cwd = os.getcwd()
    leftovers = [ROOT / name for name in ("build", "cgn_art.egg-info") if not (ROOT / name).exists()]
    os.chdir(ROOT)
    try:
        wheel = build_meta.build_wheel(str(tmp_path))
    finally:
        os.chdir(cwd)
        for leftover in leftovers:  # what the build made, not a folder that was there before
            shutil.rmtree(leftover, ignore_errors=True)
    names = set(zipfile.ZipFile(tmp_path / wheel).namelist())
    assert "cgn_art/assets/audio/demo_song.ogg" in names
    for name in shipped_models():
        assert {f"cgn_art/assets/models/{name}/model.safetensors", f"cgn_art/assets/models/{name}/config.json"} <= names
    assert len(shipped_models()) >= 4
