"""`kakuri bench retro`: retro-scan rate over a synthetic retained window, with and without skip-already-judged.

The window is made in code (no corpus): mail from outside to our staff, a third with a small zip
attachment, a third with an HTML body of links, a third plain text, drawn from pools of distinct
attachments and link sets as real mail repeats them (campaigns, newsletters, signatures). Every
message is unique (its own Message-ID and subject), retained as the gateway retains it (copy in
`<home>/retained`, rows in gw_messages, gw_recipients, rt_retained). Then it times:

1. cold: the first retro-scan (every message parsed and scanned; features and judgements learned);
2. rules changed, skip: after a policy change, with skip-already-judged (each distinct content once);
3. same rules, skip: a re-run with nothing new (every message judged under this rule version);
4. indicator import: a new indicator matched against the learned features (no scanning);
5. rules changed, no skip: another policy change, everything scanned;
6. YARA rule added, skip: the operator's YARA rules alone changed: what is not skipped runs through the
   YARA rules only (parse, unpack, match), and a full scan only where a rule matches.

Each run reports wall time and CPU time (this process and the scan workers, from getrusage), per
message examined and per message scanned: on a shared machine the CPU figure is the one to compare.
The window is filled without the features the gateway keeps at delivery, so the first run stands for
mail retained before that (or by another node's older version): every message is parsed once.
"""

from __future__ import annotations

import io
import json
import os
import random
import shutil
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from pathlib import Path
from typing import Optional

import typer


def make_window(home: Path, count: int, *, distinct: int, seed: int = 14) -> None:
    """Fill `home` with `count` retained delivered messages (see the module docstring)."""
    from sqlalchemy import insert

    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores
    from kakuri.store.messages import Message, Recipient
    from kakuri.store.retention import RetainedMessage, Retention, RetentionConfig

    rng = random.Random(seed)
    settings = load_settings(home)
    stores = open_stores(settings)
    retention = Retention(RetentionConfig(), home)
    archives = [_zip(rng, n) for n in range(distinct)]
    link_sets = [[f"https://site{n % 997}.example/{w}/{n}" for w in rng.sample(_WORDS, 3)] for n in range(distinct)]
    # Messages are made from templates (one per content) by replacing header placeholders: building every
    # message with the email package would take longer than scanning it.
    templates = {(kind, c): _message(kind, archives[c], link_sets[c]) for kind in (0, 1) for c in range(distinct)}
    plain = _message(2, b"", [])
    start = datetime.now(UTC) - timedelta(days=6)
    messages, recipients, retained = [], [], []
    for n in range(count):
        kind = n % 3
        sender = f"{rng.choice(_WORDS)}{n % 5000}@partner{n % 300}.example"
        rcpts = [f"staff{rng.randrange(2000)}@corp.example" for _ in range(1 + (n % 4 == 0))]
        template = plain if kind == 2 else templates[(kind, rng.randrange(distinct))]
        raw = (template.replace(b"@@FROM@@", sender.encode()).replace(b"@@TO@@", ", ".join(rcpts).encode())
               .replace(b"@@N@@", str(n).encode()).replace(b"@@DOMAIN@@", sender.split("@")[1].encode()))
        queue_id = f"bench{n:07d}"
        at = start + timedelta(seconds=n * 5)
        key = retention.keep(raw)
        messages.append(dict(queue_id=queue_id, message_id=f"m{n}@{sender.split('@')[1]}", mail_from=sender,
                             from_header=sender, to_header=", ".join(rcpts), subject=f"Subject {n}", date_header="",
                             size=len(raw), direction="inbound", client_ip=f"198.51.100.{n % 250}", helo="mx.example",
                             auth_user="", origin="smtp", action="deliver", score=0.0, reasons=[], symbols=[],
                             findings=[], state="delivered", received_at=at, scanned_at=at, finished_at=at, updated_at=at))
        recipients += [dict(queue_id=queue_id, address=r, direction="inbound", status="delivered", attempts=1,
                            last_reply="250 ok", delivered_at=at) for r in rcpts]
        retained.append(dict(queue_id=queue_id, blob_key=key, size=len(raw), retained_at=at,
                             expires_at=at + timedelta(days=14)))
        if len(messages) >= 5000 or n == count - 1:
            with stores.sessions() as session:
                session.execute(insert(Message.__table__), messages)
                session.execute(insert(Recipient.__table__), recipients)
                session.execute(insert(RetainedMessage.__table__), retained)
                session.commit()
            messages, recipients, retained = [], [], []
    stores.close()


_WORDS = ["invoice", "report", "meeting", "order", "payment", "shipping", "contract", "quote", "schedule", "minutes",
          "budget", "project", "review", "summary", "notice", "update", "request", "delivery", "estimate", "plan"]


def _cpu_seconds() -> float:
    """User + system CPU of this process and its finished children (the scan workers): robust to the
    machine's load, unlike messages per second."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _zip(rng: random.Random, n: int) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        text = " ".join(rng.choice(_WORDS) for _ in range(120)) + f" {n}"
        archive.writestr(f"{rng.choice(_WORDS)}_{n}.txt", text)
    return out.getvalue()


def _message(kind: int, archive: bytes, links: list[str]) -> bytes:
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "@@FROM@@", "@@TO@@", "Subject @@N@@"
    msg["Message-ID"] = "<m@@N@@@@@DOMAIN@@>"
    msg["Date"] = "Mon, 30 Nov 2026 10:00:00 +0900"
    body = f"Hello,\n\nplease find the {_WORDS[len(links) + kind]} for this week (ref @@N@@).\n\nRegards\n"
    msg.set_content(body)
    if kind == 1:
        html = "<p>" + body.replace("\n", "<br>") + "".join(f'<a href="{u}">{u.rsplit("/", 2)[1]}</a><br>' for u in links) + "</p>"
        msg.add_alternative(html, subtype="html")
    elif kind == 0:
        msg.add_attachment(archive, maintype="application", subtype="zip", filename="documents.zip")
    return msg.as_bytes()


def retro(
    count: int = typer.Option(100_000, "--count", help="Messages in the retained window"),
    distinct: int = typer.Option(2000, "--distinct", help="Distinct attachments and link sets the mail repeats"),
    workers: Optional[int] = typer.Option(None, "--workers", help="Scan processes (default one per core)"),
    home: Optional[Path] = typer.Option(None, "--home", help="Data folder to fill (default: a new temporary one)"),
    keep: bool = typer.Option(False, "--keep", help="Keep the data folder afterwards"),
    output: Optional[Path] = typer.Option(None, "--json", help="Write the figures here too"),
) -> None:
    """Time retro-scans of a synthetic retained window (cold, rules changed with/without skip, re-run, new IOC)."""
    from kakuri.respond.retroscan import RetroPool, retro_scan
    from kakuri.settings import load_settings
    from kakuri.store.config import open_stores
    from kakuri.store.indicators import Indicator

    folder = home or Path(tempfile.mkdtemp(prefix="kakuri-bench-retro-", dir="/var/tmp"))
    figures: dict = {"messages": count, "distinct_contents": distinct, "cpus": os.cpu_count(),
                     "load_before": os.getloadavg()}
    started = time.perf_counter()
    make_window(folder, count, distinct=distinct)
    figures["fill_seconds"] = round(time.perf_counter() - started, 1)
    typer.echo(json.dumps(figures))
    since = datetime.now(UTC) - timedelta(days=7)
    runs = {}

    def timed(name: str, **options) -> None:
        settings = load_settings(folder)
        stores = open_stores(settings)
        cpu_before = _cpu_seconds()
        pool = RetroPool(folder, workers=workers)
        try:
            run = retro_scan(settings, stores, since=since, actor="bench", pool=pool, **options)
        finally:
            pool.close()  # waits for the workers: their CPU time is then counted in RUSAGE_CHILDREN
            stores.close()
        cpu = _cpu_seconds() - cpu_before
        runs[name] = {"examined": run.examined, "scanned": run.scanned, "skipped": run.skipped,
                      "yara_only": run.yara_only,
                      "findings": len(run.findings), "seconds": round(run.seconds, 1),
                      "per_second": round(run.rate, 1), "cpu_seconds": round(cpu, 1),
                      "cpu_ms_per_message": round(1000 * cpu / max(run.examined, 1), 3),
                      "cpu_ms_per_scanned": round(1000 * cpu / max(run.scanned, 1), 3),
                      "load": [round(x, 2) for x in os.getloadavg()]}
        typer.echo(json.dumps({name: runs[name]}))
        if output:
            output.write_text(json.dumps({**figures, "runs": runs}, indent=2))

    try:
        timed("cold")
        (folder / "policy.toml").write_text("[symbols.URL_SHORTENER]\nscore = 2.25\n")
        timed("rules_changed_skip")
        timed("same_rules_skip")
        stores = open_stores(load_settings(folder))
        with stores.sessions() as session:
            session.add(Indicator(kind="domain", value="site7.example", source="bench"))
            session.commit()
        stores.close()
        timed("indicator_import", scan=False)
        (folder / "policy.toml").write_text("[symbols.URL_SHORTENER]\nscore = 2.5\n")
        timed("rules_changed_no_skip", skip_judged=False)
        (folder / "rules" / "yara").mkdir(parents=True, exist_ok=True)
        (folder / "rules" / "yara" / "campaign.yar").write_text(
            'rule bench_campaign { strings: $a = "kakuri-bench-no-such-bytes" condition: $a }\n')
        timed("yara_rule_added_skip")
    finally:
        if not keep and home is None:
            shutil.rmtree(folder, ignore_errors=True)
    figures["runs"] = runs
    if output:
        output.write_text(json.dumps(figures, indent=2))
