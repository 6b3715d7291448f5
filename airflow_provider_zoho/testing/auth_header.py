"""Reading the access token a request to the emulator carries, for every endpoint module alike."""

from __future__ import annotations

from aiohttp import web


def access_token(request: web.Request) -> str | None:
    """The token of an ``Authorization: Zoho-oauthtoken <token>`` header, or ``None``."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme == "Zoho-oauthtoken" else None
