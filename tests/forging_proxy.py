"""A reverse proxy in front of the emulator that forges chosen answers, as a tampered or hostile Zoho would.

The emulator answers as Zoho does; a test that needs one answer to lie (a job id that is a path, a result
that echoes the request) puts this proxy between the client and the emulator and rewrites that answer,
over real HTTP. Every other request passes through unchanged.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from tests.loopback import LoopbackServer

__all__ = ["Forged", "ForgingProxy"]


@dataclass(frozen=True)
class Forged:
    """The answer a rule sends instead of (or built from) the emulator's."""

    status: int
    body: bytes
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()


# A rule sees the request's headers and the emulator's answer (status, body) and returns what to send.
Rewrite = Callable[[dict[str, str], int, bytes], Forged]


def json_rewrite(change: Callable[[Any], Any]) -> Rewrite:
    """A rule that decodes the emulator's JSON answer, lets ``change`` edit it, and sends it on as JSON."""

    def rewrite(_headers: dict[str, str], status: int, body: bytes) -> Forged:
        return Forged(status, json.dumps(change(json.loads(body))).encode())

    return rewrite


class ForgingProxy(LoopbackServer):
    """``http://127.0.0.1:PORT`` forwarding to ``upstream``; ``forge(method, path_part, rule)`` rewrites answers.

    ``seen_tokens`` collects every access token that passed through, so a test can look for it where it
    must not be.
    """

    def __init__(self, upstream: str) -> None:
        super().__init__()
        self.upstream = upstream.rstrip("/")
        self.seen_tokens: set[str] = set()
        # [method, path part, rewrite, answers left (None: every one), forward the request first]
        self._rules: list[list[Any]] = []

    def forge(
        self, method: str, path_part: str, rule: Rewrite, times: int | None = None, *, forward: bool = True
    ) -> None:
        """Rewrite the answers to ``method`` requests whose path contains ``path_part`` (the next ``times``).

        ``forward=False`` answers without passing the request on, as a gateway refusing it would: the emulator
        never sees it (a throttled create creates nothing).
        """
        self._rules.append([method.upper(), path_part, rule, times, forward])

    async def handle(self, request: web.Request) -> web.StreamResponse:
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host", "content-length")}
        if (auth := headers.get("Authorization", "")).startswith("Zoho-oauthtoken "):
            self.seen_tokens.add(auth.removeprefix("Zoho-oauthtoken "))
        rule = self._matching_rule(request)
        if rule is not None and not rule[4]:
            return self._forged(rule, headers, 0, b"")
        async with (
            aiohttp.ClientSession(auto_decompress=False) as session,
            session.request(
                request.method,
                self.upstream + request.raw_path,
                headers=headers,
                data=await request.read(),
                allow_redirects=False,
            ) as answer,
        ):
            body = await answer.read()
            status, content_type = answer.status, answer.content_type
            extra = {k: v for k, v in answer.headers.items() if k.lower() in ("content-disposition", "retry-after")}
        if rule is not None:
            return self._forged(rule, headers, status, body)
        return web.Response(status=status, body=body, headers={"Content-Type": content_type, **extra})

    def _matching_rule(self, request: web.Request) -> list[Any] | None:
        for entry in self._rules:
            method, path_part, _rule, left, _forward = entry
            if request.method == method and path_part in request.path and left != 0:
                if left is not None:
                    entry[3] = left - 1
                return entry
        return None

    @staticmethod
    def _forged(entry: list[Any], headers: dict[str, str], status: int, body: bytes) -> web.Response:
        forged: Forged = entry[2](headers, status, body)
        return web.Response(
            status=forged.status, body=forged.body, content_type=forged.content_type, headers=dict(forged.headers)
        )
