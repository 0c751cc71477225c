"""Retro-scan: judge retained delivered mail again with today's knowledge ("delivered before we knew").

Two ways of knowing more, handled differently because they cost differently:
- **Indicators** (imported STIX/MISP/abuse.ch, hash lists, URL feeds) are matched against each message's
  features (file hashes at every depth, URLs, link and sender domains, sender addresses, client IP),
  extracted once per message and kept in `rt_features`: a new indicator needs no parsing at all.
- **Rules** (kakuri's version, stock and operator policy, YARA rules) can change any verdict, so the
  message is scanned again by the full pipeline in the scan pool. The rule version is a digest of
  those inputs. With `skip_judged`, a message is not scanned again when it was already scanned under
  the same rule version, or when every attachment hash and URL it carries was judged clean under it
  (in another message: mass mail repeats attachments and links). Blind spot of that shortcut: a rule
  change that only concerns headers (sender, thread) is not re-applied to skipped messages; run with
  `skip_judged=False` after such a change.

A message whose new verdict is quarantine or reject, or that carries an indicator, becomes a
`rt_findings` row linked to an incident (given, or opened for the run), with the recipients it
reached, so that `kakuri clawback --incident N` can take it back.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from importlib import resources
from pathlib import Path
from typing import Callable, Iterable, Iterator

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from kakuri.model.envelope import Direction, Envelope
from kakuri.model.message import ParsedMessage
from kakuri.parse.urls import message_urls, normalise_url
from kakuri.respond.incidents import add_event, link, open_incident
from kakuri.store.config import Stores
from kakuri.store.indicators import Indicator
from kakuri.store.messages import Message, MessageState, RecipientStatus
from kakuri.store.retention import (
    JudgedItem,
    MessageFeatures,
    RetainedMessage,
    RetroFinding,
    insert_ignoring,
)

REACHED = (MessageState.DELIVERED, MessageState.RELEASED)
NOW_BAD = ("quarantine", "reject")
CONTENT = ("sha256:", "url:")  # the items whose judgement a later message may reuse
CHUNK = 16  # messages per worker round trip


# -- what a message carries ----------------------------------------------------------------------
def features_of(message: ParsedMessage, envelope: Envelope) -> list[str]:
    """Everything an indicator can name, as "kind:value" items."""
    items: set[str] = set()
    for part in message.walk_parts():
        if part.is_attachment or part.depth > 0:
            items.add(f"sha256:{part.sha256}")
            items.add(f"md5:{hashlib.md5(part.data, usedforsecurity=False).hexdigest()}")
    for url in message_urls(message):
        if not url.is_link:
            continue
        items.add(f"url:{normalise_url(url.url)}")
        if url.host:
            items.add(f"{'ip' if _is_ip(url.host) else 'domain'}:{url.host.lower().rstrip('.')}")
    for address in (envelope.mail_from, message.from_addr, *message.reply_to):
        if address and "@" in address:
            items.add(f"email:{address.lower()}")
            items.add(f"domain:{address.rpartition('@')[2].lower()}")
    if envelope.client_ip:
        items.add(f"ip:{envelope.client_ip}")
    if message.subject:
        items.add(f"subject:{message.subject.strip()}")
    return sorted(items)


def _is_ip(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.ip_address(host.strip("[]"))
        return True
    except ValueError:
        return False


class IndicatorIndex:
    """The imported indicators as sets, matched against a message's items."""

    def __init__(self, pairs: Iterable[tuple[str, str]] = ()) -> None:
        self.values: dict[str, set[str]] = {}
        for kind, value in pairs:
            self.add(kind, value)

    def add(self, kind: str, value: str) -> None:
        value = value.strip()
        if kind == "url":
            value = normalise_url(value)
        elif kind != "subject":
            value = value.lower().rstrip(".")
        self.values.setdefault(kind, set()).add(value)

    @classmethod
    def load(cls, session: Session) -> IndicatorIndex:
        return cls(session.execute(select(Indicator.kind, Indicator.value).distinct()))

    def __len__(self) -> int:
        return sum(len(v) for v in self.values.values())

    def match(self, items: Iterable[str]) -> list[str]:
        hits = []
        domains = self.values.get("domain", set())
        for item in items:
            kind, _, value = item.partition(":")
            if value in self.values.get(kind, ()):
                hits.append(item)
            elif kind == "domain" and domains:
                labels = value.split(".")
                if any(".".join(labels[i:]) in domains for i in range(1, len(labels) - 1)):
                    hits.append(item)  # a subdomain of a listed domain
        return hits


# -- rule version --------------------------------------------------------------------------------
def rule_version(settings) -> str:
    """Digest of what can change a full scan's verdict, in two halves: 16 hex digits for kakuri's version, its
    stock rules, policy.toml and the detector options, then 16 for the operator's YARA rules, so that a change
    of those alone is known as such (`yara_only`)."""
    from kakuri import __version__

    core = hashlib.sha256(f"kakuri {__version__}\n".encode())
    stock_policy = resources.files("kakuri.policy")
    stock_yara = resources.files("kakuri.data") / "yara"
    files = sorted(p for p in stock_policy.iterdir() if p.name.endswith(".toml"))
    files += sorted(p for p in stock_yara.iterdir() if p.name.endswith((".yar", ".yara")))
    home = Path(settings.home)
    for path in files + [home / "policy.toml"]:
        if Path(str(path)).is_file():
            core.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    core.update(repr(sorted(settings.detectors.items())).encode())
    yara = hashlib.sha256(b"operator yara\n")
    for path in sorted((home / "rules" / "yara").glob("*.yar*")):
        if path.is_file():
            yara.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return core.hexdigest()[:16] + yara.hexdigest()[:16]


def yara_only(judged: str | None, version: str) -> bool:
    """Judged clean under the same kakuri, policy and detector options as `version`; only the YARA rules differ."""
    return bool(judged) and judged != version and judged[:16] == version[:16]


# -- scanning in the pool ------------------------------------------------------------------------
_worker = None


def _init_worker(home: str, parent: int | None = None) -> None:
    global _worker
    if parent is not None:  # a worker of a killed gateway or CLI must not go on reading mail
        import threading

        from kakuri.receive.scanning import _exit_with_parent

        threading.Thread(target=_exit_with_parent, args=(parent,), daemon=True).start()
    from kakuri.settings import load_settings
    from kakuri.store.retention import Retention
    from kakuri.wiring import build_scanner_from_home

    settings = load_settings(home)
    retention = Retention.of(settings)  # its blobs: files, or the database on PostgreSQL
    _worker = (build_scanner_from_home(settings), retention.blobs)


UNCHANGED = {"action": "deliver", "score": 0.0, "reasons": [], "symbols": [], "unchanged": True}


def _judge_batch(batch: list[tuple[str, str, Envelope, bool]]) -> list[tuple[str, dict | None, list[str]]]:
    scanner, blobs = _worker
    out = []
    for queue_id, key, envelope, quick in batch:
        try:
            raw = blobs.get(key)
        except KeyError:
            out.append((queue_id, None, []))
            continue
        if quick and (items := _no_new_yara_match(scanner, raw, envelope)) is not None:
            out.append((queue_id, UNCHANGED, items))
            continue
        result = scanner.scan(raw, envelope)
        verdict = result.verdict.as_dict()
        out.append((queue_id, {k: verdict[k] for k in ("action", "score", "reasons", "symbols")},
                    features_of(result.message, envelope)))
    return out


def _no_new_yara_match(scanner, raw: bytes, envelope: Envelope) -> list[str] | None:
    """After a change of the operator's YARA rules alone, mail judged clean before is judged the same unless a
    rule now matches one of its files: parse, unpack and match the YARA rules only (about half a full scan).
    Returns the message's features when nothing matches; None when the full scan must decide.
    Blind spot: a policy expression that fires on a YARA symbol's absence (none in the stock policy)."""
    from kakuri.detect.base import ScanContext
    from kakuri.parse.mime import parse_message
    from kakuri.unpack.walker import unpack_message

    iocs = next((d for d in scanner.detectors if d.name == "iocs"), None)
    ctx = ScanContext(envelope=envelope, knowledge=scanner.knowledge, resolver=scanner.resolver,
                      password_sources=scanner.password_sources)
    message = parse_message(raw)
    list(unpack_message(message, scanner.settings.unpack, lambda: scanner._passwords(message, ctx)))
    if iocs is not None and iocs.rules is not None:
        for part in message.walk_parts():
            if part.data and any(True for _ in iocs._yara(part)):  # a match, or a part it could not finish
                return None
    return features_of(message, envelope)


class RetroPool:
    """Worker processes that each build the scanner once and read retained copies themselves (only keys
    and envelopes cross the pipe). `workers=0` judges in this process (tests, tiny windows)."""

    def __init__(self, home: Path, workers: int | None = None) -> None:
        self.home = str(home)
        self.workers = (os.cpu_count() or 1) if workers is None else workers
        self._pool = None
        if self.workers > 0:
            import multiprocessing

            # spawn: the gateway runs jobs from a thread beside its event loop, which must not be forked; and
            # a forked worker would hold the parent's database connections (on PostgreSQL, closing them at
            # its exit ends the parent's sessions). Costs each worker ~2 s of CPU to import kakuri again.
            context = multiprocessing.get_context("spawn")
            self._pool = ProcessPoolExecutor(self.workers, mp_context=context, initializer=_init_worker,
                                             initargs=(self.home, os.getpid()))
        else:
            _init_worker(self.home)

    def map(self, jobs: Iterable[tuple[str, str, Envelope]]) -> Iterator[tuple[str, dict | None, list[str]]]:
        if self._pool is None:
            for job in jobs:
                yield from _judge_batch([job])
            return
        batch, pending = [], []
        for job in jobs:
            batch.append(job)
            if len(batch) >= CHUNK:
                pending.append(self._pool.submit(_judge_batch, batch))
                batch = []
                if len(pending) >= 3 * self.workers:
                    yield from pending.pop(0).result()
        if batch:
            pending.append(self._pool.submit(_judge_batch, batch))
        for future in pending:
            yield from future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(cancel_futures=True)


# -- the run -------------------------------------------------------------------------------------
@dataclass
class RetroRun:
    rule_version: str
    total: int = 0  # messages in the window
    examined: int = 0
    skipped: int = 0  # judged before under this rule version: not scanned
    scanned: int = 0
    missing: int = 0  # retained row without its copy
    yara_only: int = 0  # of the scanned, judged by the YARA rules alone (only those changed since; no match)
    seconds: float = 0.0
    incident_id: int | None = None
    findings: list[RetroFinding] = field(default_factory=list)
    job_id: int | None = None  # the rt_jobs row it ran as (respond/retrojobs.py)

    @property
    def rate(self) -> float:
        return self.examined / self.seconds if self.seconds else 0.0


def retro_scan(
    settings,
    stores: Stores,
    *,
    since: datetime,
    actor: str,
    incident_id: int | None = None,
    skip_judged: bool = True,
    pool: RetroPool | None = None,
    scan: bool = True,
    progress: Callable[[RetroRun], None] | None = None,
) -> RetroRun:
    """Judge retained mail received since `since` again; returns the run with its new findings.

    `scan=False` only matches indicators against messages whose features are known (what an IOC
    import does first, in seconds); messages never parsed are scanned regardless, to learn them.
    `progress(run)` is called as the counts move (every 100 results); it may raise to stop the run.

    The window is read from the database in batches as the pool takes work, so a window of millions
    of messages is never held in memory; only the judged content items are (one set entry each)."""
    started = time.perf_counter()
    run = RetroRun(rule_version=rule_version(settings))
    version = run.rule_version
    window = (
        select(RetainedMessage.queue_id, RetainedMessage.blob_key, Message.mail_from, Message.direction,
               Message.client_ip, Message.helo, MessageFeatures.items, MessageFeatures.judged_version)
        .join(Message, Message.queue_id == RetainedMessage.queue_id)
        .outerjoin(MessageFeatures, MessageFeatures.queue_id == RetainedMessage.queue_id)
        .where(Message.received_at >= since, Message.state.in_([str(s) for s in REACHED]))
    )
    with stores.sessions() as session:
        index = IndicatorIndex.load(session)
        judged = set(session.scalars(select(JudgedItem.item).where(JudgedItem.rule_version == version)))
        run.total = session.scalar(select(func.count()).select_from(window.subquery())) or 0
    hits: dict[str, list[str]] = {}
    verdicts: dict[str, dict] = {}
    deferred: list = []
    pending: set[str] = set()  # content items that messages already queued in this run will judge
    if progress:
        progress(run)

    def first_pass() -> Iterator[tuple[str, str, Envelope]]:
        """The messages to scan, as the pool asks for them; the others are matched and counted here."""
        with stores.sessions() as session:
            rows = session.execute(window.order_by(Message.received_at).execution_options(yield_per=5000))
            for row in rows:
                queue_id, items, judged_version = row[0], row[6], row[7]
                run.examined += 1
                if items is None:  # never parsed: scan it to learn it, whatever the mode
                    yield _job(row)
                    continue
                quick = yara_only(judged_version, version)
                matched = index.match(items)
                if matched:
                    hits[queue_id] = matched
                content = [i for i in items if i.startswith(CONTENT)]
                if not scan or (skip_judged and (judged_version == version or (content and _all_in(content, judged)))):
                    run.skipped += 1
                    continue
                if skip_judged and content and all(i in judged or i in pending for i in content):
                    deferred.append((row[:6], content, quick))  # another message of this run judges it first
                    continue
                pending.update(content)
                yield _job(row, quick)

    def second_pass() -> Iterator[tuple[str, str, Envelope]]:
        """The deferred messages whose content the first pass did not judge clean."""
        for row, content, quick in deferred:
            if _all_in(content, judged):
                run.skipped += 1
            else:
                yield _job(row, quick)

    own_pool = pool is None
    if own_pool:  # small windows (tests, a CLI on a quiet site) are judged here; large ones in the pool
        pool = RetroPool(Path(settings.home), workers=0 if run.total < 50 else None)
    try:
        features, new_judged = [], []
        results = itertools.chain(pool.map(first_pass()), pool.map(second_pass()))
        for count, (queue_id, verdict, items) in enumerate(results, 1):
            if verdict is None:
                run.missing += 1
                continue
            run.scanned += 1
            run.yara_only += bool(verdict.get("unchanged"))
            matched = index.match(items)
            if matched:
                hits[queue_id] = matched
            clean = verdict["action"] not in NOW_BAD
            if clean:
                fresh = {i for i in items if i.startswith(CONTENT)} - judged
                new_judged += [{"item": i, "rule_version": version} for i in fresh]
                judged |= fresh
            else:
                verdicts[queue_id] = verdict
            features.append({"queue_id": queue_id, "items": items, "judged_version": version if clean else None})
            if len(features) >= 2000:
                _save_learning(stores, features, new_judged)
                features, new_judged = [], []
            if progress and count % 100 == 0:
                progress(run)
        _save_learning(stores, features, new_judged)
    finally:
        if own_pool:
            pool.close()
    run.incident_id, run.findings = _record_findings(stores, hits, verdicts, version, actor, incident_id)
    run.seconds = time.perf_counter() - started
    if progress:
        progress(run)
    return run


def _all_in(items: list[str], judged: set[str]) -> bool:
    return all(i in judged for i in items)


def _job(row, quick: bool = False) -> tuple[str, str, Envelope, bool]:
    """(queue id, blob key, envelope, YARA rules alone) of a window row: what a worker needs, made only for mail
    to scan."""
    queue_id, key, mail_from, direction, client_ip, helo = row[:6]
    return queue_id, key, _envelope(mail_from, direction, client_ip, helo), quick


def _envelope(mail_from: str, direction: str, client_ip: str, helo: str) -> Envelope:
    known = direction in Direction._value2member_map_
    return Envelope(mail_from=mail_from, client_ip=client_ip or None, helo=helo or None,
                    direction=Direction(direction) if known else Direction.INBOUND)


def _save_learning(stores: Stores, features: list[dict], judged: list[dict]) -> None:
    if not features and not judged:
        return
    from kakuri.store.messages import utcnow

    now = utcnow()
    with stores.writing(), stores.sessions() as session:  # beside the gateway's writer: SQLite takes turns
        _upsert(session, MessageFeatures, [{**f, "extracted_at": now} for f in features], ["queue_id"],
                ["items", "judged_version", "extracted_at"])
        # judged again under a newer rule version: the row moves to it
        _upsert(session, JudgedItem, [{**j, "judged_at": now} for j in judged], ["item"], ["rule_version", "judged_at"])
        session.commit()


def upsert_judged(session: Session, rows: list[dict]) -> None:
    _upsert(session, JudgedItem, rows, ["item"], ["rule_version", "judged_at"])


def _upsert(session: Session, table, rows: list[dict], keys: list[str], columns: list[str]) -> None:
    if not rows:
        return
    if session.bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as dialect_insert
    else:
        from sqlalchemy.dialects.sqlite import insert as dialect_insert
    statement = dialect_insert(table)
    statement = statement.on_conflict_do_update(
        index_elements=keys, set_={c: statement.excluded[c] for c in columns})
    for start in range(0, len(rows), 500):
        session.execute(statement, rows[start:start + 500])


def _record_findings(
    stores: Stores, hits: dict[str, list[str]], verdicts: dict[str, dict], version: str, actor: str,
    incident_id: int | None,
) -> tuple[int | None, list[RetroFinding]]:
    bad = sorted(set(hits) | set(verdicts))
    if not bad:
        return incident_id, []
    findings = []
    with stores.sessions() as session:
        known = set()
        for start in range(0, len(bad), 500):
            known |= set(session.execute(select(RetroFinding.queue_id, RetroFinding.incident_id)
                                         .where(RetroFinding.queue_id.in_(bad[start:start + 500]))).tuples())
        if incident_id is None:  # without a given incident, what an earlier run found is not news
            bad = [q for q in bad if q not in {k for k, _ in known}]
            if not bad:
                return None, []
            incident_id = open_incident(session, title=f"Delivered before we knew: {len(bad)} message(s) found by retro-scan",
                                        actor=actor).id
        for queue_id in bad:
            if (queue_id, incident_id) in known:
                continue  # found before for this incident: one finding per message and incident
            message = session.get(Message, queue_id)
            verdict = verdicts.get(queue_id, {})
            matched = [f"indicator {h}" for h in hits.get(queue_id, [])] + list(verdict.get("symbols", []))
            recipients = [r.address for r in message.recipients if r.status == RecipientStatus.DELIVERED]
            finding = RetroFinding(
                queue_id=queue_id, incident_id=incident_id, rule_version=version,
                action=verdict.get("action", "quarantine"), score=float(verdict.get("score") or 0.0),
                matched=matched, reasons=list(verdict.get("reasons", [])), recipients=recipients)
            session.add(finding)
            link(session, incident_id, kind="message", value=queue_id, actor=actor,
                 note=f"delivered before we knew; reached {', '.join(recipients)}")
            add_event(session, incident_id, actor=actor, kind="detection",
                      text=f"retro-scan: {queue_id} <{message.message_id}> from {message.mail_from or '<>'} "
                           f"reached {len(recipients)} mailbox(es); {'; '.join(matched)[:500]}",
                      detail={"queue_id": queue_id, "recipients": recipients, "matched": matched})
            findings.append(finding)
        session.commit()
    return incident_id, findings
