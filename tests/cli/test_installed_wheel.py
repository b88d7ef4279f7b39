"""A non-editable install (a wheel) carries the default templates and the example runbooks: from
an empty folder, `demo`, `init` and then `check` work.

The wheel is built from this tree and installed, without its dependencies, into a fresh
virtual environment whose only other packages are this environment's dependencies (a ``.pth``
line, which does not load this environment's editable install of ``bot``).
"""

from __future__ import annotations

import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The ``bin`` folder of a fresh venv with releasebot installed from a wheel."""
    base = tmp_path_factory.mktemp("wheel")
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEBOT_")}
    built = run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(base / "dist"), "."],
        cwd=ROOT,
        env=env,
    )
    assert built.returncode == 0, built.stderr
    [wheel] = (base / "dist").glob("releasebot-*.whl")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        cwd=base,
        env=env,
    ).stdout.strip()
    ours = {sysconfig.get_paths()["purelib"], *site.getsitepackages()}
    Path(purelib, "dependencies.pth").write_text("\n".join(sorted(ours)) + "\n")
    done = run(
        [sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "-q",
         str(wheel)],
        cwd=base,
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return venv / "bin"


def test_an_installed_wheel_runs_from_an_empty_folder(installed: Path, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELEASEBOT_")}
    releasebot = str(installed / "releasebot")
    where = run([str(installed / "python"), "-c", "import bot; print(bot.__file__)"], tmp_path, env)
    assert str(ROOT) not in where.stdout, "the test must run the installed copy"

    demo = run([releasebot, "demo", "--keep", str(tmp_path / "demo.db")], tmp_path, env)
    assert demo.returncode == 0, demo.stderr
    assert "Rollback recommended" in demo.stdout and "trail verify: intact" in demo.stdout

    check = run([releasebot, "check"], tmp_path, env)
    assert check.returncode == 1
    assert "releasebot init DIR" in check.stdout and "Traceback" not in check.stderr

    assert run([releasebot, "init", "."], tmp_path, env).returncode == 0
    check = run([releasebot, "check"], tmp_path, env)
    assert check.returncode == 0, check.stdout + check.stderr
    assert "1 runbook(s) (my-model v1) and " in check.stdout

    version = run([releasebot, "--version"], tmp_path, env)
    assert version.stdout.startswith("releasebot 0.")
