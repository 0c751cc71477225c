"""The hunt store: logs parsed once into Parquet, partitioned by table and UTC day, each file once.

Layout under the store folder::

    manifest.json                                  files ingested (content hash -> path, lines, days)
    events/<table>/day=YYYY-MM-DD/<hash>-<n>.parquet   web, conn, dns, files, mail
    daily/...                                      per-day summaries (`daily.py`), rebuilt when a day changes

A file is known by the SHA-256 of its text, so `access.log.1` gzipped into `access.log.2.gz` by
logrotate is recognised and skipped. A file that grew since it was ingested (the live `access.log`
read again the next day) is recognised by its prefix: only the new lines are parsed.
Parsing is the one per-line Python step (the parsers in `formats/`); everything after it is SQL.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

from kakuri.hunt.config import HuntConfig
from kakuri.hunt.events import Connection, DnsAnswer, FileSeen, MailTransaction, WebRequest
from kakuri.hunt.formats import ParseStats
from kakuri.hunt.formats.maillog import SyslogClock, parse_maillog
from kakuri.hunt.formats.squid import parse_squid
from kakuri.hunt.formats.zeek import parse_zeek
from kakuri.hunt.sources import LogFile, open_text

ROWS_PER_PART = 250_000  # rows buffered per table before a Parquet part is written (bounds ingest memory)
_ORDER = {"zeek": 0, "squid": 1, "maillog": 2}  # network logs first: they date the year-less maillog

_RCPT = pa.struct([("address", pa.string()), ("status", pa.string()), ("dsn", pa.string()),
                   ("local", pa.bool_()), ("relay", pa.string())])
SCHEMAS = {
    "web": pa.schema([("ts", pa.float64()), ("client", pa.string()), ("method", pa.string()), ("url", pa.string()),
                      ("host", pa.string()), ("port", pa.int32()), ("path", pa.string()), ("status", pa.int32()),
                      ("code", pa.string()), ("size", pa.int64()), ("server_ip", pa.string()), ("mime", pa.string()),
                      ("elapsed_ms", pa.int64())]),
    "conn": pa.schema([("ts", pa.float64()), ("orig", pa.string()), ("resp", pa.string()), ("resp_port", pa.int32()),
                       ("proto", pa.string()), ("service", pa.string()), ("state", pa.string()),
                       ("orig_bytes", pa.int64()), ("resp_bytes", pa.int64()), ("duration", pa.float64())]),
    "dns": pa.schema([("ts", pa.float64()), ("client", pa.string()), ("server", pa.string()), ("query", pa.string()),
                      ("qtype", pa.string()), ("answers", pa.list_(pa.string()))]),
    "files": pa.schema([("ts", pa.float64()), ("host", pa.string()), ("sha256", pa.string()), ("source", pa.string())]),
    "mail": pa.schema([("seq", pa.int64()), ("queue_id", pa.string()), ("ts", pa.float64()), ("client_ip", pa.string()),
                       ("client_name", pa.string()), ("sasl_username", pa.string()), ("sender", pa.string()),
                       ("subject", pa.string()), ("helo", pa.string()), ("is_bounce_notice", pa.bool_()),
                       ("server", pa.string()), ("recipients", pa.list_(_RCPT))]),
}
TABLES = tuple(SCHEMAS)


def _row(event) -> tuple[str, tuple]:
    if isinstance(event, WebRequest):
        return "web", (event.ts, event.client, event.method, event.url, event.host, event.port, event.path,
                       event.status, event.code, event.size, event.server_ip, event.mime, event.elapsed_ms)
    if isinstance(event, Connection):
        return "conn", (event.ts, event.orig, event.resp, event.resp_port, event.proto, event.service, event.state,
                        event.orig_bytes, event.resp_bytes, event.duration)
    if isinstance(event, DnsAnswer):
        return "dns", (event.ts, event.client, event.server, event.query, event.qtype, list(event.answers))
    if isinstance(event, FileSeen):
        return "files", (event.ts, event.host, event.sha256, event.source)
    raise TypeError(type(event).__name__)


def _mail_row(seq: int, tx: MailTransaction) -> tuple:
    recipients = [{"address": r.address, "status": r.status, "dsn": r.dsn, "local": r.local, "relay": r.relay}
                  for r in tx.recipients]
    return (seq, tx.queue_id, tx.ts, tx.client_ip, tx.client_name, tx.sasl_username, tx.sender, tx.subject, tx.helo,
            tx.is_bounce_notice, tx.server, recipients)


@dataclass
class IngestReport:
    files: list[str] = field(default_factory=list)  # ingested now
    skipped: list[str] = field(default_factory=list)  # already in the store (same content)
    appended: list[str] = field(default_factory=list)  # grown since last time: only the new lines were read
    days: set[str] = field(default_factory=set)  # table/day partitions that changed
    stats: ParseStats = field(default_factory=ParseStats)
    rows: int = 0


class HuntStore:
    def __init__(self, root: Path):
        self.root = Path(root)
        self.on_progress: Callable[[int], None] | None = None
        self.manifest_path = self.root / "manifest.json"
        self.manifest = self._load()

    def _load(self) -> dict:
        if self.manifest_path.exists():
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        return {"version": 1, "files": {}, "first_ts": None, "mail_seq": 0}

    def _save(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(self.manifest, indent=1, sort_keys=True), encoding="utf-8")
        os.replace(tmp, self.manifest_path)

    # --- paths --------------------------------------------------------------------------------
    def table_glob(self, table: str) -> str:
        return str(self.root / "events" / table / "*" / "*.parquet")

    def has_table(self, table: str) -> bool:
        return any((self.root / "events" / table).glob("*/*.parquet"))

    def days(self, table: str) -> list[str]:
        folder = self.root / "events" / table
        return sorted(p.name.removeprefix("day=") for p in folder.glob("day=*")) if folder.is_dir() else []

    def day_files(self, table: str, day: str) -> list[Path]:
        folder = self.root / "events" / table / f"day={day}"
        try:  # a run asks for every day's files of every table: listdir, not glob
            names = os.listdir(folder)
        except FileNotFoundError:
            return []
        return [folder / name for name in sorted(names) if name.endswith(".parquet")]

    @property
    def lines(self) -> int:
        return sum(f["lines"] for f in self.manifest["files"].values())

    # --- ingest -------------------------------------------------------------------------------
    def ingest(self, files: Iterable[LogFile], cfg: HuntConfig | None = None, *,
               on_progress: Callable[[int], None] | None = None) -> IngestReport:
        """Parse the files not yet in the store; `on_progress` receives bytes of text read."""
        cfg = cfg or HuntConfig()
        self.on_progress = on_progress
        report = IngestReport()
        for log_file in sorted(files, key=lambda f: _ORDER[f.kind]):
            digest, prefix = self._identify(log_file.path)
            name = str(log_file.path)
            if digest in self.manifest["files"]:
                report.skipped.append(name)
                continue
            skip_lines = self.manifest["files"][prefix]["lines"] if prefix else 0
            stats = ParseStats()
            first_ts, written = self._parse(log_file, digest, skip_lines, stats, cfg, report)
            report.stats.merge(stats)
            (report.appended if prefix else report.files).append(name)
            entry = {"path": name, "kind": log_file.kind, "lines": stats.lines + skip_lines, "first_ts": first_ts,
                     "ingested": datetime.now(timezone.utc).isoformat(timespec="seconds"), "rows": written}
            if prefix:  # the grown file replaces its shorter self: its lines are counted once
                entry["extends"] = prefix
                self.manifest["files"].pop(prefix)
            self.manifest["files"][digest] = entry
            if first_ts is not None and log_file.kind != "maillog":
                known = self.manifest["first_ts"]
                self.manifest["first_ts"] = first_ts if known is None else min(known, first_ts)
            self._save()
        return report

    def _identify(self, path: Path) -> tuple[str, str | None]:
        """The file's content hash, and the hash of an ingested file that is a prefix of it (grown log)."""
        by_lines: dict[int, list[str]] = {}
        for digest, entry in self.manifest["files"].items():
            by_lines.setdefault(entry["lines"], []).append(digest)
        whole = hashlib.sha256()
        prefix = None
        with open_text(path) as stream:
            for count, line in enumerate(stream, 1):
                whole.update(line.encode("utf-8", "surrogateescape"))
                if count in by_lines and prefix is None:
                    current = whole.hexdigest()
                    prefix = current if current in by_lines[count] else None
        digest = whole.hexdigest()
        return digest, (prefix if prefix != digest else None)

    def _parse(self, log_file: LogFile, digest: str, skip_lines: int, stats: ParseStats, cfg: HuntConfig,
               report: IngestReport) -> tuple[float | None, int]:
        source = str(log_file.path)
        lines = _lines_after(log_file.path, skip_lines, self.on_progress)
        writer = _PartWriter(self.root / "events", digest, report.days)
        first_ts = None
        if log_file.kind == "maillog":
            reference = self.manifest["first_ts"]
            clock = SyslogClock(tz=cfg.timezones.get("maillog", "UTC"), year=cfg.maillog_year,
                                reference=reference if reference is not None else log_file.path.stat().st_mtime,
                                reference_is_end=reference is None)
            seq = self.manifest["mail_seq"]
            for tx in parse_maillog(lines, stats, source, clock):
                seq += 1
                writer.add("mail", tx.ts, _mail_row(seq, tx))
                first_ts = tx.ts if first_ts is None else min(first_ts, tx.ts)
            self.manifest["mail_seq"] = seq
        else:
            events = parse_squid(lines, stats, source) if log_file.kind == "squid" else parse_zeek(lines, stats, source)
            for event in events:
                table, row = _row(event)
                writer.add(table, event.ts, row)
                first_ts = event.ts if first_ts is None else min(first_ts, event.ts)
        report.rows += writer.close()
        return first_ts, writer.rows


def _lines_after(path: Path, skip: int, on_progress: Callable[[int], None] | None) -> Iterator[str]:
    """The lines after the first `skip`, reporting progress every few thousand lines."""
    pending = 0
    with open_text(path) as stream:
        for count, line in enumerate(stream, 1):
            if count > skip:
                yield line
            if on_progress is not None:
                pending += len(line)
                if count % 4096 == 0:
                    on_progress(pending)
                    pending = 0
    if on_progress is not None:
        on_progress(pending)


class _PartWriter:
    """Buffers rows per (table, day) and writes them as Parquet parts named after the source file's hash."""

    def __init__(self, root: Path, digest: str, touched: set[str]):
        self.root = root
        self.digest = digest[:32]
        self.touched = touched
        self.buffers: dict[tuple[str, str], list[tuple]] = {}
        self.parts = 0
        self.rows = 0
        self._days: dict[int, str] = {}

    def add(self, table: str, ts: float, row: tuple) -> None:
        number = int(ts // 86400)
        day = self._days.get(number)
        if day is None:
            day = self._days[number] = datetime.fromtimestamp(number * 86400, timezone.utc).strftime("%Y-%m-%d")
        rows = self.buffers.setdefault((table, day), [])
        rows.append(row)
        if len(rows) >= ROWS_PER_PART:
            self._flush(table, day)

    def _flush(self, table: str, day: str) -> None:
        rows = self.buffers.pop((table, day), [])
        if not rows:
            return
        schema = SCHEMAS[table]
        columns = list(zip(*rows))
        batch = pa.table([pa.array(col, type=f.type) for col, f in zip(columns, schema)], schema=schema)
        folder = self.root / table / f"day={day}"
        folder.mkdir(parents=True, exist_ok=True)
        self.parts += 1
        pq.write_table(batch, folder / f"{self.digest}-{self.parts}.parquet", compression="zstd")
        self.rows += len(rows)
        self.touched.add(f"{table}/{day}")

    def close(self) -> int:
        for table, day in list(self.buffers):
            self._flush(table, day)
        return self.rows
