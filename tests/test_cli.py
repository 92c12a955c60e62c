"""The command line and settings: flags > environment > .env > defaults, one clear error.

Laid out like CPython's test_zipapp: the library functions first, then `main([...])` as a user
calls it. Nothing here needs MongoDB.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

import librechat_textfile as lt

ROOT = Path(__file__).resolve().parent.parent


def write_env(tmp_path: Path, text: str) -> str:
    path = tmp_path / "test.env"
    path.write_text(text)
    return str(path)


def test_defaults_without_flags_env_or_dotenv(tmp_path: Path) -> None:
    settings = lt.load_settings(["--env-file", str(tmp_path / "absent.env")], {})
    assert settings == lt.Settings()
    assert settings.mongodb_database == "LibreChat"
    assert settings.output == "/var/lib/prometheus/node-exporter/librechat.prom"
    assert settings.timezone == "UTC"


def test_flag_beats_environment_beats_dotenv(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, "MONGODB_DATABASE=from_dotenv\nLOGGING_LEVEL=debug\n"
                                   "LIBRECHAT_TEXTFILE_TIMEZONE=Asia/Tokyo\n")
    environ = {"MONGODB_DATABASE": "from_env", "LIBRECHAT_TEXTFILE_TIMEZONE": "Europe/Berlin"}
    settings = lt.load_settings(["--env-file", env_file, "--timezone", "America/New_York"],
                                environ)
    assert settings.timezone == "America/New_York"  # flag
    assert settings.mongodb_database == "from_env"  # environment over .env
    assert settings.logging_level == "debug"  # .env over default


def test_original_exporter_variables_still_work(tmp_path: Path) -> None:
    env_file = write_env(tmp_path, 'MONGODB_URI=mongodb://mongodb:27017/\n'
                                   'LOGGING_FORMAT="%(levelname)s %(message)s"\n'
                                   "LOGGING_LEVEL=warning\nMONGODB_DATABASE=librechat\n")
    settings = lt.load_settings(["--env-file", env_file], {})
    assert settings.mongodb_uri == "mongodb://mongodb:27017/"
    assert settings.logging_format == "%(levelname)s %(message)s"
    assert (settings.logging_level, settings.mongodb_database) == ("warning", "librechat")


def test_every_bad_setting_is_named_in_one_error(tmp_path: Path) -> None:
    environ = {"LIBRECHAT_TEXTFILE_TIMEZONE": "Mars/Olympus", "LIBRECHAT_TEXTFILE_TIMEOUT": "-1",
               "LIBRECHAT_TEXTFILE_TENANT_LABEL": "maybe"}
    with pytest.raises(lt.SettingsError) as caught:
        lt.load_settings(["--env-file", str(tmp_path / "x"), "--output", "/tmp/x.txt"], environ)
    message = str(caught.value)
    for name in ("LIBRECHAT_TEXTFILE_TIMEZONE", "LIBRECHAT_TEXTFILE_TIMEOUT",
                 "LIBRECHAT_TEXTFILE_TENANT_LABEL", "LIBRECHAT_TEXTFILE_OUTPUT"):
        assert name in message


def test_main_exits_2_on_bad_settings_with_one_line(capsys: pytest.CaptureFixture[str],
                                                    tmp_path: Path) -> None:
    code = lt.main(["--env-file", str(tmp_path / "x"), "--timezone", "Nowhere/City"])
    assert code == lt.EXIT_USAGE
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Nowhere/City" in err[0]


def test_help_documents_every_setting_with_its_variable() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "librechat_textfile.py"), "--help"],
                         capture_output=True, text=True, check=True).stdout
    flat = " ".join(out.split())
    for option in lt.OPTIONS:
        assert option.flag in out
        assert option.env is None or f"env {option.env}" in flat
    assert "--stdout" in out and "--version" in out and "indexes" in out


def test_version() -> None:
    out = subprocess.run([sys.executable, str(ROOT / "librechat_textfile.py"), "--version"],
                         capture_output=True, text=True, check=True).stdout
    assert out.strip() == f"librechat-textfile {lt.__version__}"


def test_now_needs_an_offset(tmp_path: Path) -> None:
    with pytest.raises(lt.SettingsError, match="LIBRECHAT_TEXTFILE_NOW"):
        lt.load_settings(["--env-file", str(tmp_path / "x"), "--now", "2026-01-01T00:00:00"], {})


# ---- pure helpers


@pytest.mark.parametrize(("raw", "expected"), [
    (None, "none"), ("", "none"), ("   ", "none"), ("gpt-4o", "gpt-4o"),
    (42, "42"), (True, "True"), ({"b": 1, "a": 2}, '{"a": 2, "b": 1}'), (["x"], '["x"]'),
    ("a\nb\x00c\u200bd", "abcd"), ("x" * 500, "x" * 100),
    ("jane@example.com", "redacted"), ("model for jane.doe@uni.example", "model for redacted"),
    ("ft:gpt-4o:acme:507f1f77bcf86cd799439011", "ft:gpt-4o:acme:redacted"),
    ("66a1b2c3d4e5f60718293a4b", "redacted"),
    ("2b7e4c1d-9f0a-4d3b-8e6f-1a2b3c4d5e6f", "redacted"),
    ('say "hi" \\ there', 'say "hi" \\ there'),
])
def test_label_value(raw: object, expected: str) -> None:
    assert lt.label_value(raw) == expected


def test_label_value_of_an_object_id_is_redacted() -> None:
    from bson import ObjectId

    assert lt.label_value(ObjectId()) == "redacted"


def test_agent_suffix_is_stripped_only_from_agent_ids() -> None:
    assert lt.model_label("agent_V1StGXR8Z5jdHi6BmyT____1") == "agent_V1StGXR8Z5jdHi6BmyT"
    assert lt.model_label("gpt-4o____1") == "gpt-4o____1"


def test_sticky_slots_keep_their_values_and_send_newcomers_to_other() -> None:
    from librechat_metrics.catalogue import MODEL
    from librechat_metrics.dimensions import Dimensions

    dims = Dimensions({}, limit=2, ttl=30 * 86400, now=1000.0)
    first = dims.map(MODEL, {"a": 5, "b": 9, "c": 1})
    assert first == {"b": "b", "a": "a", "c": "other"}
    # 'c' becomes the biggest later, but 'a' keeps its slot so that 'other' never falls.
    second = dims.map(MODEL, {"a": 1, "c": 100, "d": 3})
    assert second == {"a": "a", "c": "other", "d": "other"}


def test_a_slot_unseen_for_the_ttl_is_freed_for_a_newcomer() -> None:
    from librechat_metrics.catalogue import MODEL
    from librechat_metrics.dimensions import Dimensions

    table: dict[str, dict[str, float]] = {}
    Dimensions(table, 2, 100.0, now=0.0).map(MODEL, {"a": 1, "b": 1})
    later = Dimensions(table, 2, 100.0, now=50.0)
    later.map(MODEL, {"b": 1})
    assert later.expire() == {}
    last = Dimensions(table, 2, 100.0, now=120.0)
    assert last.expire() == {"model": {"a"}}  # 120 s unseen > 100 s; b was seen at 50
    assert last.map(MODEL, {"c": 7}) == {"c": "c"}
    assert sorted(table["model"]) == ["b", "c"]


def test_capped_gauge_sums_the_rest_into_other() -> None:
    from librechat_metrics.catalogue import MESSAGES_PER_MODEL_5M
    from librechat_metrics.dimensions import Dimensions
    from librechat_metrics.families import capped

    fam = lt.Family.of(MESSAGES_PER_MODEL_5M)
    fam.samples = {("a",): 1, ("b",): 5, ("c",): 3, ("d",): 2}
    # Models are counted: a gauge maps onto the slots counting holds, takes and renews none.
    table = {"model": {"b": 10.0, "c": 10.0}}
    out = capped(fam, Dimensions(table, 3, 86400.0, now=50.0))
    assert out.samples == {("b",): 5, ("c",): 3, ("other",): 3}
    assert table == {"model": {"b": 10.0, "c": 10.0}}


def test_a_gauge_only_dimension_takes_slots_biggest_first() -> None:
    from librechat_metrics.catalogue import AGENTS
    from librechat_metrics.dimensions import Dimensions
    from librechat_metrics.families import capped

    fam = lt.Family.of(AGENTS)
    fam.samples = {("a", "x"): 1, ("b", "x"): 5, ("c", "x"): 3, ("d", "x"): 2}
    table: dict[str, dict[str, float]] = {}
    out = capped(fam, Dimensions(table, 2, 86400.0, now=7.0))
    assert out.samples == {("b", "x"): 5, ("c", "x"): 3, ("other", "x"): 3}
    assert table["agent_provider"] == {"b": 7.0, "c": 7.0}


@pytest.mark.parametrize(("value", "expected"), [
    (3, 3.0), (2.5, 2.5), (float("nan"), 0.0), (float("inf"), 0.0), ("12", 0.0), (None, 0.0),
    (True, 0.0),
])
def test_number(value: object, expected: float) -> None:
    assert lt.number(value) == expected


def test_day_start_across_dst_in_berlin_and_new_york() -> None:
    berlin = lt.Clock(datetime(2026, 3, 29, 12, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
    # The day of the spring change has 23 hours.
    day = berlin.day_start(date(2026, 3, 29))
    nxt = berlin.day_start(date(2026, 3, 30))
    assert day == datetime(2026, 3, 28, 23, tzinfo=UTC)
    assert (nxt - day).total_seconds() == 23 * 3600
    ny = lt.Clock(datetime(2026, 11, 1, 12, tzinfo=UTC), ZoneInfo("America/New_York"))
    assert ny.day_start(date(2026, 11, 1)) == datetime(2026, 11, 1, 4, tzinfo=UTC)
    assert (ny.day_start(date(2026, 11, 2)) - ny.day_start(date(2026, 11, 1))).total_seconds() \
        == 25 * 3600


def test_week_and_month_start_are_local() -> None:
    # Monday 2026-11-23 00:30 in Berlin is still Sunday 23:30 UTC.
    clock = lt.Clock(datetime(2026, 11, 22, 23, 30, tzinfo=UTC), ZoneInfo("Europe/Berlin"))
    assert clock.today() == date(2026, 11, 23)
    assert clock.week_start() == datetime(2026, 11, 22, 23, tzinfo=UTC)
    assert clock.month_start() == datetime(2026, 10, 31, 23, tzinfo=UTC)


def test_redact_blanks_passwords_plain_and_percent_encoded() -> None:
    uri = "mongodb://reader:S3cr%40t@db.example:27017/?authSource=LibreChat"
    secrets = lt.uri_secrets(uri)
    assert set(secrets) == {"S3cr%40t", "S3cr@t"}
    text = f"failed {uri} with S3cr@t"
    assert "S3cr" not in lt.redact(text, secrets)


def test_family_round_trips_through_json() -> None:
    fam = lt.Family("librechat_x", "gauge", "help", ("a", "b"), {("1", "2"): 3.5})
    assert lt.Family.from_json(lt.Family.to_json(fam)) == fam


def test_render_is_classic_text_without_timestamps() -> None:
    text = lt.render([lt.Family("librechat_things_total", "counter", "Things.", ("kind",),
                                {("a\"b\\c\nd",): 2.0})]).decode()
    assert text.endswith("\n")
    assert '# TYPE librechat_things_total counter' in text
    assert 'librechat_things_total{kind="a\\"b\\\\c\\nd"} 2.0\n' in text
