"""Packaging on a stock Debian 12 Python: the README's demo command run as written, its pip
command (a venv of /usr/bin/python3, `pip install .`, the installed `librechat-textfile`), the
installed command end to end against the suite's mongod, `pipx install .`, a copied clone's
`python3 librechat_textfile.py`, and `pip install .` as root leaving the checkout to others.

These install from PyPI (setuptools for the build, the three runtime dependencies), so they
need the network CI has; pip's cache makes a second run quick.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from pymongo.database import Database

from librechat_metrics import __version__
from tests import librechat_data
from tests.fault_report import scratch_dir
from tests.services import in_ci
from tests.test_install import readme_section, require, with_database

ROOT = Path(__file__).resolve().parent.parent
README_TEXT = (ROOT / "README.md").read_text()
DEBIAN_PYTHON = "/usr/bin/python3"
README_URI = "'mongodb://127.0.0.1:27017/LibreChat'"
# What a checkout holds that an install must not need (or that a developer has lying around).
NOT_SOURCE = shutil.ignore_patterns(".git", ".venv", ".pytest_cache", ".ruff_cache",
                                    "__pycache__", "build", "dist", "*.egg-info", "results")
INSTALL_TIMEOUT_S = 600


def debian_env(home: Path) -> dict[str, str]:
    """The environment of a shell on a stock Debian: `python3` is /usr/bin/python3."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV", "PYTHONSTARTUP")}
    return {**env, "PATH": "/usr/bin:/bin", "HOME": str(home)}


def require_debian_python() -> None:
    if os.access(DEBIAN_PYTHON, os.X_OK) and subprocess.run(
            [DEBIAN_PYTHON, "-c", "import ensurepip"], capture_output=True,
            check=False).returncode == 0:
        return
    reason = f"{DEBIAN_PYTHON} with its venv module (Debian: apt-get install python3-venv)"
    if in_ci():
        pytest.fail(f"CI=true and no {reason}", pytrace=False)
    pytest.skip(f"needs {reason}")


def readme_command(section: str) -> str:
    """The one-line command of a README section's first shell block."""
    block = re.search(r"^```sh\n(.*?)^```", readme_section(section), re.S | re.M)
    assert block
    lines = block.group(1).strip().splitlines()
    assert len(lines) == 1, "one command, one line"
    return lines[0]


def readme_first_command() -> list[str]:
    """The README's pip command, split at its `&&`s."""
    return readme_command("pip or pipx").split(" && ")


@pytest.fixture(scope="module")
def checkout(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of this checkout, so that the build's files stay out of the real one."""
    path = tmp_path_factory.mktemp("checkout") / "librechat-textfile"
    shutil.copytree(ROOT, path, ignore=NOT_SOURCE)
    return path


@pytest.fixture(scope="module")
def venv(checkout: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The README's first command up to the install, run by /bin/sh as a Debian user would."""
    require_debian_python()
    steps = readme_first_command()
    assert steps[:2] == ["python3 -m venv .venv", ".venv/bin/pip install -q ."]
    proc = subprocess.run(["/bin/sh", "-c", " && ".join(steps[:2])], cwd=checkout,
                          env=debian_env(tmp_path_factory.mktemp("home")),
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                          check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    home = (checkout / ".venv" / "pyvenv.cfg").read_text()
    assert re.search(r"^home = /usr/bin$", home, re.M), home
    # The build ran on a copy (build-backend/out_of_tree.py): nothing of it in the checkout.
    assert not [p.name for p in checkout.iterdir()
                if p.name in ("build", "dist") or p.name.endswith(".egg-info")]
    return checkout / ".venv"


def test_readme_first_command_prints_the_metrics(
        venv: Path, checkout: Path, db: Database[Any], mongod: Any, tmp_path: Path) -> None:
    """The third step, the installed command, against generated data in the suite's mongod;
    the database comes from the URI's path, as in the README."""
    summary = librechat_data.generate(db, librechat_data.GenOptions(seed=5, days=3, users=4))
    step = readme_first_command()[2]
    assert step == f".venv/bin/librechat-textfile --stdout --mongodb-uri {README_URI}"
    argv = [*shlex.split(step.replace(README_URI, shlex.quote(with_database(mongod.uri,
                                                                            db.name)))),
            "--state-file", str(tmp_path / "state.json")]  # never a state file of the host's
    run = subprocess.run(argv, cwd=checkout, env=debian_env(tmp_path), capture_output=True,
                         text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "librechat_exporter_up 1.0" in run.stdout
    messages = re.search(r"^librechat_messages_total (\S+)$", run.stdout, re.M)
    assert messages and float(messages.group(1)) == summary.counts["messages"]


def test_installed_command_writes_the_textfile(
        venv: Path, db: Database[Any], mongod: Any, tmp_path: Path) -> None:
    """The scheduled use: no flag, settings from the environment (as systemd passes
    /etc/default/librechat-textfile), run from / like a unit, away from the checkout."""
    librechat_data.generate(db, librechat_data.GenOptions(seed=6, days=2, users=3))
    env = {"PATH": "/usr/bin:/bin", "MONGODB_URI": with_database(mongod.uri, db.name),
           "LIBRECHAT_TEXTFILE_OUTPUT": str(tmp_path / "librechat.prom"),
           "LIBRECHAT_TEXTFILE_STATE_FILE": str(tmp_path / "state" / "state.json")}
    for _ in range(2):  # the second run continues from the state the first one saved
        run = subprocess.run([str(venv / "bin" / "librechat-textfile")], cwd="/", env=env,
                             capture_output=True, text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr
    text = (tmp_path / "librechat.prom").read_text()
    assert "librechat_exporter_up 1.0" in text
    assert re.search(r"^librechat_messages_total [1-9]", text, re.M)
    assert json.loads((tmp_path / "state" / "state.json").read_text())["sections"]


def installed(venv: Path, code: str) -> str:
    run = subprocess.run([str(venv / "bin" / "python"), "-c", code], cwd="/",
                         capture_output=True, text=True, timeout=60, check=True)
    return run.stdout.strip()


def test_version_is_read_from_one_place(venv: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "version" not in project and "version" in project["dynamic"]
    run = subprocess.run([str(venv / "bin" / "librechat-textfile"), "--version"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.stdout.strip() == f"librechat-textfile {__version__}"
    assert installed(venv, "import importlib.metadata as m; "
                           "print(m.version('librechat-textfile'))") == __version__


def test_dependencies_come_from_requirements_txt(venv: Path) -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert "dependencies" not in project and "dependencies" in project["dynamic"]
    wanted = {str(Requirement(line)) for line in (ROOT / "requirements.txt").read_text()
              .splitlines() if line.strip() and not line.startswith("#")}
    declared = json.loads(installed(venv, "import importlib.metadata as m, json; "
                                          "print(json.dumps(m.requires('librechat-textfile')))"))
    assert {str(Requirement(r)) for r in declared} == wanted
    assert len(wanted) == 3


def test_install_holds_every_module_and_no_test(venv: Path) -> None:
    files = json.loads(installed(venv, "import importlib.metadata as m, json; print(json.dumps("
                                       "[str(f) for f in m.files('librechat-textfile')]))"))
    python = {f for f in files if f.endswith(".py")}
    source = {str(p.relative_to(ROOT)) for p in (ROOT / "librechat_metrics").rglob("*.py")}
    assert source <= python
    assert "librechat_textfile.py" in python
    assert not [f for f in files if f.startswith("tests/")]
    where = installed(venv, "import librechat_metrics; print(librechat_metrics.__file__)")
    assert "/site-packages/" in where


def test_pipx_install(checkout: Path, tmp_path: Path) -> None:
    """`pipx install .` (Debian's pipx, on Debian's Python) gives a working command."""
    pipx = require("pipx", "Debian: apt-get install pipx")
    env = {**debian_env(tmp_path), "PIPX_HOME": str(tmp_path / "pipx"),
           "PIPX_BIN_DIR": str(tmp_path / "bin")}
    proc = subprocess.run([pipx, "install", "."], cwd=checkout, env=env, capture_output=True,
                          text=True, timeout=INSTALL_TIMEOUT_S, check=False)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    run = subprocess.run([str(tmp_path / "bin" / "librechat-textfile"), "--version"],
                         capture_output=True, text=True, timeout=60, check=False)
    assert run.stdout.strip() == f"librechat-textfile {__version__}", run.stderr


def test_copied_clone_runs_with_python3(checkout: Path, db: Database[Any], mongod: Any,
                                        tmp_path: Path) -> None:
    """Without any install: the clone's entry module with a Python that has the
    requirements (here the suite's own)."""
    librechat_data.generate(db, librechat_data.GenOptions(seed=7, days=2, users=3))
    run = subprocess.run(
        [sys.executable, str(checkout / "librechat_textfile.py"), "--stdout", "--mongodb-uri",
         with_database(mongod.uri, db.name), "--state-file", str(tmp_path / "state.json")],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "librechat_exporter_up 1.0" in run.stdout


def readme_sample() -> list[str]:
    """The lines of output the README's first screen shows."""
    block = re.search(r"^```\n(librechat_.*?)^```", README_TEXT, re.S | re.M)
    assert block
    return block.group(1).strip().splitlines()


def test_readme_demo_command_runs_as_written(checkout: Path, tmp_path: Path) -> None:
    """The demo of "Try it on a fresh machine", by /bin/sh in a copy of the checkout with
    Debian's python3: it prints the metrics, and the README's sample is lines of it, in order."""
    require_debian_python()
    command = readme_command("Try it on a fresh machine")
    assert command == ("python3 -m venv .venv && .venv/bin/pip install -q -r "
                       "requirements-dev.txt && .venv/bin/python tests/demo.py")
    demo = tmp_path / "demo-checkout"
    shutil.copytree(checkout, demo, ignore=NOT_SOURCE)
    proc = subprocess.run(["/bin/sh", "-c", command], cwd=demo, env=debian_env(tmp_path),
                          capture_output=True, text=True, timeout=INSTALL_TIMEOUT_S,
                          check=False)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    output = proc.stdout.splitlines()
    assert "librechat_exporter_up 1.0" in output
    sample = readme_sample()
    assert 12 <= len(sample) <= 20
    positions = [output.index(line) if line in output else -1 for line in sample]
    assert -1 not in positions, [line for line, at in zip(sample, positions, strict=True)
                                 if at < 0]
    assert positions == sorted(positions), "the sample keeps the output's order"


def test_root_install_leaves_the_checkout_to_another_user(checkout: Path) -> None:
    """`sudo pip install .` in a checkout, then `pip install .` there as another user: the
    second works (setuptools' build/ and *.egg-info would be root's and refuse it)."""
    require_debian_python()
    if os.geteuid() != 0:
        pytest.skip("needs root, to install as root and then as nobody")
    shared = scratch_dir("librechat-root-install-")  # 0755: nobody reaches it
    try:
        install_as_root_then_nobody(checkout, shared)
    finally:
        subprocess.run(["rm", "-rf", str(shared)], check=False)


def install_as_root_then_nobody(checkout: Path, shared: Path) -> None:
    source = shared / "librechat-textfile"
    shutil.copytree(checkout, source, ignore=NOT_SOURCE)
    nobody = pwd.getpwnam("nobody")
    owner = f"{nobody.pw_uid}:{nobody.pw_gid}"
    for venv_dir in ("root-venv", "nobody-venv"):
        subprocess.run([DEBIAN_PYTHON, "-m", "venv", str(shared / venv_dir)], check=True)
    subprocess.run(["chown", "-R", owner, str(source), str(shared / "nobody-venv")], check=True)
    env = debian_env(shared)
    as_root = subprocess.run([str(shared / "root-venv" / "bin" / "pip"), "install", "-q", "."],
                             cwd=source, env=env, capture_output=True, text=True,
                             timeout=INSTALL_TIMEOUT_S, check=False)
    assert as_root.returncode == 0, as_root.stderr
    owned_by_root = [str(p.relative_to(source)) for p in source.rglob("*")
                     if p.stat().st_uid == 0]
    assert owned_by_root == []

    def as_nobody() -> None:
        os.setgroups([])
        os.setgid(nobody.pw_gid)
        os.setuid(nobody.pw_uid)

    second = subprocess.run([str(shared / "nobody-venv" / "bin" / "pip"), "install", "-q", "."],
                            cwd=source, env=env, capture_output=True, text=True,
                            timeout=INSTALL_TIMEOUT_S, check=False, preexec_fn=as_nobody)
    assert second.returncode == 0, second.stderr
    version = subprocess.run([str(shared / "nobody-venv" / "bin" / "librechat-textfile"),
                              "--version"], capture_output=True, text=True, check=True)
    assert version.stdout.strip() == f"librechat-textfile {__version__}"
