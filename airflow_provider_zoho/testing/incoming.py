"""What the emulator's endpoint modules read from an incoming request, written once for all of them."""

from __future__ import annotations

import email.parser
import email.policy

from aiohttp import web


def access_token(request: web.Request) -> str | None:
    """Return the token of the request's ``Authorization: Zoho-oauthtoken <token>`` header.

    :param request: the request.
    :return: the token, or None without such a header.
    """
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() or None if scheme == "Zoho-oauthtoken" else None


def multipart_parts(content_type: str, body: bytes) -> dict[str, bytes]:
    """Split a multipart body into its parts by field name.

    :param content_type: the request's ``Content-Type``, which holds the boundary.
    :param body: the request's body.
    :return: each part's decoded bytes by name; empty for a body that is not multipart.
    """
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    if not message.is_multipart():
        return {}
    parts: dict[str, bytes] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = payload
    return parts
