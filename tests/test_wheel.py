"""The wheel carries everything Unitscope needs at run time, checked by installing it.

The wheel is built from a copy of the source tree and installed (not editable) into a
fresh virtual environment.  To stay fast and offline, that environment borrows the
third-party packages (torch, PySide6, ...) from the environment running the tests
through a plain path in a ``.pth`` file: a plain path adds the folder to ``sys.path``
without running the ``.pth`` files inside it, so the test environment's editable
install of Unitscope is not picked up.  ``engine``, ``gui`` and ``resources`` must then
come from the wheel, and the commands run from a folder outside the source tree.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import sysconfig
import venv
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
RUNTIME_FILES = [
    "resources/LICENSES.md",
    "resources/unitscope.desktop",
    "resources/icons/unitscope.svg",
    "resources/icons/unitscope.png",
    "engine/models/weights.py",
    "gui/dialogs/weights_dialog.py",
    "gui/app/doctor.py",
]
_NOT_SOURCE = (".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".pytest_cache",
               ".hypothesis", "tests")

pytestmark = pytest.mark.slow


def _run(cmd, cwd, env, timeout=240) -> subprocess.CompletedProcess:
    done = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)
    assert done.returncode == 0, f"{cmd} failed ({done.returncode}):\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel, built from a copy of the source tree (the tree itself stays clean)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "src"
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(*_NOT_SOURCE))
    # Without isolation the build needs no index; a venv without setuptools (Python 3.12+)
    # builds in isolation, fetching setuptools as `make test` fetched everything else.
    offline = ["--no-build-isolation", "--no-index"] if importlib.util.find_spec("setuptools") else []
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *offline, "--quiet", "-w", root / "dist", "."],
         cwd=source, env=os.environ.copy())
    (built,) = (root / "dist").glob("unitscope-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> tuple[Path, dict]:
    """A fresh venv with the wheel installed (not editable), and the environment to run it in."""
    root = tmp_path_factory.mktemp("venv")
    env_dir = root / "venv"
    venv.EnvBuilder(with_pip=False, symlinks=os.name != "nt").create(env_dir)
    python = env_dir / "bin" / "python"
    site = Path(_run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                     cwd=root, env=os.environ.copy()).stdout.strip())
    borrowed = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
    (site / "zz_borrowed_dependencies.pth").write_text("\n".join(borrowed) + "\n")
    _run([sys.executable, "-m", "pip", "--python", python, "install", "--no-deps", "--no-index",
          "--quiet", wheel], cwd=root, env=os.environ.copy())
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env.update(QT_QPA_PLATFORM="offscreen", TORCH_HOME=str(root / "torch"), HOME=str(root / "home"),
               XDG_CONFIG_HOME=str(root / "home" / ".config"))
    (root / "home").mkdir()
    return env_dir, env


def test_the_wheel_holds_the_runtime_files(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    missing = [name for name in RUNTIME_FILES if name not in names]
    assert missing == []
    samples = [n for n in names if n.startswith("resources/samples/") and n.endswith(".jpg")]
    assert len(samples) >= 4
    assert not [n for n in names if n.startswith("tests/")]


def test_installed_wheel_runs_its_own_packages(installed, tmp_path):
    env_dir, env = installed
    code = ("import engine, gui, resources\n"
            "from resources import sample_images\n"
            "for m in (engine, gui, resources): print(m.__file__)\n"
            "print(len(sample_images()))\n")
    out = _run([env_dir / "bin" / "python", "-c", code], cwd=tmp_path, env=env).stdout.split()
    for path in out[:3]:
        assert Path(path).is_relative_to(env_dir), path
    assert int(out[3]) >= 4


def test_installed_unitscope_prints_anatomy(installed, tmp_path):
    env_dir, env = installed
    done = _run([env_dir / "bin" / "unitscope", "anatomy", "resnet18"], cwd=tmp_path, env=env)
    assert done.stdout.splitlines()[0] == ("resnet18 (random weights): 11,689,512 parameters, "
                                           "input 1x3x224x224")
    assert "layer4" in done.stdout


def test_installed_unitscope_takes_a_screenshot(installed, tmp_path):
    env_dir, env = installed
    shot = tmp_path / "window.png"
    _run([env_dir / "bin" / "unitscope", "--screenshot", shot], cwd=tmp_path, env=env, timeout=300)
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert shot.stat().st_size > 10_000
