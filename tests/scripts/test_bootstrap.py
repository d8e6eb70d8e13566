"""The README's two commands install only what they use: ``scripts/run`` needs Python alone,
``scripts/test`` also installs the npm test peers; each half reinstalls only when its input
(``pyproject.toml``, ``package-lock.json``) changed.

Each test runs the real scripts in a copy of the project whose installers are shims: ``npm`` on
``PATH``, and ``.venv/bin/python``, ``.venv/bin/ruff`` and ``.venv/bin/brainlink-docs``, each of
which only appends its arguments to a log. So nothing is downloaded and the log says exactly what
the scripts ran, in order.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ("bootstrap", "run", "test")
# The inputs the stamps hash; the copies get the project's own.
INPUTS = ("pyproject.toml", "package-lock.json")
SHIM = """#!/bin/sh
echo "{name} $*" >> "{log}"
"""
PIP_INSTALL = "python -m pip install --quiet -e .[dev]"
NPM_CI = "npm ci --no-audit --no-fund --loglevel=error"
# Each script run is a few shell commands and shims: a second is plenty.
RUN_TIMEOUT_S = 30


@dataclass(frozen=True, slots=True)
class Project:
    root: Path
    log: Path
    env: dict[str, str]

    def run(self, script: str, *args: str) -> list[str]:
        """Run ``bash scripts/<script> args``; answers the shim calls it made, in order."""
        before = self.calls()
        done = subprocess.run(
            ["bash", f"scripts/{script}", *args],
            cwd=self.root,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT_S,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        return self.calls()[len(before) :]

    def calls(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def touch_input(self, name: str) -> None:
        """Change an input file's content (a dependency bump)."""
        with (self.root / name).open("a") as file:
            file.write("\n")


def _shim(path: Path, name: str, log: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(SHIM.format(name=name, log=log))
    path.chmod(0o755)


@pytest.fixture
def project(tmp_path: Path) -> Project:
    root = tmp_path / "project"
    (root / "scripts").mkdir(parents=True)
    for script in SCRIPTS:
        shutil.copy2(ROOT / "scripts" / script, root / "scripts" / script)
    for name in INPUTS:
        shutil.copy2(ROOT / name, root / name)
    log = tmp_path / "calls.log"
    for tool in ("python", "ruff", "brainlink-docs"):
        _shim(root / ".venv" / "bin" / tool, tool, log)
    bin_dir = tmp_path / "bin"
    _shim(bin_dir / "npm", "npm", log)
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    return Project(root, log, env)


def test_run_installs_python_only_and_never_calls_npm(project: Project) -> None:
    calls = project.run("run", "--help")
    assert PIP_INSTALL in calls
    assert calls[-1] == "brainlink-docs --help"
    assert not [c for c in calls if c.startswith("npm")], calls


def test_run_without_arguments_serves(project: Project) -> None:
    assert project.run("run")[-1] == "brainlink-docs serve"


def test_test_installs_the_npm_peers_once(project: Project) -> None:
    first = project.run("test", "-k", "x")
    assert PIP_INSTALL in first
    assert NPM_CI in first
    assert first[-1] == "python -m pytest -m not slow -p no:cacheprovider -k x"
    again = project.run("test")
    assert not [c for c in again if c.startswith(("npm", "python -m pip"))], again


def test_run_after_test_and_test_after_run_install_nothing_twice(project: Project) -> None:
    assert PIP_INSTALL in project.run("run", "--help")
    calls = project.run("test")
    assert NPM_CI in calls
    assert PIP_INSTALL not in calls
    assert not [c for c in project.run("run", "--help") if c.startswith(("npm", "python -m pip"))]


def test_a_lock_file_change_reinstalls_only_the_npm_peers(project: Project) -> None:
    project.run("test")
    project.touch_input("package-lock.json")
    assert project.run("run", "--help") == ["brainlink-docs --help"]
    calls = project.run("test")
    assert NPM_CI in calls
    assert PIP_INSTALL not in calls


def test_a_pyproject_change_reinstalls_only_the_python_package(project: Project) -> None:
    project.run("test")
    project.touch_input("pyproject.toml")
    calls = project.run("test")
    assert PIP_INSTALL in calls
    assert NPM_CI not in calls
