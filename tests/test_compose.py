"""README "Docker Compose": the example files merged into LibreChat's Compose files the way
Compose merges them, for each row of the README's table, and examples/compose_check.py on the
result.

No Docker here (the CI machines run no containers), so the test carries what it relies on:
- LibreChat's files, reduced to the keys that matter, as danny-avila/LibreChat has them
  (docker-compose.yml at 8173f5f, deploy-compose.yml at 0533c0c): `mongodb` runs
  `mongod --noauth` and publishes no port; `api` sets `MONGO_URI=mongodb://mongodb:27017/
  LibreChat` in an `environment` list.
- Which files Compose reads (compose-go, cli/options.go): `-f` files, else `COMPOSE_FILE`
  (from the environment or the project's `.env`, split at `:`), else the first existing of
  DefaultFileNames and then the first existing of DefaultOverrideFileNames, warning about the
  others.
- How it merges them (the Compose Specification, "Merge"; the Compose manual, "Merge Compose
  files"): mappings merge key by key, sequences append; `command`, `entrypoint` and
  `healthcheck.test` are replaced; `ports` (by ip, target, published, protocol) and
  `volumes`, `secrets`, `configs` (by target) merge entries that share a key; `environment`
  and `labels` merge by name. Merges apply to the expanded form of short syntax.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"
README = (ROOT / "README.md").read_text()
CHECK = EXAMPLES / "compose_check.py"

DEFAULT_FILE_NAMES = ["compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml"]
DEFAULT_OVERRIDE_FILE_NAMES = ["compose.override.yml", "compose.override.yaml",
                               "docker-compose.override.yml", "docker-compose.override.yaml"]

LIBRECHAT_MONGO_URI = "MONGO_URI=mongodb://mongodb:27017/LibreChat"
DOCKER_COMPOSE_YML = {"services": {
    "api": {"container_name": "LibreChat", "ports": ["${PORT}:${PORT}"],
            "depends_on": ["mongodb", "rag_api"],
            "image": "ghcr.io/danny-avila/librechat-dev:latest",
            "environment": ["HOST=0.0.0.0", LIBRECHAT_MONGO_URI,
                            "MEILI_HOST=http://meilisearch:7700"],
            "volumes": [{"type": "bind", "source": "./.env", "target": "/app/.env"},
                        "./images:/app/client/public/images"]},
    "mongodb": {"container_name": "chat-mongodb", "image": "mongo", "restart": "always",
                "user": "${UID}:${GID}", "volumes": ["./data-node:/data/db"],
                "command": "mongod --noauth"}}}
DEPLOY_COMPOSE_YML = {"services": {
    "api": {"container_name": "LibreChat-API", "ports": ["3080:3080"], "env_file": [".env"],
            "environment": ["HOST=0.0.0.0", "NODE_ENV=production", LIBRECHAT_MONGO_URI]},
    "mongodb": {"container_name": "chat-mongodb", "image": "mongo:8.0.20", "restart": "always",
                "volumes": ["./data-node:/data/db"], "command": "mongod --noauth"}},
    "volumes": {"pgdata2": None}}
# An override as LibreChat's docs suggest them: its config file, an older MongoDB image.
USERS_OVERRIDE = {"services": {
    "api": {"volumes": ["./librechat.yaml:/app/librechat.yaml"]},
    "mongodb": {"image": "mongo:4.4.18"}}}


class UniqueKeyLoader(yaml.SafeLoader):
    """YAML as Compose reads it: a key twice in one mapping is an error, not the last wins."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    keys = [loader.construct_object(k) for k, _ in node.value]
    duplicates = {k for k in keys if keys.count(k) > 1}
    if duplicates:
        raise yaml.constructor.ConstructorError(None, None, f"duplicate keys {duplicates}",
                                                node.start_mark)
    return loader.construct_mapping(node)


UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


def load(path: Path) -> dict[str, Any]:
    data = yaml.load(path.read_text(), Loader=UniqueKeyLoader)  # a SafeLoader
    assert isinstance(data, dict), path
    return data


# ---- Compose's merge, as documented --------------------------------------------------------

def expand_port(port: Any) -> dict[str, Any]:
    if isinstance(port, dict):
        return {"host_ip": port.get("host_ip", ""), "published": str(port.get("published", "")),
                "target": int(port["target"]), "protocol": port.get("protocol", "tcp")}
    text, _, protocol = str(port).partition("/")
    ip = ""
    if text.startswith("["):
        ip, text = text[1:].split("]:", 1)
    parts = text.split(":")
    if len(parts) == 3:
        ip, parts = parts[0], parts[1:]
    published, target = parts if len(parts) == 2 else ["", parts[0]]
    return {"host_ip": ip, "published": published, "target": int(target) if target.isdigit()
            else target, "protocol": protocol or "tcp"}


def expand_volume(volume: Any) -> dict[str, Any]:
    if isinstance(volume, dict):
        return dict(volume)
    source, target, *mode = str(volume).split(":")
    return {"type": "bind", "source": source, "target": target, "read_only": mode == ["ro"]}


def expand_service(service: dict[str, Any]) -> dict[str, Any]:
    """The long form of the short syntax Compose merges on."""
    out = dict(service)
    if isinstance(out.get("environment"), list):
        out["environment"] = dict(entry.split("=", 1) if "=" in entry else (entry, None)
                                  for entry in out["environment"])
    if isinstance(out.get("command"), str):
        out["command"] = shlex.split(out["command"])
    if "ports" in out:
        out["ports"] = [expand_port(p) for p in out["ports"]]
    if "volumes" in out:
        out["volumes"] = [expand_volume(v) for v in out["volumes"]]
    return out


UNIQUE_KEYS = {"ports": lambda p: (p["host_ip"], p["target"], p["published"], p["protocol"]),
               "volumes": lambda v: v["target"], "secrets": lambda s: s["target"],
               "configs": lambda c: c["target"]}
REPLACED = {"command", "entrypoint"}
BY_NAME = {"environment", "labels"}


def merge_values(key: str, base: Any, override: Any) -> Any:
    if key in REPLACED:
        return override
    if key in BY_NAME:
        return {**(base or {}), **(override or {})}
    if key in UNIQUE_KEYS:
        unique = UNIQUE_KEYS[key]
        merged = {unique(entry): entry for entry in base or []}
        merged.update({unique(entry): entry for entry in override or []})
        return list(merged.values())
    if key == "healthcheck":
        return {**base, **override}  # its `test` replaced like any scalar
    if isinstance(base, dict) and isinstance(override, dict):
        return {k: merge_values(k, base[k], v) if k in base else v
                for k, v in {**base, **override}.items()}
    if isinstance(base, list) and isinstance(override, list):
        return base + override
    return override


def merge(*models: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for model in models:
        for top, value in model.items():
            if top == "services":
                services = result.setdefault("services", {})
                for name, service in value.items():
                    expanded = expand_service(service)
                    old = services.get(name, {})
                    services[name] = {**old, **{k: merge_values(k, old[k], v) if k in old else v
                                                for k, v in expanded.items()}}
            elif isinstance(value, dict) and isinstance(result.get(top), dict):
                result[top] = {**result[top], **value}
            else:
                result[top] = value
    return result


# ---- which files Compose reads ---------------------------------------------------------------

def dot_env(directory: Path) -> dict[str, str]:
    path = directory / ".env"
    if not path.exists():
        return {}
    return dict(line.split("=", 1) for line in path.read_text().splitlines()
                if "=" in line and not line.startswith("#"))


def compose_files(directory: Path, f: list[str] | None = None) -> list[Path]:
    if f:
        return [directory / name for name in f]
    listed = dot_env(directory).get("COMPOSE_FILE")
    if listed:
        return [directory / name for name in listed.split(":")]
    base = next(directory / n for n in DEFAULT_FILE_NAMES if (directory / n).exists())
    overrides = [directory / n for n in DEFAULT_OVERRIDE_FILE_NAMES if (directory / n).exists()]
    return [base, *overrides[:1]]


def project(directory: Path, f: list[str] | None = None) -> dict[str, Any]:
    return merge(*(load(path) for path in compose_files(directory, f)))


# ---- the README's instructions ------------------------------------------------------------

def compose_section() -> str:
    match = re.search(r"^## Docker Compose\n(.*?)(?=^## )", README, re.S | re.M)
    assert match
    return match.group(1)


def readme_lines() -> dict[str, str]:
    """The table's `.env` line per way of running LibreChat."""
    rows = re.findall(r"^\| `(docker compose [^`]*)`([^|]*)\| `(COMPOSE_FILE=[^`]+)`",
                      compose_section(), re.M)
    return {(start + rest).strip(): line for start, rest, line in rows}


def write_yaml(path: Path, model: dict[str, Any]) -> None:
    path.write_text(yaml.safe_dump(model, sort_keys=False))


def librechat_dir(tmp_path: Path, base: str, model: dict[str, Any],
                  override: tuple[str, dict[str, Any]] | None = None) -> Path:
    """LibreChat's directory after step 1's `cp`: its Compose file, the user's override if
    any, and the two example files."""
    directory = tmp_path / "LibreChat"
    directory.mkdir()
    write_yaml(directory / base, model)
    if override:
        write_yaml(directory / override[0], override[1])
    copy = re.search(r"^cp (.+) \.$", compose_section(), re.M)
    assert copy, "step 1 copies the example files into LibreChat's directory"
    for source in copy.group(1).split():
        path = Path(source.replace("~/librechat-textfile", str(ROOT)))
        (directory / path.name).write_text(path.read_text())
    return directory


def set_line(directory: Path, line: str) -> None:
    (directory / ".env").write_text(f"PORT=3080\n{line}\n")


def mongodb_ports(model: dict[str, Any]) -> list[tuple[str, str, int]]:
    return [(p["host_ip"], p["published"], p["target"])
            for p in model["services"]["mongodb"].get("ports", [])]


def check(model: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(CHECK)], input=json.dumps(model),
                          capture_output=True, text=True, timeout=60, check=False)


CASES = {
    "docker compose up -d and no override file": ("docker-compose.yml", DOCKER_COMPOSE_YML,
                                                  None),
    "docker compose up -d and an override file": ("docker-compose.yml", DOCKER_COMPOSE_YML,
                                                  ("docker-compose.override.yaml",
                                                   USERS_OVERRIDE)),
    "docker compose -f deploy-compose.yml up -d": ("deploy-compose.yml", DEPLOY_COMPOSE_YML,
                                                   None),
}


def test_the_table_has_a_line_for_each_way_of_running_librechat() -> None:
    assert set(readme_lines()) == set(CASES)


@pytest.mark.parametrize("case", list(CASES))
def test_step_1_publishes_mongodb_on_loopback_and_keeps_everything_else(
        case: str, tmp_path: Path) -> None:
    base, model, override = CASES[case]
    directory = librechat_dir(tmp_path, base, model, override)
    before = project(directory, [base] + ([override[0]] if override else []))
    set_line(directory, readme_lines()[case])
    after = project(directory)
    assert mongodb_ports(after) == [("127.0.0.1", "27017", 27017)]
    assert after["services"]["mongodb"]["command"] == ["mongod", "--noauth"]
    # Nothing of LibreChat's or the user's is lost: every service and key is still there.
    for name, service in before["services"].items():
        for key, value in service.items():
            if key != "ports" or name != "mongodb":
                assert after["services"][name][key] == value, (name, key)
    if override:
        assert after["services"]["mongodb"]["image"] == "mongo:4.4.18"
        assert {"type": "bind", "source": "./librechat.yaml", "target": "/app/librechat.yaml",
                "read_only": False} in after["services"]["api"]["volumes"]
    run = check(after)
    assert run.returncode == 0, run.stderr
    assert "mongodb port: 127.0.0.1:27017 -> 27017" in run.stdout
    assert "mongodb command: mongod --noauth" in run.stdout
    assert "mongodb port: 127.0.0.1:27017 -> 27017" in compose_section()
    assert "mongodb command: mongod --noauth" in compose_section()


@pytest.mark.parametrize("case", list(CASES))
def test_step_2_turns_on_auth_and_gives_librechat_its_user(case: str, tmp_path: Path) -> None:
    base, model, override = CASES[case]
    directory = librechat_dir(tmp_path, base, model, override)
    section = compose_section()
    appended = re.search(r"Append `(:[^`]+)` to the `COMPOSE_FILE` line", section)
    assert appended
    set_line(directory, readme_lines()[case] + appended.group(1))
    after = project(directory)
    mongodb, api = after["services"]["mongodb"], after["services"]["api"]
    assert mongodb["command"] == ["mongod", "--auth"]
    assert mongodb_ports(after) == [("127.0.0.1", "27017", 27017)]
    uri = api["environment"]["MONGO_URI"]
    assert uri == ("mongodb://librechat:${LIBRECHAT_MONGO_PASSWORD}@mongodb:27017/LibreChat"
                   "?authSource=LibreChat")
    assert api["environment"]["HOST"] == "0.0.0.0"  # the other variables stay
    run = check(after)
    assert run.returncode == 0 and "mongodb command: mongod --auth" in run.stdout
    assert f"api MONGO_URI: {uri}" in run.stdout
    assert "LIBRECHAT_MONGO_PASSWORD=" in section


def test_an_override_name_of_yours_goes_into_the_line(tmp_path: Path) -> None:
    """The `.yml` spelling, as the README says: name your file in the line."""
    directory = librechat_dir(tmp_path, "docker-compose.yml", DOCKER_COMPOSE_YML,
                              ("docker-compose.override.yml", USERS_OVERRIDE))
    line = readme_lines()["docker compose up -d and an override file"]
    set_line(directory, line.replace("docker-compose.override.yaml",
                                     "docker-compose.override.yml"))
    after = project(directory)
    assert after["services"]["mongodb"]["image"] == "mongo:4.4.18"
    assert mongodb_ports(after) == [("127.0.0.1", "27017", 27017)]


def test_why_the_line_and_not_a_copy_beside_your_override(tmp_path: Path) -> None:
    """Compose reads one override file only: a second one beside yours is silently dropped
    (or drops yours); `-f` ignores COMPOSE_FILE. As the README says."""
    directory = librechat_dir(tmp_path, "docker-compose.yml", DOCKER_COMPOSE_YML,
                              ("docker-compose.override.yaml", USERS_OVERRIDE))
    (directory / "docker-compose.override.yml").write_text(
        (EXAMPLES / "librechat-textfile.yaml").read_text())
    files = compose_files(directory)
    assert [p.name for p in files] == ["docker-compose.yml", "docker-compose.override.yml"]
    assert project(directory)["services"]["mongodb"]["image"] == "mongo"  # the user's is lost
    set_line(directory, "COMPOSE_FILE=deploy-compose.yml:librechat-textfile.yaml")
    assert [p.name for p in compose_files(directory, ["docker-compose.yml"])] == [
        "docker-compose.yml"]
    names = re.search(r"the first of (`[^`]+`(?:, `[^`]+`)+) that exists",
                      " ".join(compose_section().split()))
    assert names, "the README names Compose's override files in its order"
    assert re.findall(r"`([^`]+)`", names.group(1)) == DEFAULT_OVERRIDE_FILE_NAMES
    assert "`-f` makes Compose ignore `COMPOSE_FILE`" in compose_section()


def test_a_port_on_all_interfaces_is_caught(tmp_path: Path) -> None:
    """LibreChat's own override example publishes 27018:27017 on all interfaces; the merge
    keeps both entries, and compose_check.py says so."""
    exposing = {"services": {"mongodb": {"ports": ["27018:27017"]}}}
    directory = librechat_dir(tmp_path, "docker-compose.yml", DOCKER_COMPOSE_YML,
                              ("docker-compose.override.yaml", exposing))
    set_line(directory, readme_lines()["docker compose up -d and an override file"])
    after = project(directory)
    assert sorted(mongodb_ports(after)) == [("", "27018", 27017), ("127.0.0.1", "27017", 27017)]
    run = check(after)
    assert run.returncode == 1
    assert "mongodb port: ALL INTERFACES:27018 -> 27017" in run.stdout
    assert "NOT SAFE: mongodb is published on all interfaces" in run.stderr


def _check_module() -> Any:
    spec = importlib.util.spec_from_file_location("compose_check", CHECK)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(("entry", "expected"), [
    ("127.0.0.1:27017:27017", ("127.0.0.1", "27017", "27017")),
    ("27017:27017", ("", "27017", "27017")),
    ("27017", ("", "", "27017")),
    ("0.0.0.0:9100:9100/tcp", ("0.0.0.0", "9100", "9100")),
    ("[::1]:27017:27017", ("::1", "27017", "27017")),
    ({"target": 27017, "published": "27017", "host_ip": "127.0.0.1"},
     ("127.0.0.1", "27017", "27017")),
    ({"mode": "ingress", "target": 27017, "published": "27017", "protocol": "tcp"},
     ("", "27017", "27017")),
])
def test_check_reads_every_port_syntax(entry: Any, expected: tuple[str, str, str]) -> None:
    assert _check_module().published(entry) == expected


def test_check_reads_the_short_syntax_too() -> None:
    short = {"services": {"mongodb": {"ports": ["127.0.0.1:27017:27017"],
                                      "command": "mongod --auth"},
                          "api": {"environment": ["MONGO_URI=mongodb://x@mongodb/LibreChat"]}}}
    run = check(short)
    assert run.returncode == 0
    assert run.stdout.splitlines() == ["mongodb port: 127.0.0.1:27017 -> 27017",
                                       "mongodb command: mongod --auth",
                                       "api MONGO_URI: mongodb://x@mongodb/LibreChat"]


def test_examples_parse_and_publish_on_loopback_only() -> None:
    for path in (EXAMPLES / "librechat-textfile.yaml", EXAMPLES / "librechat-textfile-auth.yaml"):
        model = load(path)
        assert set(model) == {"services"}, path
        for name, service in model["services"].items():
            assert service.get("network_mode") != "host" and "expose" not in service, name
            for port in service.get("ports", []):
                assert expand_port(port)["host_ip"] == "127.0.0.1", (path, name, port)
    node = load(EXAMPLES / "librechat-textfile.yaml")["services"]["node-exporter"]
    assert node["profiles"] == ["node-exporter"], "opt-in: Debian's node_exporter is the default"
    assert node["volumes"] == ["/var/lib/prometheus/node-exporter:/textfile:ro"]
    assert "--collector.textfile.directory=/textfile" in node["command"]


def test_duplicate_keys_are_refused_as_compose_refuses_them(tmp_path: Path) -> None:
    path = tmp_path / "x.yaml"
    path.write_text("services:\n  mongodb:\n    image: a\n  mongodb:\n    image: b\n")
    with pytest.raises(yaml.constructor.ConstructorError):
        load(path)


def test_the_merge_follows_the_documented_examples() -> None:
    """The merge rules' own examples (Compose Specification, "Merge")."""
    assert merge({"services": {"foo": {"key1": "value1", "key2": "value2"}}},
                 {"services": {"foo": {"key2": "VALUE", "key3": "value3"}}}) == {
        "services": {"foo": {"key1": "value1", "key2": "VALUE", "key3": "value3"}}}
    assert merge({"services": {"foo": {"DNS": ["1.1.1.1"]}}},
                 {"services": {"foo": {"DNS": ["8.8.8.8"]}}})["services"]["foo"]["DNS"] == [
        "1.1.1.1", "8.8.8.8"]
    assert merge({"services": {"foo": {"command": ["echo", "foo"]}}},
                 {"services": {"foo": {"command": ["echo", "bar"]}}})["services"]["foo"][
        "command"] == ["echo", "bar"]
    volumes = merge({"services": {"foo": {"volumes": ["foo:/work"]}}},
                    {"services": {"foo": {"volumes": ["bar:/work"]}}})["services"]["foo"][
        "volumes"]
    assert [v["source"] for v in volumes] == ["bar"]
    env = merge({"services": {"s": {"environment": ["FOO=original", "BAR=original"]}}},
                {"services": {"s": {"environment": ["BAR=local", "BAZ=local"]}}})
    assert env["services"]["s"]["environment"] == {"FOO": "original", "BAR": "local",
                                                   "BAZ": "local"}
