"""Fixtures for the SMTP edge: a recording next hop (real aiosmtpd on loopback) and gateway factories."""

from __future__ import annotations

import asyncio
import email
import socket
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from kakuri.settings import load_settings


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Delivered:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self):
        return email.message_from_bytes(self.data)


@dataclass
class RecordingSink:
    """A real SMTP next hop. Recipients whose local part starts with `perm` get 550, `temp` get 451
    (for the first `temp_failures` attempts of each message). With `hold` set, DATA replies wait for
    `release()`; a transaction whose client is gone by then is not counted, because its 250 was never
    read (that is what makes 'exactly once' observable)."""

    temp_failures: int = 10**9
    received: list[Delivered] = field(default_factory=list)
    attempts: dict[str, int] = field(default_factory=dict)
    hold: bool = False
    _gate: threading.Event = field(default_factory=threading.Event)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@")[0]
        if local.startswith("perm"):
            return "550 5.1.1 No such user"
        if local.startswith("temp"):
            self.attempts[address] = self.attempts.get(address, 0) + 1
            if self.attempts[address] <= self.temp_failures:
                return "451 4.3.0 Try later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 Ok"

    async def handle_DATA(self, server, session, envelope):
        while self.hold and not self._gate.is_set():
            await asyncio.sleep(0.02)
        if server.transport is None or server.transport.is_closing():
            return "421 4.3.0 Client gone"
        self.received.append(Delivered(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 2.0.0 Ok"

    def release(self) -> None:
        self._gate.set()

    def message_ids(self) -> list[str]:
        return [d.message.get("Message-ID", "").strip() for d in self.received]


@pytest.fixture
def sink():
    handler = RecordingSink()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    handler.port = controller.port
    yield handler
    handler.release()
    controller.stop()


def gateway_settings(home: Path, *, next_hop: str, **sections) -> object:
    """Settings for an in-process gateway: thread scan pool, fast retries, loopback port chosen by the OS."""
    settings = load_settings(home)
    extra = settings.__pydantic_extra__
    extra["smtp"] = {"listen": "127.0.0.1:0", "scan_pool": "thread", "scan_workers": 2, **sections.get("smtp", {})}
    extra["delivery"] = {"next_hop": next_hop, "retry_schedule_seconds": [0.2], **sections.get("delivery", {})}
    extra["spool"] = {"poll_seconds": 0.2, **sections.get("spool", {})}
    if "store" in sections:
        extra["store"] = sections["store"]
    if "org" in sections:
        settings.org = settings.org.model_copy(update=sections["org"])
    return settings


@pytest.fixture
async def start_gateway(tmp_path):
    """Factory: `gw = await start_gateway(next_hop=..., smtp={...}, ...)`; every gateway is stopped afterwards."""
    from kakuri.receive.server import Gateway

    started = []

    async def start(*, next_hop: str = "maildir", home: Path | None = None, **sections):
        settings = gateway_settings(home or tmp_path / "kakuri-data", next_hop=next_hop, **sections)
        gateway = Gateway(settings)
        await gateway.start()
        started.append(gateway)
        return gateway

    yield start
    for gateway in started:
        await gateway.stop()


async def wait_until(predicate, timeout: float = 10.0, interval: float = 0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        await asyncio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


def message_state(gateway, queue_id: str):
    from kakuri.store.messages import Message

    with gateway.stores.sessions() as session:
        return session.get(Message, queue_id)
