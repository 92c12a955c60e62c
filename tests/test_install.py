"""The installation files against the layout README.md documents: cron.example, the systemd
units (``systemd-analyze verify``), and the demo's --keep/--stop (Docker Compose:
tests/test_compose.py).

The layout, as README "Debian host with systemd" gives it:

    /opt/librechat-textfile/bin/librechat-textfile   the command (a venv of the system Python)
    /etc/default/librechat-textfile                  every setting (systemd and cron alike)
    /var/lib/librechat-textfile/state.json           the state (the job's default --state-file)
    /var/lib/prometheus/node-exporter/librechat.prom the output (the job's default --output)
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pymongo.database import Database

from librechat_metrics.settings import Settings
from tests import librechat_data
from tests.mongod import find_mongod_binary
from tests.services import in_ci

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text()
COMMAND = "/opt/librechat-textfile/bin/librechat-textfile"
ENV_FILE = "/etc/default/librechat-textfile"
USER = "librechat-textfile"
STATE_DIR = "/var/lib/librechat-textfile"
TEXTFILE_DIR = "/var/lib/prometheus/node-exporter"
CRON_TARGET = "/etc/cron.d/librechat-textfile"


def require(name: str, why: str) -> str:
    """The path of the tool `name`; skip without it, fail under CI=true."""
    path = shutil.which(name)
    if path:
        return path
    reason = f"{name} is not installed ({why})"
    if in_ci():
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def readme_section(title: str) -> str:
    """The text of the README section headed `title` (## or ###), up to the next heading (a
    "# comment" line in a shell block is none)."""
    match = re.search(rf"^#{{2,3}} {re.escape(title)}\n(.*?)(?=^#{{2,3}} |\Z)", README,
                      re.S | re.M)
    assert match, f"README has no section {title!r}"
    return match.group(1)


def code_blocks(text: str, lang: str) -> list[str]:
    return re.findall(rf"^```{lang}\n(.*?)^```", text, re.S | re.M)


def test_layout_is_the_jobs_defaults() -> None:
    """The documented directories are where the job writes when given no flag."""
    defaults = Settings()
    assert os.path.dirname(defaults.state_file) == STATE_DIR
    assert os.path.dirname(defaults.output) == TEXTFILE_DIR
    install = readme_section("Debian host with systemd")
    assert "sudo python3 -m venv /opt/librechat-textfile\n" in install
    assert "sudo /opt/librechat-textfile/bin/pip install -q .\n" in install
    assert f"-o root -g {USER} /dev/null {ENV_FILE}" in install
    assert f"sudo useradd --system --home-dir /nonexistent --shell /usr/sbin/nologin {USER}" \
        in install
    assert "<this repository>" not in README


# --------------------------------------------------------------------------------------------
# cron


def cron_entries() -> tuple[dict[str, str], list[str]]:
    """The variable lines and the job lines of cron.example."""
    env: dict[str, str] = {}
    jobs: list[str] = []
    for line in (ROOT / "cron.example").read_text().splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if re.match(r"^[A-Z_]+=", line):
            key, value = line.split("=", 1)
            env[key] = value
        else:
            jobs.append(line)
    return env, jobs


def test_cron_example_matches_the_layout() -> None:
    env, jobs = cron_entries()
    assert env["SHELL"] == "/bin/sh"
    assert len(jobs) == 1
    fields = jobs[0].split(None, 6)
    assert fields[:5] == ["*"] * 5, "every minute"
    assert fields[5] == USER, "/etc/cron.d lines name the user"
    command, pipe = fields[6].split(" 2>&1 | ")
    assert pipe == "logger -t librechat-textfile"
    argv = shlex.split(command)
    assert argv[:4] == ["flock", "-n", "/run/lock/librechat-textfile.lock", "timeout"]
    job = argv[argv.index(COMMAND):]
    # Settings come from the environment file alone: a flag would beat it.
    assert job == [COMMAND, "--env-file", ENV_FILE]
    for tool in ("flock", "timeout", "logger"):
        assert any(os.access(Path(d) / tool, os.X_OK) for d in env["PATH"].split(":")), tool


def test_cron_install_steps_in_readme() -> None:
    cron = readme_section("cron instead of systemd")
    steps = code_blocks(cron, "sh")[0].splitlines()
    assert steps == [
        f"sudo install -d -m 0750 -o {USER} -g {USER} {STATE_DIR}",
        f"sudo install -m 0644 -o root -g root cron.example {CRON_TARGET}",
    ]
    # run-parts --lsbsysinit, which Debian's cron applies to /etc/cron.d, skips names with dots.
    assert re.fullmatch(r"[A-Za-z0-9_-]+", os.path.basename(CRON_TARGET))
    header = (ROOT / "cron.example").read_text()
    assert steps[0] in header and steps[1] in header


def test_cron_line_runs_the_job(tmp_path: Path, db: Database[Any], mongod: Any) -> None:
    """The cron line as /bin/sh runs it, with the layout's paths pointed into tmp_path."""
    env, jobs = cron_entries()
    librechat_data.generate(db, librechat_data.GenOptions(seed=3, days=2, users=3))
    fake = tmp_path / "librechat-textfile"
    fake.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} "
                    f"{shlex.quote(str(ROOT / 'librechat_textfile.py'))} \"$@\"\n")
    fake.chmod(0o755)
    settings = tmp_path / "default"
    settings.write_text(f"MONGODB_URI={with_database(mongod.uri, db.name)}\n"
                        f"LIBRECHAT_TEXTFILE_OUTPUT={tmp_path}/librechat.prom\n"
                        f"LIBRECHAT_TEXTFILE_STATE_FILE={tmp_path}/state/state.json\n")
    command = jobs[0].split(None, 6)[6]
    command = (command.replace(COMMAND, str(fake)).replace(ENV_FILE, str(settings))
               .replace("/run/lock/librechat-textfile.lock", str(tmp_path / "cron.lock"))
               .replace("logger -t librechat-textfile", f"cat > {tmp_path}/log"))
    run = subprocess.run([env["SHELL"], "-c", command], cwd=tmp_path, timeout=120,
                         env={"PATH": env["PATH"], "HOME": str(tmp_path)}, check=False)
    log = (tmp_path / "log").read_text()
    assert run.returncode == 0, log
    text = (tmp_path / "librechat.prom").read_text()
    assert "librechat_exporter_up 1.0" in text, log
    assert re.search(r"^librechat_messages_total [1-9]", text, re.M), text


def with_database(uri: str, name: str) -> str:
    """`uri` with `name` as the database of its path (options kept; credentials keep logging
    in where they did, since the path's database would otherwise become the authSource)."""
    scheme, rest = uri.split("://", 1)
    hosts, _, tail = rest.partition("/")
    path, _, options = tail.partition("?")
    if "@" in hosts and "authsource=" not in options.lower():
        options = "&".join(filter(None, [options, f"authSource={path or 'admin'}"]))
    return f"{scheme}://{hosts}/{name}" + (f"?{options}" if options else "")


# --------------------------------------------------------------------------------------------
# systemd


def unit_settings(path: Path) -> dict[str, list[str]]:
    """Key -> values of a unit file (keys may repeat), continuation lines joined."""
    settings: dict[str, list[str]] = {}
    text = re.sub(r"\\\n\s*", " ", path.read_text())
    for line in text.splitlines():
        if "=" in line and not line.startswith(("#", ";", "[")):
            key, value = line.split("=", 1)
            settings.setdefault(key.strip(), []).append(value.strip())
    return settings


SERVICE = ROOT / "systemd" / "librechat-textfile.service"
TIMER = ROOT / "systemd" / "librechat-textfile.timer"


def test_service_matches_the_layout() -> None:
    unit = unit_settings(SERVICE)
    # No flag in ExecStart=: it would beat /etc/default/librechat-textfile.
    assert unit["ExecStart"] == [COMMAND]
    assert unit["EnvironmentFile"] == [f"-{ENV_FILE}"]
    assert unit["User"] == [USER] and unit["Group"] == [USER]
    assert [f"/var/lib/{d}" for d in unit["StateDirectory"]] == [STATE_DIR]
    assert unit["ReadWritePaths"] == [f"-{TEXTFILE_DIR}"]
    # The directory is named nowhere else in the unit, so a drop-in changes it in one place.
    assert SERVICE.read_text().count(TEXTFILE_DIR) == 1
    assert "Environment" not in unit


def textfile_dropin() -> str:
    blocks = code_blocks(readme_section("Debian host with systemd"), "ini")
    assert len(blocks) == 1
    return blocks[0]


def test_readme_dropin_names_the_directory_once() -> None:
    dropin = textfile_dropin()
    settings = dict(line.split("=", 1) for line in dropin.splitlines() if "=" in line)
    directory = settings["ReadWritePaths"]
    assert settings["Environment"] == f"LIBRECHAT_TEXTFILE_OUTPUT={directory}/librechat.prom"


def test_readme_copies_the_units() -> None:
    copy = ("sudo cp systemd/librechat-textfile.service systemd/librechat-textfile.timer "
            "/etc/systemd/system/")
    assert copy in readme_section("Debian host with systemd")
    assert copy in (ROOT / "docs" / "upgrading.md").read_text()


def test_systemd_analyze_verify(tmp_path: Path) -> None:
    """The units and the README's drop-in pass `systemd-analyze verify` without a warning."""
    analyze = require("systemd-analyze", "Debian: apt-get install systemd")
    units = tmp_path / "units"
    (units / "librechat-textfile.service.d").mkdir(parents=True)
    # verify checks that ExecStart's program exists; point it at an executable stand-in.
    stand_in = tmp_path / "opt" / "bin" / "librechat-textfile"
    stand_in.parent.mkdir(parents=True)
    stand_in.write_text("#!/bin/sh\n")
    stand_in.chmod(0o755)
    (units / SERVICE.name).write_text(SERVICE.read_text().replace(COMMAND, str(stand_in)))
    shutil.copy(TIMER, units / TIMER.name)
    (units / "librechat-textfile.service.d" / "textfile-directory.conf").write_text(
        textfile_dropin())
    for with_dropin in (True, False):
        if not with_dropin:
            shutil.rmtree(units / "librechat-textfile.service.d")
        proc = subprocess.run(
            [analyze, "verify", "librechat-textfile.service", "librechat-textfile.timer"],
            env={**os.environ, "SYSTEMD_UNIT_PATH": f"{units}:"}, capture_output=True,
            text=True, timeout=60, check=False)
        assert proc.returncode == 0 and proc.stderr.strip() == "", proc.stderr


def test_service_runs_the_job_from_the_environment_file(
        tmp_path: Path, db: Database[Any], mongod: Any) -> None:
    """What the unit does: the environment file's variables, ExecStart with no flag, cwd /."""
    librechat_data.generate(db, librechat_data.GenOptions(seed=4, days=2, users=3))
    env = {"PATH": "/usr/bin:/bin",
           "MONGODB_URI": with_database(mongod.uri, db.name),
           "LIBRECHAT_TEXTFILE_OUTPUT": f"{tmp_path}/out/librechat.prom",
           "LIBRECHAT_TEXTFILE_STATE_FILE": f"{tmp_path}/state/state.json"}
    (tmp_path / "out").mkdir()
    run = subprocess.run([sys.executable, str(ROOT / "librechat_textfile.py")], cwd="/",
                         env=env, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    text = (tmp_path / "out" / "librechat.prom").read_text()
    assert "librechat_exporter_up 1.0" in text
    assert (tmp_path / "state" / "state.json").is_file()


# --------------------------------------------------------------------------------------------
# The demo


def test_demo_keep_and_stop(tmp_path: Path) -> None:
    """--keep leaves a mongod with data and prints a command that works; --stop ends it."""
    try:
        find_mongod_binary()
    except Exception as exc:  # skip-or-fail, like conftest's mongod
        if in_ci():
            pytest.fail(f"CI=true and {exc}", pytrace=False)
        pytest.skip(str(exc))
    env = {**os.environ, "TMPDIR": str(tmp_path)}
    demo = [sys.executable, str(ROOT / "tests" / "demo.py")]
    keep = subprocess.run([*demo, "--keep", "--users", "3", "--days", "2"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    kept = tmp_path / "librechat-textfile-demo"
    try:
        assert keep.returncode == 0, keep.stderr
        commands = [line.strip() for line in keep.stdout.splitlines()
                    if line.startswith("  ")]
        try_it, stop_it = commands
        assert "--stdout --mongodb-uri mongodb://127.0.0.1:" in try_it
        run = subprocess.run(shlex.split(try_it), cwd=ROOT, env=env, capture_output=True,
                             text=True, timeout=120, check=False)
        assert run.returncode == 0, run.stderr
        assert re.search(r"^librechat_messages_total [1-9]", run.stdout, re.M), run.stdout
        pid = int((kept / "mongod.pid").read_text().split()[0])
        stop = subprocess.run(shlex.split(stop_it), cwd=ROOT, env=env, capture_output=True,
                              text=True, timeout=60, check=False)
        assert stop.returncode == 0, stop.stderr
        # Gone, or a zombie nobody reaped (a container's init may not): no command line left.
        cmdline = Path(f"/proc/{pid}/cmdline")
        assert not cmdline.exists() or str(kept).encode() not in cmdline.read_bytes()
        assert not kept.exists()
    finally:
        if kept.exists():
            subprocess.run([*demo, "--stop"], env=env, timeout=60, check=False)


# --------------------------------------------------------------------------------------------
# CI


def test_ci_runs_the_readme_commands_with_debians_python() -> None:
    """.ci/run makes the venv with /usr/bin/python3 and runs README "Development"'s commands."""
    readme = [line.split("  #")[0].strip()
              for line in code_blocks(readme_section("Development"), "sh")[0].splitlines()]
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    for command in (".venv/bin/python -m pytest", ".venv/bin/python -m ruff check ."):
        assert command in readme and command in ci
    assert "PYTHON=/usr/bin/python3" in ci and '"$PYTHON" -m venv .venv' in ci
    assert "export CI=true" in ci
    assert ci[-1] == ".venv/bin/python -m pytest", "pytest's exit code is the script's"
