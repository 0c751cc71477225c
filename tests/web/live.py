"""The real gateway and console in one event loop on a background thread, as `kakuri serve --web` runs them.

Browser tests drive Chromium from the main thread (Playwright's sync API), so the server side lives in
its own loop: SMTP intake, scan pool, spool, delivery to a real next hop, and uvicorn serving the console.
"""

from __future__ import annotations

import asyncio
import threading

import uvicorn

from kakuri.cli.serve import _console_quarantine
from kakuri.receive.server import Gateway
from kakuri.web.app import create_app
from tests.receive.conftest import free_port


class LiveConsole:
    def __init__(self, settings) -> None:
        self.settings = settings
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.gateway: Gateway | None = None
        self.server: uvicorn.Server | None = None
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def smtp_address(self) -> tuple[str, int]:
        return self.gateway.address

    def start(self) -> LiveConsole:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(timeout=60)
        return self

    async def _start(self) -> None:
        self.gateway = Gateway(self.settings)
        await self.gateway.start()
        app = create_app(self.settings, stores=self.gateway.stores, quarantine=_console_quarantine(self.gateway))
        self.server = uvicorn.Server(
            uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off")
        )
        self._serving = self.loop.create_task(self.server.serve())
        while not self.server.started:
            await asyncio.sleep(0.05)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._stop(), self.loop).result(timeout=30)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)

    async def _stop(self) -> None:
        if self.server is not None:
            self.server.should_exit = True
            await self._serving
        if self.gateway is not None:
            await self.gateway.stop()
