"""What the emulator tests share: HTTP helpers and per-kind knowledge (the tests' own model of Zoho).

Over real HTTP (urllib for sync tests, aiohttp for concurrency and streams, requests where redirects and raw
bodies matter). The expectations are written from Zoho's docs (``docs/zoho-api.md``) and the doc samples,
independently of the emulator's dialect table, so a slip in that table shows up here.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from pathlib import Path
from typing import Any

import pytest

from airflow_provider_zoho.testing import ZohoEmulator
from airflow_provider_zoho.testing.kinds import KIND_FACTS

REPO_ROOT = Path(__file__).resolve().parents[2]
CLIENT = ZohoEmulator.DEFAULT_CLIENT
_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never route 127.0.0.1 via a proxy


# ---------------------------------------------------------------------------------------------------------
# HTTP helpers and per-kind knowledge (the test's own model of Zoho)
# ---------------------------------------------------------------------------------------------------------
@dataclass
class Reply:
    status: int
    headers: Message
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


def http(method: str, url: str, *, headers: dict[str, str] | None = None, data: bytes | None = None) -> Reply:
    request = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        with _OPENER.open(request, timeout=10) as response:
            return Reply(response.status, response.headers, response.read().decode())
    except urllib.error.HTTPError as exc:
        return Reply(exc.code, exc.headers, exc.read().decode())


def token_call(emu: ZohoEmulator, client: tuple[str, str, str] = CLIENT, *, form: bool = False) -> dict[str, Any]:
    params = urllib.parse.urlencode(
        {"grant_type": "refresh_token", "client_id": client[0], "client_secret": client[1], "refresh_token": client[2]}
    )
    if form:
        reply = http(
            "POST",
            f"{emu.base_url}/oauth/v2/token",
            data=params.encode(),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
    else:
        reply = http("POST", f"{emu.base_url}/oauth/v2/token?{params}")
    assert reply.status == 200, "Zoho's accounts server answers token requests with HTTP 200, errors included"
    body: dict[str, Any] = reply.json()
    return body


def new_token(emu: ZohoEmulator) -> str:
    token: str = token_call(emu)["access_token"]
    return token


# Per-kind facts (coordinates, states, paths, codes) are written from Zoho's docs (docs/zoho-api.md) in testing/kinds.py,
# independently of the emulator's product table.
FACTS = KIND_FACTS


def status_url(emu: ZohoEmulator, kind: str, job_id: str, coords: dict[str, str] | None = None) -> str:
    return emu.base_url + FACTS[kind].status_path(job_id, coords)


def poll(
    emu: ZohoEmulator,
    kind: str,
    job_id: str,
    token: str | None,
    *,
    coords: dict[str, str] | None = None,
    extra_headers: dict[str, str] | None = None,
) -> Reply:
    headers = {} if token is None else {"Authorization": f"Zoho-oauthtoken {token}"}
    headers.update(FACTS[kind].request_headers(coords))
    headers.update(extra_headers or {})
    return http("GET", status_url(emu, kind, job_id, coords), headers=headers)


def state_of(kind: str, body: dict[str, Any]) -> str:
    state: str = FACTS[kind].state_of(body)
    return state


def add(emu: ZohoEmulator, kind: str, job_id: str, script: list[Any], **kwargs: Any) -> None:
    emu.add_job(kind, job_id, script, **FACTS[kind].coordinates, **kwargs)


def error_code_of(kind: str, body: dict[str, Any]) -> Any:
    return FACTS[kind].error_code_of(body)


all_kinds = pytest.mark.parametrize("kind", list(KIND_FACTS))
