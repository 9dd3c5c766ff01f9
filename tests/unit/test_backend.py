"""Backend selection is explicit and loud: an unbuilt tree says how to build."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import barfinex

pytestmark = pytest.mark.unit


def test_unbuilt_source_tree_fails_with_build_instructions(tmp_path):
    src = Path(barfinex.__file__).parent
    shutil.copytree(src, tmp_path / "barfinex",
                    ignore=shutil.ignore_patterns("*.so", "*.c", "__pycache__", "datasets"))
    env = dict(os.environ, PYTHONPATH=str(tmp_path), BARFINEX_BACKEND="fast")
    r = subprocess.run([sys.executable, "-c", "import barfinex.bus"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode != 0
    assert "compiled core (barfinex/_fast) is not built" in r.stderr
    assert "pip install -e ." in r.stderr


def test_unknown_backend_name_is_refused():
    r = subprocess.run([sys.executable, "-c", "import barfinex.bus"], capture_output=True, text=True,
                       env=dict(os.environ, BARFINEX_BACKEND="turbo"), timeout=60)
    assert r.returncode != 0 and "BARFINEX_BACKEND='turbo': choose one of fast, py" in r.stderr


def test_py_backend_runs_the_twins_on_purpose():
    r = subprocess.run([sys.executable, "-c", "from barfinex.bus import publisher; print(publisher._frame.__name__)"],
                       capture_output=True, text=True, env=dict(os.environ, BARFINEX_BACKEND="py"), timeout=60)
    assert r.stdout.strip() == "barfinex._py.frame", r.stderr
