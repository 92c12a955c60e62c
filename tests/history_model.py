"""A plain model of what the job promises about its counters, and a driver that replays a
history of inserts, runs and faults against a real mongod and the real job, checking every
published file against the model (tests/test_continuity.py).

The model knows nothing of the job's code. It keeps, per counting section, the documents
counted so far and the section's *boundary*: a document inserted with an ObjectId second below
it is never counted (README, "How counting works": a document inserted later than --lag
behind its ObjectId time is missed). The rules, as documented:

* a section's first count counts every stored document with an ObjectId second below the
  run's second; its boundary is then floor(now - lag);
* a later run of a section that succeeds counts every stored, not yet counted document with
  boundary <= second < floor(now), and raises the boundary to floor(now - lag) (never lowers it);
* a lost state restores each section the last file published a watermark for (one second
  past the newest document of its overlap zone, or its boundary): its counts are the file's,
  its boundary the file's, and the documents stored from the boundary up to the watermark are
  taken as counted (those inserted late since the last run are missed); a section without
  one is counted afresh (a counter reset, the only one allowed);
* label slots (--label-limit, --label-ttl): a run's counting section takes free slots for the
  values it meets, biggest volume first (then by name), renews those it meets, and at the end
  of a run frees the ones not met for the time-to-live: their series leave every file;
  documents of a value without a slot go to 'other'.

Three views are kept: what the state file holds, what the last published .prom holds, and
which of them exist, so that a crash between the two renames, a lost state or a lost .prom
each lead the model where the job must go.
"""

from __future__ import annotations

import collections
import copy
import dataclasses
import math
import os
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from bson import ObjectId

from tests.librechat_data import make_conversation, make_message, make_transaction, object_id_at
from tests.promparse import Samples, parse

LAG = 300
LEGACY = os.environ.get("HISTORY_LEGACY") == "1"
"""Leave out the checks of what 2.2.0 added (the runs counter): for replaying these histories
against an older job, to see which of its failures are the issue's."""
SECTION_COLLECTION = {"messages": "messages", "conversations": "conversations",
                      "tokens": "transactions"}
COUNTED_FAMILY = {"messages": "librechat_messages_total",
                  "conversations": "librechat_conversations_total",
                  "tokens": "librechat_output_tokens_total"}
PER_MODEL = {"messages": "librechat_messages_per_model_total",
             "tokens": "librechat_output_tokens_per_model_total"}
OTHER = "other"


@dataclasses.dataclass(frozen=True)
class Doc:
    collection: str
    oid: ObjectId
    model: str | None = None  # an assistant message's or a completion's model
    amount: float = 1.0  # what the section's total adds for it

    @property
    def second(self) -> int:
        return int(self.oid.generation_time.timestamp())


@dataclasses.dataclass
class SectionView:
    counted: set[ObjectId] = dataclasses.field(default_factory=set)
    boundary: int = 0
    total: float = 0.0
    per_model: dict[str, float] = dataclasses.field(default_factory=dict)
    # The documents of the overlap zone the job has listed: at each count, those stored
    # from the boundary up to the run's second; kept while at or above the boundary.
    zone: set[ObjectId] = dataclasses.field(default_factory=set)

    def watermark(self, docs: dict[ObjectId, Doc]) -> int:
        return max([self.boundary, *(docs[i].second + 1 for i in self.zone)])


@dataclasses.dataclass
class View:
    """The counts one file (state or .prom) holds."""

    sections: dict[str, SectionView] = dataclasses.field(default_factory=dict)
    slots: dict[str, float] = dataclasses.field(default_factory=dict)
    runs: dict[str, float] = dataclasses.field(
        default_factory=lambda: {"ok": 0.0, "partial": 0.0, "failed": 0.0})

    def generation(self) -> float:
        return sum(self.runs.values())


class History:
    """A database, a work directory and the model; each step acts on the real system and
    the model alike, and every run's file is checked against the model."""

    def __init__(self, client: Any, uri: str, workdir: Path, *, label_limit: int = 50,
                 label_ttl_days: float = 30.0, start: datetime) -> None:
        from tests.librechat_data import ensure_indexes

        self.client, self.uri, self.work = client, uri, workdir
        self.name = f"hist_{ObjectId()}"
        self.db = client[self.name]
        ensure_indexes(self.db)
        self.work.mkdir(parents=True, exist_ok=True)
        self.label_limit, self.ttl = label_limit, label_ttl_days * 86400
        self.now = start
        self.docs: dict[ObjectId, Doc] = {}
        self.stored: set[ObjectId] = set()
        self.state: View | None = None  # None: no usable state file
        self.prom: View | None = None  # None: no .prom with counters
        self.last: Samples | None = None  # the last file published, as parsed
        self.seq = 0
        self.steps: list[str] = []
        self.kinds: collections.Counter[str] = collections.Counter()  # what the history did
        self.runs_seen = 0
        self.unpublished_resets: set[str] = set()  # counted afresh by a run that published none

    # ---- the data ---------------------------------------------------------------------

    def _next(self) -> int:
        self.seq += 1
        return self.seq

    def insert_turn(self, model: str, at: datetime, *, answers: int = 1, amount: int = 10,
                    feedback: bool = False, conversation: bool = True,
                    transactions: bool = True) -> None:
        """A user message, `answers` assistant answers by `model` with their completions,
        and (optionally) a new conversation, every `_id` at `at`'s second."""
        self.steps.append(f"turn {model} x{answers} at {at.isoformat()}")
        self.kinds["insert now" if at >= self.now - timedelta(seconds=50) else
                   "late insert inside --lag"] += 1
        user = ObjectId()
        convo = make_conversation(user, at, rng=self._next())
        convo["_id"] = object_id_at(at, self._next())
        messages = [make_message(user, convo["conversationId"], at, by_user=True,
                                 rng=self._next())]
        txs = []
        for _ in range(answers):
            extra = {"feedback": {"rating": "thumbsUp"}} if feedback else {}
            messages.append(make_message(user, convo["conversationId"], at, by_user=False,
                                         model=model, rng=self._next(), **extra))
            if transactions:
                txs.append(make_transaction(user, at, "completion", model, -amount,
                                            rng=self._next(),
                                            conversationId=convo["conversationId"]))
        self.db.messages.insert_many(messages)
        for m in messages:
            self._add(Doc("messages", m["_id"], m.get("model") if not m["isCreatedByUser"]
                          else None))
        if conversation:
            self.db.conversations.insert_one(convo)
            self._add(Doc("conversations", convo["_id"]))
        if txs:
            self.db.transactions.insert_many(txs)
            for t in txs:
                self._add(Doc("transactions", t["_id"], model, float(amount)))

    def insert_user_messages(self, n: int, at: datetime) -> None:
        self.steps.append(f"{n} user messages at {at.isoformat()}")
        self.kinds["import"] += 1
        user = ObjectId()
        docs = [make_message(user, "c" * 8, at, by_user=True, rng=self._next())
                for _ in range(n)]
        self.db.messages.insert_many(docs)
        for d in docs:
            self._add(Doc("messages", d["_id"]))

    def _add(self, doc: Doc) -> None:
        self.docs[doc.oid] = doc
        self.stored.add(doc.oid)

    def delete(self, fraction: float, seed: int) -> None:
        import random

        rng = random.Random(seed)
        # Transactions stay: with none left the job counts tokens from messages instead.
        chosen = [i for i in sorted(self.stored) if self.docs[i].collection != "transactions"
                  and rng.random() < fraction]
        self.steps.append(f"delete {len(chosen)}")
        self.kinds["delete"] += 1
        for oid in chosen:
            self.db[self.docs[oid].collection].delete_one({"_id": oid})
            self.stored.discard(oid)

    # ---- the files ----------------------------------------------------------------------

    @property
    def state_file(self) -> Path:
        return self.work / "state.json"

    @property
    def output(self) -> Path:
        return self.work / "librechat.prom"

    def lose_state(self, how: str = "removed") -> None:
        self.steps.append(f"state {how}")
        self.kinds[f"state {how}"] += 1
        if how == "removed":
            self.state_file.unlink(missing_ok=True)
        elif self.state_file.exists():
            self.state_file.write_bytes(self.state_file.read_bytes()[:37] + b"\x00garbage")
        self.state = None

    def lose_prom(self) -> None:
        self.steps.append("prom removed")
        self.kinds["prom removed"] += 1
        self.output.unlink(missing_ok=True)
        self.prom = None

    def back_up_state(self) -> tuple[bytes, View | None]:
        return self.state_file.read_bytes(), copy.deepcopy(self.state)

    def put_back_state(self, backup: tuple[bytes, View | None]) -> None:
        self.steps.append("state put back from a backup")
        self.kinds["state put back from a backup"] += 1
        self.state_file.write_bytes(backup[0])
        self.state = copy.deepcopy(backup[1])

    def step_clock(self, seconds: float) -> None:
        self.steps.append(f"clock {seconds:+.0f} s")
        if seconds < 0:
            self.kinds["clock back"] += 1
        elif seconds > 600:
            self.kinds["clock forward"] += 1
        self.now += timedelta(seconds=seconds)

    # ---- the model of one run -------------------------------------------------------------

    def base_view(self) -> tuple[View, set[str]]:
        """The counts a run starts from, and the sections it counts afresh."""
        if self.state is not None:
            if self.prom is not None and self.prom.generation() > self.state.generation():
                self.kinds[".prom newer than the state"] += 1
                return self._merged(self.state, self.prom), set()
            return copy.deepcopy(self.state), set()
        if self.prom is not None:
            self.kinds["restored from the .prom"] += 1
            return self._restored(self.prom), set(SECTION_COLLECTION) - set(self.prom.sections)
        return View(), {*SECTION_COLLECTION, "runs"}  # both lost: every counter resets

    def _restored(self, prom: View) -> View:
        view = View(runs=dict(prom.runs))
        marks = {}
        for name, section in prom.sections.items():
            mark = section.watermark(self.docs)
            marks[name] = mark
            # Resumes at the horizon; what is stored up to the watermark counts as seen
            # (counted, or inserted late since the last run: missed).
            listed = {i for i in self.stored if self.docs[i].collection ==
                      SECTION_COLLECTION[name] and section.boundary <= self.docs[i].second < mark}
            view.sections[name] = SectionView(set(section.counted) | listed, section.boundary,
                                              section.total, dict(section.per_model), listed)
        met = max(marks.values(), default=0)
        for name, section in view.sections.items():
            for model in section.per_model:
                if model != OTHER and name in PER_MODEL:
                    view.slots[model] = met
        return view

    def _merged(self, state: View, prom: View) -> View:
        restored = self._restored(prom)
        view = copy.deepcopy(state)
        taken = False
        for name, section in prom.sections.items():
            mine = state.sections.get(name)
            if mine is None or section.watermark(self.docs) > mine.watermark(self.docs):
                view.sections[name] = restored.sections[name]
                taken = True
        if taken:
            view.slots = restored.slots
        view.runs = {r: max(state.runs[r], prom.runs[r]) for r in view.runs}
        return view

    def counted_run(self, view: View, succeeded: set[str]) -> View:
        """`view` after a run at self.now in which the sections `succeeded` counted."""
        view = copy.deepcopy(view)
        now = self.now.timestamp()
        second = math.floor(now)
        for name in ("messages", "tokens", "conversations"):  # the job's section order
            if name not in succeeded:
                continue
            section = view.sections.get(name)
            collection = SECTION_COLLECTION[name]
            candidates = [self.docs[i] for i in self.stored
                          if self.docs[i].collection == collection]
            if section is None:
                section = view.sections[name] = SectionView()
                new = [d for d in candidates if d.second < second]
                section.boundary = math.floor(now - LAG)
            else:
                new = [d for d in candidates if d.oid not in section.counted
                       and section.boundary <= d.second < second]
                section.boundary = max(section.boundary, math.floor(now - LAG))
            section.counted |= {d.oid for d in new}
            section.total += sum(d.amount for d in new)
            section.zone = {i for i in section.zone if self.docs[i].second >= section.boundary}
            section.zone |= {d.oid for d in candidates
                             if section.boundary <= d.second < second}
            if name in PER_MODEL:
                self._count_models(view, section, [d for d in new if d.model], now)
        expired = {m for m, met in view.slots.items() if met < now - self.ttl}
        self.kinds["label slot freed"] += len(expired)
        for model in expired:
            del view.slots[model]
            for section in view.sections.values():
                section.per_model.pop(model, None)
        return view

    def _count_models(self, view: View, section: SectionView, docs: list[Doc],
                      now: float) -> None:
        volumes: dict[str, float] = {}
        for doc in docs:
            assert doc.model is not None
            volumes[doc.model] = volumes.get(doc.model, 0.0) + doc.amount
        for model in sorted(volumes, key=lambda m: (-volumes[m], m)):
            if model not in view.slots and len(view.slots) < self.label_limit:
                view.slots[model] = now
            if model in view.slots:
                view.slots[model] = max(view.slots[model], now)
                target = model
            else:
                target = OTHER
            section.per_model[target] = section.per_model.get(target, 0.0) + volumes[model]

    # ---- the real runs ---------------------------------------------------------------------

    def argv(self, uri: str | None = None, *extra: str) -> list[str]:
        return ["--mongodb-uri", uri or self.uri, "--mongodb-database", self.name,
                "--output", str(self.output), "--state-file", str(self.state_file),
                "--now", self.now.isoformat(), "--lag", str(LAG),
                "--label-limit", str(self.label_limit),
                "--label-ttl", repr(self.ttl / 86400), "--slow-interval", "60",
                "--timeout", "30", "--connect-timeout", "2", "--env-file", "/nonexistent",
                *extra]

    def run(self, *, failing: str | None = None) -> Samples:
        """One run in this process; `failing` names a collection whose reads fail (a
        failCommand fail point: 'not authorized'). Checks the file against the model."""
        import librechat_textfile

        self.steps.append(f"run at {self.now.isoformat()}" +
                          (f" with {failing} failing" if failing else ""))
        base, afresh = self.base_view()
        self.kinds[f"run with {failing} failing" if failing else "run"] += 1
        if failing:
            self.client.admin.command({
                "configureFailPoint": "failCommand", "mode": "alwaysOn",
                "data": {"failCommands": ["aggregate", "find", "distinct"], "errorCode": 13,
                         "namespace": f"{self.name}.{failing}",
                         "appName": "librechat-textfile"}})
        try:
            code = librechat_textfile.main(self.argv())
        finally:
            if failing:
                self.client.admin.command({"configureFailPoint": "failCommand",
                                           "mode": "off"})
        samples = self._published()
        errors = {dict(k)["section"] for k, v in samples.get(
            "librechat_exporter_errors", {}).items() if v}
        assert code in (0, 3), self.where(f"exit {code}")
        if failing is None:
            assert not errors, self.where(f"sections failed without a fault: {errors}")
        else:
            reading = {n for n, c in SECTION_COLLECTION.items() if c == failing}
            assert reading <= errors, self.where(f"{failing} failing, errors {errors}")
        view = self.counted_run(base, set(SECTION_COLLECTION) - errors)
        view.runs["partial" if errors else "ok"] += 1
        self._check(samples, view, afresh)
        self.state, self.prom = view, copy.deepcopy(view)
        return samples

    def run_down(self, port: int) -> Samples:
        """A run that cannot reach MongoDB: exit 1, up 0, every counter carried."""
        import librechat_textfile

        self.steps.append(f"run at {self.now.isoformat()} with MongoDB down")
        afresh: set[str] = set()
        self.kinds["run with MongoDB down"] += 1
        if self.state is not None:
            carried = copy.deepcopy(self.state)
        elif self.prom is not None:
            carried = self._restored(self.prom)
        else:
            carried, afresh = View(), {*SECTION_COLLECTION, "runs"}
        code = librechat_textfile.main([*self.argv(
            f"mongodb://127.0.0.1:{port}/?directConnection=true"), "--connect-timeout", "0.3"])
        assert code == 1, self.where(f"exit {code}")
        samples = self._published()
        assert samples["librechat_exporter_up"][()] == 0.0
        if self.prom is not None:  # the file's count goes on where it is further along
            carried.runs = {r: max(v, self.prom.runs[r]) for r, v in carried.runs.items()}
        carried.runs["failed"] += 1
        self._check(samples, carried, afresh)
        if self.state is not None:
            self.state = copy.deepcopy(carried)  # saved with the run counted
        self.prom = carried
        return samples

    def run_killed(self, stop_at: str, tmp: Path) -> None:
        """A run as its own process, SIGKILLed when it pauses at `stop_at`."""
        from tests.job_control import start_launched, wait_for_marker

        self.steps.append(f"run at {self.now.isoformat()} killed at {stop_at}")
        self.kinds[f"SIGKILL {stop_at}"] += 1
        marker = tmp / f"{self.name}-marker-{self._next()}"  # unique across histories
        before = self.output.read_bytes() if self.output.exists() else None
        proc = start_launched(self.argv(), stop_at=stop_at, marker=marker)
        try:
            wait_for_marker(marker, proc)
        finally:
            proc.kill()
            proc.communicate()
        after = self.output.read_bytes() if self.output.exists() else None
        assert after == before, self.where("the .prom changed before its rename")
        if stop_at == "before-prom-rename":
            base, afresh = self.base_view()
            view = self.counted_run(base, set(SECTION_COLLECTION))
            view.runs["ok"] += 1
            self.state = view  # the state was renamed into place, the .prom was not
            self.unpublished_resets |= afresh  # the next file shows them

    def _published(self) -> Samples:
        text = self.output.read_text(encoding="utf-8")
        samples, _ = parse(text)
        return samples

    # ---- the checks ------------------------------------------------------------------------

    def where(self, what: str) -> str:
        text = f"{what}\nhistory ({len(self.steps)} steps):\n  " + "\n  ".join(self.steps[-40:])
        print(text)  # also outside the assertion: hypothesis may replay a history
        return text

    def _check(self, samples: Samples, view: View, afresh: set[str]) -> None:
        self.runs_seen += 1
        for name, family in COUNTED_FAMILY.items():
            section = view.sections.get(name)
            want = section.total if section else None
            got = samples.get(family, {}).get(())
            assert got == want, self.where(f"{family}: job {got}, model {want}")
        for name, family in PER_MODEL.items():
            section = view.sections.get(name)
            want = {m: v for m, v in (section.per_model if section else {}).items() if v}
            got = {dict(k)["model"]: v for k, v in samples.get(family, {}).items() if v}
            assert got == want, self.where(f"{family}: job {got}, model {want}")
        runs = {dict(k)["result"]: v for k, v in samples.get(
            "librechat_exporter_runs_total", {}).items()}
        if not LEGACY:
            assert runs == view.runs, self.where(f"runs: job {runs}, model {view.runs}")
        if self.last is not None:
            self._never_fell(self.last, samples, afresh | self.unpublished_resets)
        self.last, self.unpublished_resets = samples, set()

    def _never_fell(self, before: Samples, after: Samples, afresh: set[str]) -> None:
        """No counter series present in two consecutive files falls, but those of a section
        counted afresh (which of a section's families are its own is the catalogue's
        declaration, sections/registry.py)."""
        from librechat_metrics.sections.registry import SECTIONS

        reset = {spec.name for section in SECTIONS if section.name in afresh
                 for spec in section.counters}
        if "runs" in afresh:
            reset.add("librechat_exporter_runs_total")
        for family, rows in before.items():
            if not family.endswith("_total") or family in reset:
                continue
            for key, value in rows.items():
                later = after.get(family, {}).get(key)
                if later is not None:
                    assert later >= value, self.where(
                        f"{family}{dict(key)} fell from {value} to {later}")
