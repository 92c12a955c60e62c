#!/usr/bin/env python3
"""What Compose will run, from `docker compose config --no-interpolate --format json` on stdin:
MongoDB's published ports and command, and the api's MONGO_URI. Exits 1 when MongoDB or
node-exporter is published on anything but 127.0.0.1 (README "Docker Compose").

    docker compose config --no-interpolate --format json | python3 compose_check.py
"""

from __future__ import annotations

import json
import shlex
import sys
from typing import Any

LOOPBACK = "127.0.0.1"


def published(port: Any) -> tuple[str, str, str]:
    """(host ip, host port, container port) of a port, long (normalised) or short syntax."""
    if isinstance(port, dict):
        return (str(port.get("host_ip") or ""), str(port.get("published") or ""),
                str(port.get("target")))
    text = str(port).split("/")[0]
    ip = ""
    if text.startswith("["):
        ip, text = text[1:].split("]:", 1)
    parts = text.split(":")
    if len(parts) == 3:
        ip, parts = parts[0], parts[1:]
    host, container = parts if len(parts) == 2 else ["", parts[0]]
    return ip, host, container


def command_line(command: Any) -> str:
    return shlex.join(command) if isinstance(command, list) else str(command or "")


def environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        return dict(entry.split("=", 1) if "=" in entry else (entry, "") for entry in env)
    return {key: "" if value is None else str(value) for key, value in env.items()}


def main() -> int:
    services = json.load(sys.stdin)["services"]
    problems = []
    for name in ("mongodb", "node-exporter"):
        for ip, host, container in map(published, services.get(name, {}).get("ports") or []):
            print(f"{name} port: {ip or 'ALL INTERFACES'}:{host} -> {container}")
            if ip != LOOPBACK:
                problems.append(f"{name} is published on {ip or 'all interfaces'}")
    mongodb = services.get("mongodb", {})
    print(f"mongodb command: {command_line(mongodb.get('command'))}")
    print(f"api MONGO_URI: {environment(services.get('api', {})).get('MONGO_URI', '(unset)')}")
    for problem in problems:
        print(f"NOT SAFE: {problem}; publish it on 127.0.0.1 only", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
