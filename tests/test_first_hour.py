"""What a newcomer meets in the first hour (issue 23): each mistake gives one ERROR line that
starts with the README's cause prefix and says the fix; a password typed unescaped is hidden
whole and no other word of the log is touched; --log-level debug says what each query did;
--stdout says it printed; the command calls itself by the name it was started by.

Jobs run as cron or systemd would start them (tests/fault_report.py's run_job); the queries
of the debug lines are checked against a real mongod, counted by pymongo on the test's side.
"""

from __future__ import annotations

import logging
import os
import re
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus

import pymongo
import pytest

import librechat_textfile as lt
from librechat_metrics.client import UNESCAPED_CREDENTIALS, QueryLog
from librechat_metrics.logs import RedactingFilter, describe_error
from librechat_metrics.settings import uri_parts
from tests.fault_report import (
    LOG_LINE,
    Unprivileged,
    assert_clean_log,
    job_argv,
    make_unprivileged,
    refusing_port,
    run_job,
    scratch_dir,
)
from tests.librechat_data import GenOptions, generate
from tests.promparse import parse

ROOT = Path(__file__).resolve().parent.parent

# Unescaped as a newcomer types them: every URI-special character, a short one, one made of
# ordinary words, and the suite's own.
UNESCAPED = ["p@ss:w/rd#1", "ab@12", "pa:ss", "n0/sl4sh", "wh4t?n0w", "100%sur3",
             "S3cr3t-Pa55@word", "state@file", "j@ne:d0e/2024?x#y"]


# Made of words the job's own lines use ("no state file at"): only the whole of it is secret.
WORDY = {"state@file"}


def fragments(secret: str) -> set[str]:
    """Pieces of the secret that must not appear: every run of 5 characters, or the whole
    secret if shorter. (Where pymongo's split would put the pieces between the special
    characters, the host of the prefix and the database label, is checked by value.)"""
    if secret in WORDY:
        return {secret, secret.split("@")[0] + "@"}
    return {secret[i:i + 5] for i in range(max(1, len(secret) - 4))}


def up_value(prom: Path) -> float:
    samples, _ = parse(prom.read_text())
    return samples["librechat_exporter_up"][()]


def only_error(run: Any) -> str:
    errors = run.log_lines("ERROR")
    assert run.returncode == lt.EXIT_FAILED and len(errors) == 1, run.stderr
    return errors[0]


# --------------------------------------------------------------------------------------------
# A password typed unescaped in MONGODB_URI


@pytest.mark.parametrize("password", UNESCAPED)
def test_unescaped_password_names_the_fix_and_hides_the_whole_secret(
        password: str, tmp_path: Path) -> None:
    with refusing_port() as port:
        uri = f"mongodb://librechat_metrics:{password}@127.0.0.1:{port}/LibreChat"
        run = run_job(job_argv(uri, tmp_path, "--log-level", "debug", timeout=2,
                               connect_timeout=1))
    assert_clean_log(run, error_lines=1)
    # The whole line as the job words it: nothing blanked, no word mangled.
    assert only_error(run).split(" - ERROR - ", 1)[1] == (
        f"run failed (MongoDB 127.0.0.1:{port}), wrote up=0 and kept the state file: "
        f"{UNESCAPED_CREDENTIALS}")
    assert "urllib.parse.quote_plus" in UNESCAPED_CREDENTIALS
    assert "quote_plus(sys.argv[1])" in UNESCAPED_CREDENTIALS
    prom = (tmp_path / "librechat.prom").read_text()
    for piece in fragments(password):
        for text in (run.stdout, run.stderr, prom):
            assert piece not in text, f"{piece!r} of {password!r} in: {text}"
    assert "***" not in run.stderr
    # The settings line: the paths as given, the database the URI names, no credentials.
    assert (f"MongoDB 127.0.0.1:{port}, database LibreChat, output {tmp_path}/librechat.prom, "
            f"state {tmp_path}/state.json, timezone UTC") in run.stderr
    assert up_value(tmp_path / "librechat.prom") == 0.0
    assert 'database="LibreChat"' in prom


@pytest.mark.parametrize("password", UNESCAPED)
def test_the_encoding_the_error_asks_for_is_accepted(password: str, tmp_path: Path) -> None:
    """quote_plus(password), as the fix says: the URI passes, the run gets as far as the
    (refused) connection, and the password is still in no output."""
    with refusing_port() as port:
        uri = f"mongodb://librechat_metrics:{quote_plus(password)}@127.0.0.1:{port}/LibreChat"
        run = run_job(job_argv(uri, tmp_path, timeout=2, connect_timeout=1))
    error = only_error(run)
    assert f"run failed (MongoDB 127.0.0.1:{port})" in error and "Connection refused" in error
    for text in (run.stdout, run.stderr):
        assert password not in text and quote_plus(password) not in text


@pytest.mark.parametrize(("uri", "userinfo", "hosts", "database", "escaped"), [
    ("mongodb://u:p@ss:w/rd#1@db:27017/LibreChat", "u:p@ss:w/rd#1", "db:27017", "LibreChat",
     False),
    ("mongodb://u:ab@12@db/LibreChat", "u:ab@12", "db", "LibreChat", False),
    ("mongodb://u:p?ss@h1:1,h2:2/LibreChat?replicaSet=rs0", "u:p?ss", "h1:1,h2:2", "LibreChat",
     False),
    ("mongodb+srv://u:p@ss@cluster0.example.net/LibreChat", "u:p@ss", "cluster0.example.net",
     "LibreChat", False),
    ("mongodb://u:S3cr3t-Pa55%40word@db:27017/LibreChat", "u:S3cr3t-Pa55%40word", "db:27017",
     "LibreChat", True),
    # pymongo takes "#", "[", "]" and spaces in a password as they are: so does the check.
    ("mongodb://u:p#ss[1] x@db:27017/", "u:p#ss[1] x", "db:27017", None, True),
    # An "@" in an option is not a password's.
    ("mongodb://u:pw@db:27017/LibreChat?appname=me@example", "u:pw", "db:27017", "LibreChat",
     True),
    ("mongodb://db:27017/?appname=me@example", None, "db:27017", None, True),
    # A port typo is pymongo's to report, not an escaping problem, with an "@" in an option too.
    ("mongodb://u:pw@db:27O17/", "u:pw", "db:27O17", None, True),
    ("mongodb://db:27O17/?appname=me@example", None, "db:27O17", None, True),
    ("mongodb://mongodb:27017/LibreChat", None, "mongodb:27017", "LibreChat", True),
])
def test_uri_parts(uri: str, userinfo: str | None, hosts: str, database: str | None,
                   escaped: bool) -> None:
    parts = uri_parts(uri)
    assert parts is not None
    assert (parts.userinfo, parts.hosts, parts.database, parts.escaped) == (
        userinfo, hosts, database, escaped)
    if escaped:  # whatever the job accepts, pymongo splits the same way
        try:
            parsed = pymongo.uri_parser.parse_uri(uri, validate=False) if not uri.startswith(
                "mongodb+srv") else None
        except (pymongo.errors.PyMongoError, ValueError):
            return
        if parsed and userinfo:
            assert parsed["password"] == userinfo.partition(":")[2].replace("%40", "@")


# --------------------------------------------------------------------------------------------
# Redaction: the secret, and nothing else


def logged(secrets: list[str], template: str, *args: Any) -> str:
    record = logging.LogRecord("t", logging.INFO, __file__, 1, template, args or None, None)
    RedactingFilter(secrets).filter(record)
    return record.getMessage()


def test_the_template_is_never_redacted_only_what_fills_it() -> None:
    secrets = lt.uri_secrets("mongodb://u:state@db/LibreChat")
    assert secrets == ["state"]
    # "state" is the password and a word of the job's own: the job's words stay.
    assert logged(secrets, "no state file at %s: first run", "/srv/x/librechat.json") == \
        "no state file at /srv/x/librechat.json: first run"
    assert logged(secrets, "%s", "password=state; the state file") == \
        "password=***; the *** file"  # what fills a line is blanked word by word


@pytest.mark.parametrize(("password", "text", "expected"), [
    ("pass", "password passes pass; u:pass@h", "password passes ***; u:***@h"),
    ("a", "a b; mongodb://u:a@h", "a b; mongodb://u:***@h"),  # short: only in a URI
    ("12", "exit 12 after 12 s; u:12@h", "exit 12 after 12 s; u:***@h"),
    ("p@ss:w/rd#1", "x p@ss:w/rd#1 y; p@ss; /tmp/p", "x *** y; p@ss; /tmp/p"),
    ("-pw-", "a-pw-b", "a***b"),  # an edge that is no letter or digit blanks anywhere
    ("S3cr3t", "S3cr3tS3cr3t S3cr3t", "S3cr3tS3cr3t ***"),
])
def test_redact_blanks_whole_secrets_only(password: str, text: str, expected: str) -> None:
    assert lt.redact(text, [password]) == expected


def test_a_traceback_is_redacted_too() -> None:
    secrets = ["hunter2-long"]
    try:
        raise ValueError("bad hunter2-long here")
    except ValueError:
        record = logging.LogRecord("t", logging.ERROR, __file__, 1, "failed: %s", ("x",),
                                   sys.exc_info())
    RedactingFilter(secrets).filter(record)
    message = record.getMessage()
    assert "hunter2" not in message and "bad *** here" in message
    assert message.startswith("failed: x ")


@pytest.mark.parametrize("password", UNESCAPED)
def test_the_secret_of_an_unescaped_password_is_the_whole_password(password: str) -> None:
    uri = f"mongodb://librechat_metrics:{password}@db.example:27017/LibreChat"
    assert lt.uri_secrets(uri)[0] == password


def test_secrets_of_an_ambiguous_uri_cover_both_readings() -> None:
    # pymongo reads password "x"; typed, it may have been "x@y/z?w" — blank both.
    secrets = lt.uri_secrets("mongodb://u:x@y/z?w@db:27017/LibreChat")
    assert "x" in secrets and "x@y/z?w" in secrets
    assert lt.uri_secrets("mongodb://u:p%40ss@db/") == ["p%40ss", "p@ss"]


# --------------------------------------------------------------------------------------------
# State and output directories


def fix_command(user: str, group: str, directory: Path) -> str:
    return f"sudo install -d -m 0750 -o {user} -g {group} {directory}"


def test_state_directory_that_cannot_be_made(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    state = tmp_path / "a-file" / "state" / "state.json"
    run = run_job(job_argv("mongodb://127.0.0.1:1/", tmp_path, state=state))
    error = only_error(run)
    assert "run failed (state directory), wrote up=0 and kept the state file: cannot create " \
           f"{state.parent}: Not a directory" in error
    import grp
    import pwd
    user = pwd.getpwuid(os.geteuid()).pw_name
    group = grp.getgrgid(os.getegid()).gr_name
    assert fix_command(user, group, state.parent) in error
    assert "(lock)" not in error and "MongoDB" not in error
    assert up_value(tmp_path / "librechat.prom") == 0.0


@pytest.fixture
def nobody() -> Iterator[tuple[Unprivileged, Path]]:
    base = scratch_dir("librechat-first-hour-")
    try:
        user = make_unprivileged(base)
        (base / "out").mkdir()
        user.own(base / "out")
        yield user, base
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_state_directory_not_writable_by_the_job_user(nobody: tuple[Unprivileged, Path]) -> None:
    user, base = nobody
    (base / "state").mkdir()  # root's, 0755: what a missing StateDirectory= leaves
    run = run_job(job_argv("mongodb://127.0.0.1:1/", base, output=base / "out" / "x.prom",
                           state=base / "state" / "state.json"),
                  python=user.python, env=user.env, preexec_fn=user.preexec)
    error = only_error(run)
    assert "run failed (state directory)" in error
    assert f"cannot create the lock file {base}/state/state.json.lock: Permission denied" \
        in error
    assert fix_command("nobody", _group_name(user.gid), base / "state") in error


def _group_name(gid: int) -> str:
    import grp
    return grp.getgrgid(gid).gr_name


def test_output_directory_missing(tmp_path: Path) -> None:
    output = tmp_path / "textfile" / "librechat.prom"
    run = run_job(job_argv("mongodb://127.0.0.1:1/", tmp_path, output=output))
    error = only_error(run)
    assert error.split(" - ERROR - ", 1)[1].startswith(
        f"run failed (output directory): {output.parent} does not exist; ")
    assert "--collector.textfile.directory" in error and "LIBRECHAT_TEXTFILE_OUTPUT" in error
    assert not (tmp_path / "state.json").exists()


def test_output_directory_not_writable_by_the_job_user(
        nobody: tuple[Unprivileged, Path]) -> None:
    user, base = nobody
    (base / "textfile").mkdir()  # root's, 0755, like Debian's /var/lib/prometheus/node-exporter
    run = run_job(job_argv("mongodb://127.0.0.1:1/", base, output=base / "textfile" / "x.prom",
                           state=base / "out" / "state.json"),
                  python=user.python, env=user.env, preexec_fn=user.preexec)
    error = only_error(run)
    assert error.split(" - ERROR - ", 1)[1].startswith(
        f"run failed (output directory): {base / 'textfile'} is not writable by user nobody")
    assert (f"sudo dpkg-statoverride --update --add root {_group_name(user.gid)} 2775 "
            f"{base / 'textfile'}") in error


# --------------------------------------------------------------------------------------------
# LibreChat's MONGO_URI copied from its compose file


def resolves(name: str) -> bool:
    try:
        socket.getaddrinfo(name, 27017)
    except OSError:
        return False
    return True


def test_compose_service_name_says_it_resolves_only_inside_compose(tmp_path: Path) -> None:
    if resolves("mongodb"):
        pytest.skip("'mongodb' resolves on this machine")
    run = run_job(job_argv("mongodb://mongodb:27017/LibreChat", tmp_path, connect_timeout=2))
    error = only_error(run)
    assert "run failed (MongoDB mongodb:27017)" in error
    assert "mongodb is a name that resolves only inside Docker Compose's network" in error
    assert "MONGODB_URI=mongodb://127.0.0.1:27017/LibreChat" in error


def test_the_hint_follows_the_resolver_words() -> None:
    class Gone(pymongo.errors.ServerSelectionTimeoutError):
        pass

    plain = describe_error(Gone("db.example.invalid:27017: [Errno -2] Name or service not known"))
    assert plain.endswith("the host name db.example.invalid does not resolve here: check the "
                          "host in MONGODB_URI")
    compose = describe_error(Gone("chat-mongodb:27017: [Errno -3] Temporary failure in name "
                                  "resolution, Timeout: 5s"))
    assert "chat-mongodb is a name that resolves only inside Docker Compose" in compose
    refused = describe_error(Gone("127.0.0.1:1: [Errno 111] Connection refused"))
    assert "resolve" not in refused


# --------------------------------------------------------------------------------------------
# --stdout prints, --log-level debug says what each query did


def test_stdout_run_says_printed_not_wrote(uri: str, db: Any, tmp_path: Path) -> None:
    generate(db, GenOptions(seed=81, users=3, days=2))
    run = run_job(["--stdout", "--mongodb-uri", uri, "--mongodb-database", db.name,
                   "--state-file", str(tmp_path / "state.json"), "--env-file", "/nonexistent"])
    assert run.returncode == lt.EXIT_OK, run.stderr
    assert "wrote" not in run.stderr
    assert re.search(r" - INFO - printed \d+ families in ", run.stderr), run.stderr
    with refusing_port() as port:
        failed = run_job(["--stdout", "--mongodb-uri", f"mongodb://127.0.0.1:{port}/",
                          "--state-file", str(tmp_path / "state.json"), "--connect-timeout",
                          "1", "--env-file", "/nonexistent"])
    assert "printed up=0" in only_error(failed) and "wrote" not in failed.stderr
    assert "librechat_exporter_up 0.0" in failed.stdout


def test_the_query_log_is_registered_at_debug_only() -> None:
    """Below debug a query costs nothing more: pymongo gets no listener at all."""
    from librechat_metrics.client import mongo_client

    for level, expected in (("info", []), ("warning", []), ("debug", [QueryLog])):
        client = mongo_client(lt.Settings(logging_level=level))
        try:
            listeners = client.options.event_listeners
        finally:
            client.close()
        assert [type(listener) for listener in listeners] == expected, level


def debug_lines(stderr: str) -> list[str]:
    return [line.split(" - DEBUG - ", 1)[1] for line in stderr.splitlines()
            if " - DEBUG - query " in line]


def test_debug_run_logs_each_query_and_info_none(uri: str, db: Any, tmp_path: Path) -> None:
    generate(db, GenOptions(seed=82, users=4, days=3))
    argv = ["--stdout", "--mongodb-uri", uri, "--mongodb-database", db.name, "--state-file",
            str(tmp_path / "state.json"), "--env-file", "/nonexistent"]
    debug = run_job([*argv, "--log-level", "debug"])
    assert debug.returncode == lt.EXIT_OK, debug.stderr
    for line in debug.stderr.splitlines():
        assert LOG_LINE.match(line), line
    lines = debug_lines(debug.stderr)
    pattern = re.compile(r"query (\w+) on (\S+): \d+\.\d ms(, (\d+) documents?|, \d+ values"
                         r"|, count \d+)?( \(cursor closed early\))?")
    assert lines and all(pattern.fullmatch(line) for line in lines), lines
    collections = {pattern.fullmatch(line).group(2) for line in lines}  # type: ignore[union-attr]
    assert {"messages", "transactions", "conversations", "files", "users"} <= collections
    listed = [line for line in lines if line.startswith("query listCollections ")]
    assert listed[0].endswith(f", {len(db.list_collection_names())} documents")
    assert f"database {db.name}" in debug.stderr and "state " in debug.stderr
    info = run_job(argv)
    assert debug_lines(info.stderr) == [] and " - DEBUG - " not in info.stderr


def test_query_log_counts_documents_over_batches(mongo_client: pymongo.MongoClient[Any],
                                                 db: Any, caplog: pytest.LogCaptureFixture
                                                 ) -> None:
    """Against a real mongod: documents summed over a cursor's batches, one line per query
    once exhausted, a cursor the reader closes early, commands without a cursor."""
    db.things.insert_many([{"i": i, "k": i % 3} for i in range(250)])
    client: pymongo.MongoClient[Any] = pymongo.MongoClient(
        mongo_client.address and f"mongodb://{mongo_client.address[0]}:{mongo_client.address[1]}"
        "/?directConnection=true", event_listeners=[QueryLog()])
    things = client[db.name].things
    caplog.set_level(logging.DEBUG, logger="librechat_textfile")
    try:
        assert len(list(things.find({}, batch_size=40))) == 250
        rows = list(things.aggregate([{"$match": {"i": {"$lt": 100}}},
                                      {"$group": {"_id": "$i"}}], batchSize=30))
        assert len(rows) == 100
        early = things.find({}, batch_size=25)
        next(early)
        early.close()
        assert sorted(things.distinct("k")) == [0, 1, 2]
        assert things.count_documents({}) == 250
    finally:
        client.close()
    lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("query ")]
    kinds = [re.sub(r"\d+\.\d ms", "T", line) for line in lines]
    assert kinds == ["query find on things: T, 250 documents",
                     "query aggregate on things: T, 100 documents",
                     "query find on things: T, 25 documents (cursor closed early)",
                     "query distinct on things: T, 3 values",
                     "query aggregate on things: T, 1 document"], lines


# --------------------------------------------------------------------------------------------
# The command's name


def test_installed_command_calls_itself_librechat_textfile(tmp_path: Path) -> None:
    """A console script as pip writes one for `librechat-textfile = ...:run_and_exit`."""
    script = tmp_path / "bin" / "librechat-textfile"
    script.parent.mkdir()
    script.write_text(f"#!{sys.executable}\nimport sys\nsys.path.insert(0, {str(ROOT)!r})\n"
                      "from librechat_metrics.cli import run_and_exit\nrun_and_exit()\n")
    script.chmod(0o755)
    bad_flag = subprocess.run([str(script), "--no-such-flag"], capture_output=True, text=True,
                              check=False, cwd="/")
    assert bad_flag.returncode == 2
    assert bad_flag.stderr.startswith("usage: librechat-textfile ")
    assert "librechat-textfile: error: unrecognized arguments: --no-such-flag" in bad_flag.stderr
    bad_value = subprocess.run([str(script), "--timezone", "Mars/Base", "--env-file",
                                "/nonexistent"], capture_output=True, text=True, check=False)
    assert bad_value.stderr.startswith("librechat-textfile: invalid settings: ")
    clone = subprocess.run([sys.executable, str(ROOT / "librechat_textfile.py"), "--help"],
                           capture_output=True, text=True, check=True)
    assert clone.stdout.startswith("usage: librechat_textfile.py ")
