"""Durable accept: a message is on disk, fsynced, before we answer 250; whatever is left is resumed on start.

One file per message, `<queue_id>.msg`: a magic line, one JSON line (envelope, verdict when the
message was scanned before the reply, origin) and the raw bytes. A file appears only by an atomic
rename after fsync of the file and of the directory, so a crash leaves either no entry or a whole one.
Entries written at the same time share one directory fsync (`_GroupDirSync`): each writer returns only
after a directory fsync that started after its rename, so none is answered before its name is durable.
The entry is immutable; delivery progress lives in the database (`store/mailflow.py`), and the entry is
removed only when every recipient has reached a final state there.

Other processes (e.g. `kakuri quarantine release`) hand messages to a running gateway by writing an
entry here; the gateway polls for entries it does not know. The gateway process that owns a folder holds
an exclusive lock on its `.lock` file (`FolderLock`); with `kakuri serve --processes N` acceptor process i
owns `process_folder(root, i)`.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from kakuri.model.envelope import Direction, Envelope
from kakuri.store.blobs import fsync_dir

MAGIC = b"KAKURI-SPOOL 1\n"
SUFFIX = ".msg"


def new_queue_id() -> str:
    """Sortable by arrival (microseconds, hex) and unique across processes (random tail)."""
    return f"{time.time_ns() // 1000:014x}{secrets.token_hex(4)}"


def process_folder(root: Path, index: int) -> Path:
    """The spool folder of acceptor process `index` (`kakuri serve --processes N`): the folder itself for
    the first, where the CLI drops released messages; `p<index>` inside it for the others."""
    return Path(root) if index == 0 else Path(root) / f"p{index}"


def process_folders(root: Path) -> list[Path]:
    """Every acceptor process's spool folder that exists under `root` (`root` itself first)."""
    root = Path(root)
    others = [p for p in root.glob("p[0-9]*") if p.is_dir() and p.name[1:].isdigit()]
    return [root, *sorted(others, key=lambda p: int(p.name[1:]))]


@dataclass(frozen=True)
class SpoolEntry:
    queue_id: str
    envelope: Envelope
    raw: bytes
    received_at: float  # epoch seconds of our 250
    rcpt_directions: dict[str, str] = field(default_factory=dict)
    verdict: dict | None = None  # Verdict.as_dict() + "headers" summary when scanned before the reply
    origin: str = "smtp"  # smtp | dsn | release

    def to_bytes(self) -> bytes:
        env = self.envelope
        meta = {
            "queue_id": self.queue_id,
            "mail_from": env.mail_from,
            "rcpt_tos": list(env.rcpt_tos),
            "client_ip": env.client_ip,
            "helo": env.helo,
            "direction": env.direction.value,
            "auth_user": env.auth_user,
            "rcpt_directions": self.rcpt_directions,
            "received_at": self.received_at,
            "verdict": self.verdict,
            "origin": self.origin,
        }
        return MAGIC + json.dumps(meta, ensure_ascii=True).encode() + b"\n" + self.raw

    @classmethod
    def from_bytes(cls, data: bytes) -> SpoolEntry:
        if not data.startswith(MAGIC):
            raise ValueError("not a spool entry")
        meta_line, _, raw = data[len(MAGIC) :].partition(b"\n")
        meta = json.loads(meta_line)
        envelope = Envelope(
            mail_from=meta["mail_from"],
            rcpt_tos=tuple(meta["rcpt_tos"]),
            client_ip=meta.get("client_ip"),
            helo=meta.get("helo"),
            direction=Direction(meta.get("direction", "inbound")),
            auth_user=meta.get("auth_user"),
        )
        return cls(
            queue_id=meta["queue_id"],
            envelope=envelope,
            raw=raw,
            received_at=meta["received_at"],
            rcpt_directions=meta.get("rcpt_directions") or {},
            verdict=meta.get("verdict"),
            origin=meta.get("origin", "smtp"),
        )


class Spool:
    """The spool folder, plus the size and backlog figures backpressure needs (kept in memory)."""

    def __init__(
        self,
        root: Path,
        *,
        max_bytes: int = 1 << 62,
        max_age_seconds: float = float("inf"),
        owner: bool = False,
        lock_wait_seconds: float = 30.0,
    ) -> None:
        self.root = Path(root)
        self.tmp = self.root / "tmp"
        self.quarantine_dir = self.root / "corrupt"  # unreadable entries are moved aside, never deleted
        self.tmp.mkdir(parents=True, exist_ok=True)
        self.max_bytes = max_bytes
        self.max_age_seconds = max_age_seconds
        self._lock = threading.Lock()  # the SMTP side writes from worker threads, the runner removes
        self._sizes: dict[str, int] = {}
        self._total = 0  # sum of _sizes, kept so that every MAIL command does not add them up
        self._unstarted: dict[str, float] = {}  # queue id -> mtime, until the first scan/delivery step
        self._dir_sync = _GroupDirSync(self.root)
        self._owner_lock: FolderLock | None = None
        if owner:  # the gateway at start: half-written files were never acknowledged, safe to drop
            # ... unless another gateway process still works in this folder: one owner at a time.
            self._owner_lock = FolderLock(self.root / ".lock", wait_seconds=lock_wait_seconds)
            for stale in self.tmp.iterdir():
                stale.unlink(missing_ok=True)
        self.refresh()

    def close(self) -> None:
        """Give up ownership (the gateway stops); an owner's exit or death does the same."""
        if self._owner_lock is not None:
            self._owner_lock.release()
            self._owner_lock = None

    def _path(self, queue_id: str) -> Path:
        if not queue_id or "/" in queue_id or queue_id.startswith("."):
            raise ValueError(f"bad queue id {queue_id!r}")
        return self.root / f"{queue_id}{SUFFIX}"

    def write(self, entry: SpoolEntry) -> bool:
        """Store durably. False (and nothing written) when an entry with this id already exists."""
        path = self._path(entry.queue_id)
        if path.exists():
            return False
        data = entry.to_bytes()
        # Known before its name appears: the runner's poll (refresh) must never pick up an entry whose
        # writer has not returned yet, or the writer's in-memory hand-over would process it twice.
        with self._lock:
            self._sizes[entry.queue_id] = len(data)
            self._total += len(data)
            self._unstarted[entry.queue_id] = time.time()
        try:
            tmp = self.tmp / f"{path.name}.{os.getpid()}.tmp"
            with open(tmp, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, path)
            self._dir_sync.sync()
        except BaseException:
            self._forget(entry.queue_id)  # as before: an entry that did reach the folder is found by refresh
            raise
        return True

    def read(self, queue_id: str) -> SpoolEntry:
        return SpoolEntry.from_bytes(self._path(queue_id).read_bytes())

    def exists(self, queue_id: str) -> bool:
        return self._path(queue_id).exists()

    def remove(self, queue_id: str) -> None:
        # No directory fsync: if a crash undoes the unlink, the entry is processed again, finds every
        # recipient final in the database, and is removed again.
        self._path(queue_id).unlink(missing_ok=True)
        self._forget(queue_id)

    def _forget(self, queue_id: str) -> None:
        with self._lock:
            self._total -= self._sizes.pop(queue_id, 0)
            self._unstarted.pop(queue_id, None)

    def forget(self, queue_id: str) -> None:
        self._forget(queue_id)

    def fence(self, queue_id: str):
        """Async context: True while this process may deliver the entry; one gateway owns a spool folder
        (the shared spool, receive/shared_spool.py, checks ownership here)."""
        return _always_ours()

    def set_aside(self, queue_id: str) -> None:
        """Move an unreadable entry out of the way, keeping it for a human."""
        self.quarantine_dir.mkdir(exist_ok=True)
        os.replace(self._path(queue_id), self.quarantine_dir / f"{queue_id}{SUFFIX}")
        fsync_dir(self.root)
        self._forget(queue_id)

    def mark_started(self, queue_id: str) -> None:
        with self._lock:
            self._unstarted.pop(queue_id, None)

    def refresh(self) -> list[str]:
        """Queue ids on disk that this object did not know yet (written by a previous run or another process)."""
        found = []
        # Names, not Paths: under a backlog of thousands of entries, sorting Path objects every poll cost the
        # event loop ~0.1 s. Queue ids sort by arrival: oldest first.
        with os.scandir(self.root) as entries:
            new = sorted(e.name[: -len(SUFFIX)] for e in entries
                         if e.name.endswith(SUFFIX) and e.name[: -len(SUFFIX)] not in self._sizes)
        for queue_id in new:
            if queue_id not in self._sizes:
                try:
                    stat = os.stat(self.root / f"{queue_id}{SUFFIX}")
                except FileNotFoundError:
                    continue
                with self._lock:
                    self._sizes[queue_id] = stat.st_size
                    self._total += stat.st_size
                    self._unstarted[queue_id] = stat.st_mtime
                found.append(queue_id)
        return found

    def queue_ids(self) -> list[str]:
        with self._lock:
            return sorted(self._sizes)

    @property
    def total_bytes(self) -> int:
        with self._lock:
            return self._total

    def overload(self) -> str | None:
        """Why new mail should wait ("full" or "behind"), or None when we can take it."""
        with self._lock:
            if self._total >= self.max_bytes:
                return "full"
            # Entries are registered in arrival order, so the first one waiting is the oldest.
            oldest = next(iter(self._unstarted.values()), None)
            if oldest is not None and time.time() - oldest > self.max_age_seconds:
                return "behind"
        return None


@contextlib.asynccontextmanager
async def _always_ours():
    yield True


class SpoolBusy(RuntimeError):
    """Another live process owns the spool folder."""


class FolderLock:
    """An exclusive `flock` on a file in the spool folder, held while a gateway process owns the folder.

    The kernel drops it when the holder exits or is killed, so a restarted process gets it at once; a
    second gateway on the same folder (a stray `kakuri serve`, an acceptor process whose supervisor died
    and that is still finishing) waits up to `wait_seconds` and then refuses to start, instead of
    delivering the same entries twice."""

    def __init__(self, path: Path, *, wait_seconds: float) -> None:
        import fcntl

        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    holder = os.pread(self._fd, 32, 0).decode(errors="replace").strip() or "?"
                    os.close(self._fd)
                    raise SpoolBusy(f"spool folder {path.parent} is owned by another gateway process (pid {holder})")
                time.sleep(0.1)
        os.ftruncate(self._fd, 0)
        os.pwrite(self._fd, f"{os.getpid()}\n".encode(), 0)

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor releases the flock
            self._fd = -1


class _GroupDirSync:
    """One directory fsync for every rename made before it started (group commit for the spool folder).

    A writer takes a ticket after its rename; a sync that starts once ticket N exists covers every
    ticket up to N. While one sync runs, the writers that arrive wait and the next sync covers them all.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._cond = threading.Condition()
        self._issued = 0  # tickets handed out (renames done)
        self._synced = 0  # every ticket up to this one is durable
        self._running = False

    def sync(self) -> None:
        with self._cond:
            self._issued += 1
            ticket = self._issued
            while self._synced < ticket:
                if self._running:
                    self._cond.wait()
                    continue
                self._running, covers = True, self._issued
                self._cond.release()
                try:
                    fsync_dir(self.path)
                finally:
                    self._cond.acquire()
                    self._running = False
                    self._cond.notify_all()
                self._synced = max(self._synced, covers)  # not reached when the fsync raised
