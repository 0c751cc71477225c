"""Real Postfix + real kakuri processes on loopback: one Postfix per mode (module-scoped), configured with
what `kakuri postfix-config` prints, and kakuri as a child process that tests stop, kill and restart."""

from __future__ import annotations

import os
import signal
import smtplib
import socket
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.postfix.instance import ROOT, PostfixInstance, ensure_postfix
from tests.receive.conftest import free_port
from tests.waiting import wait_for

SENDER = "taro@partner.example"
RCPT = "bob@example.org"


class KakuriProcess:
    """`kakuri serve` (content filter) or `kakuri milter` in a child process, on the ports in its kakuri.toml."""

    def __init__(
        self, home: Path, *, mode: str, smtp_port: int, reinject_port: int, milter_port: int, scan_pool: str = "thread"
    ) -> None:
        self.home, self.mode = home, mode
        self.smtp_port, self.milter_port = smtp_port, milter_port
        home.mkdir(parents=True, exist_ok=True)
        (home / "kakuri.toml").write_text(
            f'[smtp]\nlisten = "127.0.0.1:{smtp_port}"\nscan_pool = "{scan_pool}"\n'
            f'[delivery]\nnext_hop = "127.0.0.1:{reinject_port}"\nretry_schedule_seconds = [0.5]\n'
            'next_hop_commits_on_dot = true\n'  # what `kakuri postfix-config` advises: Postfix queues on the dot
            '[spool]\npoll_seconds = 0.3\n'
            f'[milter]\nlisten = "127.0.0.1:{milter_port}"\n'
        )
        self.proc: subprocess.Popen | None = None

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "-m", "kakuri", "--home", str(self.home), *args],
            capture_output=True, text=True, check=check, timeout=60,
        )

    def start(self) -> None:
        log = open(self.home / "kakuri.log", "ab")
        command = "serve" if self.mode == "content-filter" else "milter"
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "kakuri", "--home", str(self.home), command], stdout=log, stderr=log
        )
        port = self.smtp_port if self.mode == "content-filter" else self.milter_port
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, self.log_tail()
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise AssertionError(f"kakuri {command} did not start:\n{self.log_tail()}")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, sig)
            self.proc.wait(timeout=30)
        self.proc = None

    def log_tail(self) -> str:
        path = self.home / "kakuri.log"
        return path.read_text(errors="replace")[-3000:] if path.exists() else ""

    def messages(self, *states: str) -> list[dict]:
        """Records in kakuri's store (queue id, Message-ID, state), optionally only in these states."""
        db = self.home / "kakuri.db"
        if not db.exists():
            return []
        with sqlite3.connect(db, timeout=30) as conn:
            rows = conn.execute("SELECT queue_id, message_id, state, action, blob_sha256 FROM gw_messages").fetchall()
        found = [{"queue_id": q, "message_id": m, "state": s, "action": a, "blob": b} for q, m, s, a, b in rows]
        return [r for r in found if not states or r["state"] in states]

    def kept_copy(self, record: dict) -> bytes:
        return (self.home / "blobs" / record["blob"][:2] / record["blob"]).read_bytes()

    def kept_ids(self) -> set[str]:
        return {f"<{r['message_id']}>" for r in self.messages("quarantined", "held")}


def postfix_snippets(kakuri: KakuriProcess) -> tuple[str, str]:
    """(main.cf, master.cf) parts of `kakuri postfix-config` for this mode: the tests run what users paste."""
    out = kakuri.cli("postfix-config", "--mode", kakuri.mode).stdout
    main = out.split("## main.cf", 1)[1].split("\n", 1)[1].split("## master.cf", 1)[0]
    master = out.split("## master.cf", 1)[1].split("\n", 1)[1].split("\n## ", 1)[0]
    return main, master


@dataclass
class Stack:
    postfix: PostfixInstance
    kakuri: KakuriProcess

    def send(self, raw: bytes, *, rcpts=(RCPT,), mail_from=SENDER) -> dict:
        with smtplib.SMTP("127.0.0.1", self.postfix.smtp_port, timeout=60) as client:
            return client.sendmail(mail_from, list(rcpts), raw)


def start_stack(mode: str, *, policy: str = "", scan_pool: str = "thread") -> Stack:
    reason = ensure_postfix()
    if reason:
        pytest.skip(reason)
    name = mode.replace("-", "_")
    home = ROOT / f"{name}-kakuri"
    if home.exists():
        import shutil

        shutil.rmtree(home)
    kakuri = KakuriProcess(
        home, mode=mode, smtp_port=free_port(), reinject_port=free_port(), milter_port=free_port(), scan_pool=scan_pool
    )
    if policy:
        (home / "policy.toml").write_text(policy)
    main, master = postfix_snippets(kakuri)
    postfix = PostfixInstance(name, smtp_port=free_port(), main_extra=main, master_extra=master)
    postfix.start()
    kakuri.start()
    return Stack(postfix=postfix, kakuri=kakuri)


def stop_stack(stack: Stack) -> None:
    stack.kakuri.stop()
    stack.postfix.stop()


__all__ = ["Stack", "start_stack", "stop_stack", "wait_for", "SENDER", "RCPT"]
