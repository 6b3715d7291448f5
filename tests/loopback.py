"""A small aiohttp server on 127.0.0.1, run in a thread of its own, for tests that need a second party on the
wire (a proxy that records, one that forges answers): every request goes to the subclass's ``handle``."""

from __future__ import annotations

import asyncio
import threading
from typing import Self

from aiohttp import web


class LoopbackServer:
    """``with Server() as server:`` serves ``handle`` at ``server.url`` (``http://127.0.0.1:PORT``)."""

    def __init__(self) -> None:
        self.url = ""
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._thread.start()

        async def start() -> str:
            app = web.Application(client_max_size=64 * 1024 * 1024)
            app.router.add_route("*", "/{tail:.*}", self.handle)
            self._runner = web.AppRunner(app, access_log=None)
            await self._runner.setup()
            await web.TCPSite(self._runner, "127.0.0.1", 0).start()
            return f"http://127.0.0.1:{self._runner.addresses[0][1]}"

        self.url = asyncio.run_coroutine_threadsafe(start(), self._loop).result(10)
        return self

    def __exit__(self, *_: object) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
