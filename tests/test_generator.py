"""The generator writes what LibreChat writes: indexes, BSON types, defaults, ids, versions.

Every assertion reads the documents back from a real mongod, so what is checked is what an
exporter will see (BSON types via ``$type``, indexes via listIndexes).
"""

from __future__ import annotations

import itertools
import math
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pymongo
import pytest
from bson import ObjectId
from pymongo.database import Database
from pymongo.errors import DuplicateKeyError, OperationFailure

from tests import librechat_data as ld
from tests.fault_report import skip_or_fail
from tests.mongod import Mongod, MongodError, find_mongod_binary

NOW = datetime(2026, 11, 26, 12, 0, 0, 123456, tzinfo=UTC)
NOW_MS = NOW.replace(microsecond=123000)
# Every generated collection but the Keyv `logs` store carries tenantId; LibreChat seeds its
# default agent categories and writes platform audit entries outside any tenant.
TENANT_AWARE = tuple(name for name in ld.COLLECTIONS
                     if name not in ("logs", "agentcategories", "auditlogs"))
TIMESTAMPED = ("users", "agents", "conversations", "messages", "transactions", "files")


def _fresh(client: pymongo.MongoClient[Any], name: str) -> Database[Any]:
    client.drop_database(name)
    return client[name]


@pytest.fixture(scope="module")
def gen_db(mongo_client: pymongo.MongoClient[Any]) -> Iterator[Database[Any]]:
    """One default 0.8.7 deployment shared by the read-only tests of this module."""
    # A name of its own: MONGODB_TEST_URI may be a server other runs use at the same time.
    db = _fresh(mongo_client, f"t_generator_default_{secrets.token_hex(4)}")
    summary = ld.generate(db, ld.GenOptions(seed=7, now=NOW))
    db.summary = summary  # type: ignore[attr-defined]
    yield db
    mongo_client.drop_database(db.name)


def types_of(
    db: Database[Any], collection: str, path: str, match: dict[str, Any] | None = None
) -> set[str]:
    """The BSON type names ``$type`` reports for ``path`` over the matching documents."""
    pipeline: list[dict[str, Any]] = [
        {"$match": match or {}},
        {"$group": {"_id": {"$type": f"${path}"}}},
    ]
    return {row["_id"] for row in db[collection].aggregate(pipeline)}


def _normalized_indexes(db: Database[Any], collection: str) -> dict[str, dict[str, Any]]:
    return {
        ix["name"]: {k: dict(v) if k == "key" else v for k, v in ix.items() if k != "ns"}
        for ix in db[collection].list_indexes()
    }


# --- indexes ------------------------------------------------------------------------------


def test_indexes_equal_librechat_reference(gen_db: Database[Any]) -> None:
    # Test every created collection has exactly LibreChat's indexes, options included.
    spec = ld.load_index_spec()
    assert set(spec) == set(ld.COLLECTIONS) <= set(gen_db.list_collection_names())
    for collection, indexes in spec.items():
        want = {ix["name"]: ix for ix in indexes}
        assert _normalized_indexes(gen_db, collection) == want, collection


def test_unique_indexes_reject_duplicates(gen_db: Database[Any], db: Database[Any]) -> None:
    # Test the unique keys are live: a second copy of a real document under a new _id fails.
    ld.ensure_indexes(db)
    for collection, match in [
        ("messages", {}),
        ("conversations", {}),
        ("users", {}),
        ("sessions", {}),
        ("logs", {}),
        ("agents", {}),
    ]:
        doc = gen_db[collection].find_one(match)
        assert doc is not None
        db[collection].insert_one(doc)
        with pytest.raises(DuplicateKeyError):
            db[collection].insert_one(doc | {"_id": ObjectId()})


def test_summary_matches_stored_counts(gen_db: Database[Any]) -> None:
    summary = gen_db.summary  # type: ignore[attr-defined]
    for collection in ld.COLLECTIONS:
        assert gen_db[collection].count_documents({}) == summary[collection] > 0, collection


# --- BSON types ---------------------------------------------------------------------------


def test_user_references_have_librechat_types(gen_db: Database[Any]) -> None:
    # Test messages/conversations hold the user id as a string, the rest as an ObjectId.
    assert types_of(gen_db, "messages", "user") == {"string"}
    assert types_of(gen_db, "conversations", "user") == {"string"}
    for collection in ("transactions", "files", "balances", "sessions"):
        assert types_of(gen_db, collection, "user") == {"objectId"}, collection
    assert types_of(gen_db, "agents", "author") == {"objectId"}


def test_numbers_are_int32_or_double_never_int64(gen_db: Database[Any]) -> None:
    assert types_of(gen_db, "messages", "tokenCount", {"error": False}) == {"int"}
    assert types_of(
        gen_db, "messages", "contextMeta.calibrationRatio", {"contextMeta": {"$exists": True}}
    ) <= {"double", "int"}
    assert types_of(gen_db, "transactions", "rate") == {"int", "double"}
    assert types_of(gen_db, "transactions", "rawAmount") == {"int"}
    assert types_of(gen_db, "transactions", "tokenValue") == {"int", "double"}
    assert types_of(gen_db, "files", "bytes") == {"int"}
    assert types_of(gen_db, "balances", "tokenCredits") <= {"int", "double"}
    for path in ("createdAt", "updatedAt"):
        for collection in TIMESTAMPED:
            assert types_of(gen_db, collection, path) == {"date"}, (collection, path)


def test_zero_cache_write_is_negative_zero_double(db: Database[Any]) -> None:
    # Test a zero cache write reads back as the double -0.0, as Node stores JS -0.
    ld.ensure_indexes(db)
    db.transactions.insert_one(ld.make_structured_prompt(ObjectId(), NOW, "gpt-4o", 100, 0, 900))
    assert types_of(db, "transactions", "writeTokens") == {"double"}
    doc = db.transactions.find_one()
    assert doc is not None
    assert doc["writeTokens"] == 0 and math.copysign(1.0, doc["writeTokens"]) == -1.0
    assert (doc["rawAmount"], doc["inputTokens"], doc["readTokens"]) == (-1000, -100, -900)
    assert doc["tokenValue"] == pytest.approx(-(100 * 2.5 + 900 * 1.25))


# --- defaults, ids, timestamps ------------------------------------------------------------


def test_message_defaults(gen_db: Database[Any]) -> None:
    messages = gen_db.messages
    assert messages.count_documents({"isCreatedByUser": {"$exists": False}}) == 0
    assert messages.count_documents({"isCreatedByUser": True, "model": {"$ne": None}}) == 0
    assert messages.count_documents({"model": {"$exists": False}}) == 0  # null, not absent
    assert messages.count_documents({"__v": {"$ne": 0}}) == 0
    assert types_of(gen_db, "messages", "error") == {"bool"}
    assert types_of(gen_db, "messages", "unfinished") == {"bool"}
    assert messages.count_documents({"parentMessageId": ld.NO_PARENT, "isCreatedByUser": True}) > 0
    # Non-temporary documents store expiredAt: null explicitly.
    for collection in ("messages", "conversations"):
        docs = gen_db[collection]
        assert docs.count_documents({"isTemporary": False, "expiredAt": {"$type": "null"}}) == (
            docs.count_documents({"isTemporary": False})
        )
    # sendError messages carry no endpoint.
    errors = list(messages.find({"error": True}))
    assert errors and all("endpoint" not in m and m["model"] is None for m in errors)


def test_feedback_shape(gen_db: Database[Any]) -> None:
    rated = list(gen_db.messages.find({"feedback": {"$exists": True}}))
    assert rated
    for msg in rated:
        feedback = msg["feedback"]
        assert not msg["isCreatedByUser"]
        assert isinstance(feedback["_id"], ObjectId)
        assert feedback["tag"] in ld.FEEDBACK_TAGS[feedback["rating"]]
        assert msg["updatedAt"] >= msg["createdAt"]


def test_ids_encode_created_at_second(gen_db: Database[Any]) -> None:
    for collection in TIMESTAMPED:
        for doc in gen_db[collection].find({}, {"createdAt": 1}):
            assert doc["_id"].generation_time == doc["createdAt"].replace(microsecond=0), collection
    for session in gen_db.sessions.find():
        login = session["expiration"] - ld.SESSION_TTL
        assert session["_id"].generation_time == login.replace(microsecond=0)


def test_created_equals_updated_at_creation(gen_db: Database[Any]) -> None:
    same = {"$expr": {"$eq": ["$createdAt", "$updatedAt"]}}
    for collection in ("users", "agents", "transactions", "files"):
        assert gen_db[collection].count_documents(same) == gen_db[collection].count_documents({})
    unrated = {"feedback": {"$exists": False}}
    assert gen_db.messages.count_documents(same | unrated) == gen_db.messages.count_documents(
        unrated
    )
    later = {"$expr": {"$lt": ["$updatedAt", "$createdAt"]}}
    assert gen_db.conversations.count_documents(later) == 0


def test_balance_id_is_user_id(gen_db: Database[Any]) -> None:
    balances = list(gen_db.balances.find())
    user_ids = {u["_id"] for u in gen_db.users.find({}, {"_id": 1})}
    assert {b["_id"] for b in balances} == user_ids
    assert all(b["_id"] == b["user"] and "createdAt" not in b for b in balances)


def test_nothing_after_now_and_recent_activity_is_dense(gen_db: Database[Any]) -> None:
    for collection in TIMESTAMPED:
        assert gen_db[collection].count_documents({"createdAt": {"$gt": NOW_MS}}) == 0, collection
    last_5m = {"createdAt": {"$gte": NOW - timedelta(minutes=5)}}
    assert gen_db.messages.count_documents(last_5m | {"isCreatedByUser": True}) >= 1
    assert gen_db.messages.count_documents(last_5m | {"isCreatedByUser": False}) >= 1
    total = gen_db.messages.count_documents({})
    week = gen_db.messages.count_documents({"createdAt": {"$gte": NOW - timedelta(days=7)}})
    day = gen_db.messages.count_documents({"createdAt": {"$gte": NOW - timedelta(days=1)}})
    # Uniform activity over 40 days would put 17.5% in the last week and 2.5% in the last day.
    assert week / total > 0.3 and day / total > 0.08


def test_today_has_messages_just_after_midnight(db: Database[Any]) -> None:
    now = datetime(2026, 11, 27, 0, 0, 40, tzinfo=UTC)
    ld.generate(db, ld.GenOptions(seed=9, now=now, users=3, days=3))
    midnight = now.replace(second=0)
    assert db.messages.count_documents({"createdAt": {"$gte": midnight, "$lte": now}}) >= 1


# --- realism ------------------------------------------------------------------------------


def test_transactions_pair_each_reply(gen_db: Database[Any]) -> None:
    # Test every answered assistant message has one prompt and one completion with its ids.
    agents = {a["id"]: a for a in gen_db.agents.find()}
    by_message: dict[str, list[dict[str, Any]]] = {}
    for txn in gen_db.transactions.find({"messageId": {"$exists": True}}):
        by_message.setdefault(txn["messageId"], []).append(txn)
    replies = gen_db.messages.find(
        {"isCreatedByUser": False, "error": False, "content.type": {"$ne": "error"}}
    )
    for msg in replies:
        txns = {t["tokenType"]: t for t in by_message.pop(msg["messageId"])}
        assert set(txns) == {"prompt", "completion"}
        for txn in txns.values():
            assert txn["user"] == ObjectId(msg["user"])
            assert txn["conversationId"] == msg["conversationId"]
            assert txn["createdAt"] == msg["createdAt"]
        assert txns["completion"]["rawAmount"] == -msg["tokenCount"]
        agent_id = re.sub(r"____\d+$", "", msg["model"])
        expected_model = agents[agent_id]["model"] if msg["endpoint"] == "agents" else msg["model"]
        assert txns["prompt"]["model"] == txns["completion"]["model"] == expected_model
    assert by_message == {}


def test_transaction_values(gen_db: Database[Any]) -> None:
    for txn in gen_db.transactions.find({"tokenType": {"$ne": "credits"}}):
        raw, rate, value = txn["rawAmount"], txn["rate"], txn["tokenValue"]
        if "inputTokens" in txn:
            assert raw == txn["inputTokens"] + txn["writeTokens"] + txn["readTokens"]
            assert value == pytest.approx(raw * rate)
        elif txn["context"] == "incomplete" and txn["tokenType"] == "completion":
            base = ld.rate_for(txn["model"], "completion")
            assert rate == pytest.approx(base * ld.CANCEL_RATE)
            assert value == math.ceil(raw * base * ld.CANCEL_RATE)
        else:
            assert rate == ld.rate_for(txn["model"], txn["tokenType"])
            assert value == raw * rate
        assert raw < 0
    credits = list(gen_db.transactions.find({"tokenType": "credits"}))
    assert credits and all(t["rawAmount"] > 0 and t["rate"] == 1 for t in credits)
    assert {t["context"] for t in credits} == {"admin", "autoRefill"}
    contexts = set(gen_db.transactions.distinct("context"))
    assert {"message", "title", "incomplete"} <= contexts


def test_agents_tools_and_errors(gen_db: Database[Any]) -> None:
    agent_ids = set(gen_db.agents.distinct("id"))
    assert agent_ids and all(re.fullmatch(r"agent_[A-Za-z0-9_-]{21}", a) for a in agent_ids)
    agent_models = gen_db.messages.distinct(
        "model", {"endpoint": "agents", "isCreatedByUser": False}
    )
    assert {re.sub(r"____\d+$", "", m) for m in agent_models} <= agent_ids
    assert any(m.endswith("____1") for m in agent_models)
    ephemeral = gen_db.conversations.distinct("agent_id", {"endpoint": {"$ne": "agents"}})
    assert "openAI__gpt-4o___GPT-4o" in ephemeral
    tools = set(gen_db.messages.distinct("content.tool_call.name"))
    assert "web_search" in tools and any("_mcp_" in t for t in tools)
    assert gen_db.messages.count_documents({"content.type": "error", "error": False}) > 0
    assert gen_db.messages.count_documents({"unfinished": True}) > 0
    assert gen_db.conversations.count_documents({"isArchived": True}) > 0
    assert gen_db.conversations.count_documents({"isTemporary": True}) > 0


def test_users_files_sessions_bans(gen_db: Database[Any]) -> None:
    users = list(gen_db.users.find())
    assert users[0]["role"] == "ADMIN" and {u["role"] for u in users[1:]} == {"USER"}
    assert {"local", "google", "openid"} <= {u["provider"] for u in users}
    pending = [u for u in users if not u["emailVerified"]]
    assert pending and all(u["expiresAt"] == u["createdAt"] + ld.PENDING_USER_TTL for u in pending)
    contexts = set(gen_db.files.distinct("context"))
    assert {
        "avatar",
        "message_attachment",
        "agents",
        "execute_code",
        "image_generation",
    } <= contexts
    assert gen_db.files.count_documents({"expiresAt": {"$exists": True}}) > 0
    expirations = [s["expiration"] for s in gen_db.sessions.find()]
    assert min(expirations) < NOW < max(expirations)
    bans = list(gen_db.logs.find())
    assert any(re.fullmatch(r"BANS:[0-9a-f]{24}", b["key"]) for b in bans)
    assert any(b["expiresAt"] < NOW for b in bans) and any(b["expiresAt"] > NOW for b in bans)


# --- versions and options -----------------------------------------------------------------


def test_version_0_7_5_has_no_later_fields(db: Database[Any]) -> None:
    ld.generate(db, ld.GenOptions(seed=2, now=NOW, version="0.7.5", tenants=["a", "b"]))
    for field in ("isTemporary", "feedback", "expiredAt", "tenantId", "contextMeta", "addedConvo"):
        assert db.messages.count_documents({field: {"$exists": True}}) == 0, field
    assert db.conversations.count_documents({"expiredAt": {"$exists": True}}) == 0
    assert (
        db.conversations.count_documents(
            {"agent_id": {"$exists": True, "$not": re.compile("^agent_")}}
        )
        == 0
    )
    assert db.transactions.count_documents({"messageId": {"$exists": True}}) == 0
    assert db.transactions.count_documents({"inputTokens": {"$exists": True}}) > 0
    assert db.transactions.count_documents({"context": "autoRefill"}) == 0
    assert db.users.count_documents({"twoFactorEnabled": {"$exists": True}}) == 0
    assert db.messages.count_documents({"endpoint": "openAI", "content": {"$exists": True}}) == 0


def test_version_0_8_5_with_tenants_carries_tenant_id(db: Database[Any]) -> None:
    ld.generate(db, ld.GenOptions(seed=3, now=NOW, version="0.8.5", tenants=["acme", "globex"]))
    assert "auditlogs" not in db.list_collection_names()  # 0.8.7+
    for collection in (c for c in TENANT_AWARE if c in ld.collections_at("0.8.5")):
        assert set(db[collection].distinct("tenantId")) == {"acme", "globex"}, collection
        assert db[collection].count_documents({"tenantId": {"$exists": False}}) == 0, collection
    assert db.logs.count_documents({"tenantId": {"$exists": True}}) == 0
    assert db.agentcategories.count_documents({"custom": False, "tenantId": {"$exists": True}}) == 0
    assert set(db.agentcategories.distinct("tenantId", {"custom": True})) == {"acme", "globex"}
    # Tenants do not share agents: an agent reply's agent lives in the replier's tenant.
    agent_tenant = {a["id"]: a["tenantId"] for a in db.agents.find()}
    for msg in db.messages.find({"endpoint": "agents", "isCreatedByUser": False}):
        assert agent_tenant[re.sub(r"____\d+$", "", msg["model"])] == msg["tenantId"]
    assert db.users.count_documents({"role": "ADMIN"}) == 2  # the first user of each tenant
    assert db.messages.count_documents({"isTemporary": {"$exists": True}}) == 0  # 0.8.6+
    assert db.transactions.count_documents({"messageId": {"$exists": True}}) > 0


def test_no_tenant_id_without_tenants(gen_db: Database[Any]) -> None:
    for collection in ld.COLLECTIONS:
        assert gen_db[collection].count_documents({"tenantId": {"$exists": True}}) == 0


def test_transactions_disabled_leaves_empty_indexed_collections(db: Database[Any]) -> None:
    summary = ld.generate(db, ld.GenOptions(seed=4, now=NOW, users=5, transactions=False))
    assert summary["transactions"] == summary["balances"] == 0 < summary["messages"]
    for collection in ("transactions", "balances"):
        assert db[collection].count_documents({}) == 0
        assert "user_1" in db[collection].index_information()


def test_same_seed_same_documents(
    mongo_client: pymongo.MongoClient[Any], db: Database[Any]
) -> None:
    opts = ld.GenOptions(seed=11, now=NOW, users=8, hostile=True)
    ld.generate(db, opts)
    twin = _fresh(mongo_client, db.name + "_twin")
    other = _fresh(mongo_client, db.name + "_other")
    try:
        ld.generate(twin, opts)
        ld.generate(other, ld.GenOptions(seed=12, now=NOW, users=8, hostile=True))
        for collection in ld.COLLECTIONS:
            docs = list(db[collection].find().sort("_id"))
            assert docs == list(twin[collection].find().sort("_id")), collection
        assert list(db.messages.find()) != list(other.messages.find())
    finally:
        mongo_client.drop_database(twin.name)
        mongo_client.drop_database(other.name)


def test_hostile_documents_are_stored(db: Database[Any]) -> None:
    summary = ld.generate(db, ld.GenOptions(seed=5, now=NOW, users=6, hostile=True))
    assert db.messages.count_documents({}) == summary["messages"]
    assert "string" in types_of(db, "messages", "createdAt")
    assert "string" in types_of(db, "messages", "tokenCount")
    assert "string" in types_of(db, "messages", "content")
    assert {"int", "objectId", "object", "string"} <= types_of(db, "messages", "model")
    assert {"int", "object", "array"} <= types_of(
        db, "messages", "feedback.tag", {"feedback": {"$exists": True}}
    )
    assert "string" in types_of(db, "transactions", "rawAmount")
    assert db.messages.count_documents({"user": {"$exists": False}}) == 1
    assert db.messages.count_documents({"model": "nul\x00byte"}) == 1
    assert db.messages.count_documents({"model": {"$regex": "^x{10000}$"}}) == 1


# --- builders -----------------------------------------------------------------------------


def test_builders_place_documents_at_exact_times(db: Database[Any]) -> None:
    ld.ensure_indexes(db)
    at = datetime(2026, 11, 26, 11, 59, 30, 987654, tzinfo=UTC)
    user = ld.make_user(42, at, provider="google")
    conv = ld.make_conversation(user["_id"], at, rng=1)
    question = ld.make_message(user["_id"], conv["conversationId"], at, by_user=True, rng=1)
    answer = ld.make_message(
        user["_id"],
        conv["conversationId"],
        at,
        by_user=False,
        model="gpt-4o",
        endpoint="openAI",
        parentMessageId=question["messageId"],
        rng=2,
    )
    txn = ld.make_transaction(user["_id"], at, "completion", "gpt-4o", -100, context="incomplete")
    file = ld.make_file(user["_id"], at, mime="image/png", expires=True)
    balance = ld.make_balance(user["_id"], 1234.5, last_refill=at)
    for collection, doc in [
        ("users", user),
        ("conversations", conv),
        ("messages", question),
        ("messages", answer),
        ("transactions", txn),
        ("files", file),
        ("balances", balance),
    ]:
        db[collection].insert_one(doc)
    stored = db.messages.find_one({"messageId": question["messageId"]})
    assert stored is not None
    assert stored["createdAt"] == at.replace(microsecond=987000)
    assert stored["_id"].generation_time == at.replace(microsecond=0)
    assert stored["model"] is None and stored["user"] == str(user["_id"])
    assert (txn["rate"], txn["tokenValue"]) == (pytest.approx(11.5), -1150)
    assert file["expiresAt"] == file["createdAt"] + ld.UPLOAD_TTL and file["usage"] == 0
    assert balance["_id"] == user["_id"] and types_of(db, "balances", "tokenCredits") == {"double"}
    assert "googleId" in user and "password" not in user
    with pytest.raises(ValueError):
        ld.make_message(user["_id"], "c", datetime(2026, 1, 1), by_user=True)  # naive time


# --- the mongod helper --------------------------------------------------------------------


def test_mongod_auth_read_only_user(mongod: Any) -> None:
    # Test --auth plus a read-only user: the job's least-privilege setup works as documented.
    # A server of its own, whatever MONGODB_TEST_URI says; without a mongod binary this skips,
    # or fails under CI=true.
    try:
        binary = find_mongod_binary()
    except MongodError as exc:
        skip_or_fail(str(exc))
        raise
    with Mongod(auth=True, binary=binary) as server:
        reader_uri = server.create_user(
            "LibreChat", "reader", "p@ss:/word", [{"role": "read", "db": "LibreChat"}]
        )
        with pymongo.MongoClient(server.admin_uri) as admin:
            admin.LibreChat.messages.insert_one({"x": 1})
        with pymongo.MongoClient(reader_uri) as reader:
            assert reader.LibreChat.messages.count_documents({}) == 1
            with pytest.raises(OperationFailure):
                reader.LibreChat.messages.insert_one({"x": 2})
        dbpath = server.dbpath
    assert not dbpath.exists()


# --- the LibreChat 0.8 collections --------------------------------------------------------


def test_new_collections_have_librechat_types(gen_db: Database[Any]) -> None:
    # Test the types setMemory, createMCPServer, grantPermission, recordAuditEntry and the
    # schedule methods of @librechat/data-schemas 0.0.71 store.
    assert types_of(gen_db, "memoryentries", "userId") == {"objectId"}
    assert types_of(gen_db, "memoryentries", "tokenCount") == {"int"}
    assert types_of(gen_db, "memoryentries", "updated_at") == {"date"}
    assert types_of(gen_db, "memoryentries", "agentId") <= {"null", "string"}
    assert types_of(gen_db, "memoryentries", "createdAt") == {"missing"}  # no timestamps
    assert types_of(gen_db, "mcpservers", "author") == {"objectId"}
    assert types_of(gen_db, "mcpservers", "config") == {"object"}
    assert types_of(gen_db, "agentcategories", "order") == {"int"}
    assert types_of(gen_db, "agentcategories", "isActive") == {"bool"}
    assert types_of(gen_db, "aclentries", "resourceId") == {"objectId"}
    assert types_of(gen_db, "aclentries", "permBits") == {"int"}
    assert types_of(gen_db, "aclentries", "principalId", {"principalType": "public"}) == {
        "missing"}
    assert types_of(gen_db, "agents", "is_promoted") == {"bool"}
    assert types_of(gen_db, "schedules", "user") == {"objectId"}
    assert types_of(gen_db, "schedules", "enabled") == {"bool"}
    assert types_of(gen_db, "scheduleruns", "durationMs", {"durationMs": {"$exists": True}}) == {
        "int"}
    for path in ("scheduledFor", "firedAt"):
        assert types_of(gen_db, "scheduleruns", path) == {"date"}, path
    assert types_of(gen_db, "auditlogs", "createdAt") == {"date"}
    assert types_of(gen_db, "auditlogs", "seq") == {"int"}
    assert types_of(gen_db, "files", "status", {"status": {"$exists": True}}) == {"string"}
    assert set(gen_db.scheduleruns.distinct("status")) <= {
        "started", "requires_action", "success", "error", "interrupted", "skipped_overlap",
        "skipped_balance"}


def test_runs_settle_as_librechat_settles_them(gen_db: Database[Any]) -> None:
    # Test a run is inserted started with a capacity slot and settled on the same document
    # (status, durationMs, settledAt), a skip inserted settled, and one run live per schedule.
    live: dict[str, int] = {}
    for run in gen_db.scheduleruns.find():
        status = run["status"]
        if status in ("started", "requires_action"):
            assert "settledAt" not in run and "durationMs" not in run
            assert ("capacitySlot" in run) == (status == "started")
            live[run["scheduleId"]] = live.get(run["scheduleId"], 0) + 1
        elif status.startswith("skipped_"):
            assert run["settledAt"] == run["firedAt"] and "durationMs" not in run
        else:
            assert "capacitySlot" not in run and run["bookkept"] is True
            elapsed = run["settledAt"] - run["firedAt"]
            assert abs(elapsed.total_seconds() * 1000 - run["durationMs"]) <= 1
        assert run["_id"].generation_time == run["firedAt"].replace(microsecond=0)
        assert run.get("settledAt", run["firedAt"]) <= NOW
    assert live and max(live.values()) == 1
    assert gen_db.schedules.count_documents({"enabled": False}) >= 2


def test_audit_chains_link_up(gen_db: Database[Any]) -> None:
    chains: dict[str, list[dict[str, Any]]] = {}
    for entry in gen_db.auditlogs.find().sort("seq"):
        chains.setdefault(entry["chainKey"], []).append(entry)
    for chain in chains.values():
        assert [e["seq"] for e in chain] == list(range(1, len(chain) + 1))
        for before, after in itertools.pairwise(chain):
            assert after["prevHash"] == before["hash"] and after["createdAt"] >= before[
                "createdAt"]
    outcomes = set(gen_db.auditlogs.distinct("outcome"))
    assert {"success", "denied", "failure"} <= outcomes
    assert gen_db.auditlogs.count_documents({"outcome": "denied", "severity": "warning"}) >= 1


def test_versions_gate_the_new_collections(db: Database[Any],
                                           mongo_client: pymongo.MongoClient[Any]) -> None:
    ld.generate(db, ld.GenOptions(seed=8, now=NOW, users=8, version="0.8.7"))
    names = set(db.list_collection_names())
    assert {"schedules", "scheduleruns"}.isdisjoint(names)
    assert {"memoryentries", "aclentries", "agentcategories", "mcpservers", "auditlogs"} <= names
    assert db.memoryentries.count_documents({"agentId": {"$exists": True}}) == 0  # 0.8.8+
    assert db.sharedlinks.count_documents({"isPublic": {"$exists": True}}) == 0
    assert db.aclentries.count_documents({"resourceType": "sharedLink"}) > 0
    older = _fresh(mongo_client, db.name + "_086")
    try:
        ld.generate(older, ld.GenOptions(seed=8, now=NOW, users=8, version="0.8.6"))
        assert "auditlogs" not in older.list_collection_names()
        assert older.sharedlinks.count_documents({"isPublic": True}) > 0
        assert older.aclentries.count_documents({"resourceType": "sharedLink"}) == 0
        assert older.files.count_documents({"status": {"$exists": True}}) > 0
    finally:
        mongo_client.drop_database(older.name)
