"""The answers of a hostile or broken endpoint (see ``HOSTILE_FAULT_KINDS``), built without aiohttp.

These answers exist to check that a client stays safe when the other end misbehaves: it must not follow
a redirect with secrets, must not hand on what an endpoint echoes, and must bound the memory and time one
answer may cost.  The emulator itself must stay small while serving them, so every big body is a
:class:`Stream`: produced in chunks as it is sent, never built whole.  The gzip bomb's compressed bytes
(a few hundred KB) are computed once per size and cached.

Pure apart from that cache: no I/O, no aiohttp, no airflow.
"""

from __future__ import annotations

import functools
import json
import secrets
import threading
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from airflow_provider_zoho.testing.dialects import Answer, EmulatedProduct
from airflow_provider_zoho.testing.faults import Fault

__all__ = [
    "Stream",
    "bad_token_body",
    "deep_json",
    "drip",
    "echo_page",
    "gzip_bomb",
    "huge",
    "huge_counts",
    "redirect",
    "with_echo",
]

CHUNK_SIZE = 64 * 1024
# The start of every padding body: JSON-like, and never closed, so it never parses.
_PAD_PREFIX = b'{"pad":"'
_HUGE_COUNT_MARK = "__zoho_emulator_huge_count__"


@dataclass(frozen=True, slots=True)
class Stream:
    """An answer whose body is produced chunk by chunk while it is sent (single use)."""

    status: int
    chunks: Iterator[bytes]
    #: ``Content-Length``; None sends the body with chunked transfer encoding.
    length: int | None
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    #: seconds to wait before every chunk but the first (the first goes out with the headers).
    interval: float = 0.0


def redirect(fault: Fault) -> Answer:
    """``status`` (default 307) pointing at ``fault.location``."""
    assert fault.location is not None  # Fault('redirect') requires it
    status = fault.status if fault.status is not None else 307
    return Answer(
        status, f"Moved to {fault.location}\n", content_type="text/plain", headers=(("Location", fault.location),)
    )


def _repeated(byte: bytes, count: int, chunk_size: int = CHUNK_SIZE) -> Iterator[bytes]:
    """``count`` copies of ``byte`` in chunks of at most ``chunk_size``, from one reused block."""
    block = byte * min(count, chunk_size)
    for start in range(0, count, chunk_size):
        yield block[: min(chunk_size, count - start)]


def _padding(size: int, chunk_size: int) -> Iterator[bytes]:
    """``size`` bytes of ``{"pad":"xxx...``, in chunks of at most ``chunk_size`` bytes."""
    head = _PAD_PREFIX[:size]
    for start in range(0, len(head), chunk_size):
        yield head[start : start + chunk_size]
    yield from _repeated(b"x", size - len(head), chunk_size)


def huge(fault: Fault) -> Stream:
    """Stream a 200 of ``size`` bytes of unterminated JSON, with a ``Content-Length`` or chunked.

    :param fault: the ``huge`` fault (``size``, ``chunked``).
    :return: the stream.
    """
    size = fault.effective_size
    return Stream(200, _padding(size, CHUNK_SIZE), None if fault.chunked else size)


def drip(fault: Fault) -> Stream:
    """Stream a 200 whose ``size``-byte body comes one byte every ``delay`` seconds.

    :param fault: the ``drip`` fault (``size``, ``delay``).
    :return: the stream.
    """
    size = fault.effective_size
    return Stream(200, _padding(size, 1), size, interval=fault.effective_delay)


def deep_json(fault: Fault) -> Stream:
    """Stream a 200 whose body is ``[[[...]]]`` nested ``depth`` levels: valid JSON no recursive parser survives.

    :param fault: the ``deep_json`` fault (``depth``).
    :return: the stream.
    """
    depth = fault.effective_depth

    def chunks() -> Iterator[bytes]:
        yield from _repeated(b"[", depth)
        yield from _repeated(b"]", depth)

    return Stream(200, chunks(), 2 * depth)


_bomb_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _compressed_spaces(size: int) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 31)  # wbits 31: a gzip member
    parts = [compressor.compress(block) for block in _repeated(b" ", size)]
    parts.append(compressor.flush())
    return b"".join(parts)


def gzip_bomb_bytes(size: int) -> bytes:
    """``size`` spaces, gzip-compressed (about 1/1000 of ``size``): computed once per size, then cached.

    Blocking (about a second for 500 MB): call it off the event loop.
    """
    with _bomb_lock:  # concurrent first requests compute it once
        return _compressed_spaces(size)


def gzip_bomb(compressed: bytes) -> Stream:
    """Stream a 200 with ``Content-Encoding: gzip`` whose body is ``compressed``.

    :param compressed: the bomb's bytes, from :func:`gzip_bomb_bytes`.
    :return: the stream.
    """
    view = memoryview(compressed)
    chunks = (bytes(view[start : start + CHUNK_SIZE]) for start in range(0, len(view), CHUNK_SIZE))
    return Stream(200, chunks, len(compressed), headers=(("Content-Encoding", "gzip"),))


def _header_lines(headers: Mapping[str, str]) -> str:
    return "\n".join(f"{name}: {value}" for name, value in headers.items())


def echo_page(status: int, request_line: str, headers: Mapping[str, str], body: bytes) -> Answer:
    """Build the HTML a debug endpoint serves: the request line, headers and raw body, not even escaped.

    :param status: the HTTP status to answer with.
    :param request_line: ``METHOD /path?query``.
    :param headers: the request's headers, tokens included: that is the point.
    :param body: the request's body.
    :return: the answer.
    """
    text = (
        f"<!DOCTYPE html><html><head><title>{status} Error</title></head><body><h1>{status} Error</h1>"
        f"<p>Your request:</p><pre>{request_line}\n{_header_lines(headers)}\n\n"
        f"{body.decode(errors='replace')}</pre></body></html>"
    )
    return Answer(status, text, content_type="text/html")


def with_echo(product: EmulatedProduct, answer: Answer, headers: Mapping[str, str], body: bytes) -> Answer:
    """Add ``"echo": {"headers": ..., "body": ...}`` to a status answer's payload.

    :param product: the product, which says where the payload is.
    :param answer: the status answer, with a JSON object body.
    :param headers: the request's headers.
    :param body: the request's body.
    :return: the answer with the echo.
    """
    assert isinstance(answer.body, dict)
    echo = {"headers": dict(headers), "body": body.decode(errors="replace")}
    document = dict(answer.body)
    if product.payload_key is None:
        document["echo"] = echo
    else:
        document[product.payload_key] = {**document.get(product.payload_key, {}), "echo": echo}
    return Answer(answer.status, document, answer.content_type, answer.headers)


def echo_error(product: EmulatedProduct, fault: Fault, headers: Mapping[str, str]) -> Answer:
    """Build the product's error answer for a 4xx/5xx echo, its message holding the request headers.

    :param product: the product.
    :param fault: the ``echo`` fault (``status``, optional ``code``).
    :param headers: the request's headers.
    :return: the answer.
    """
    assert fault.status is not None
    code = fault.code if fault.code is not None else product.server_error_code
    message = f"Error processing request with headers {json.dumps(dict(headers))}"
    return product.error(code, fault.status, message=message)


def _mark_counts(node: Any, count_keys: frozenset[str]) -> tuple[Any, int]:
    """``node`` with every int under a count key replaced by the mark; also how many were replaced."""
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        marked = 0
        for key, value in node.items():
            if key in count_keys and isinstance(value, int) and not isinstance(value, bool):
                out[key] = _HUGE_COUNT_MARK
                marked += 1
            else:
                out[key], inner = _mark_counts(value, count_keys)
                marked += inner
        return out, marked
    if isinstance(node, list):
        items = [_mark_counts(item, count_keys) for item in node]
        return [item for item, _ in items], sum(n for _, n in items)
    return node, 0


def huge_counts(product: EmulatedProduct, answer: Answer, digits: int) -> Stream:
    """``answer`` with every count field a JSON number of ``digits`` digits, streamed.

    Python refuses to print an int of more than 4300 digits, and the point is not to build it anyway: the
    body is the rendered JSON cut at each count, with the digits streamed in between.
    """
    marked, count = _mark_counts(answer.body, product.count_keys)
    pieces = [piece.encode() for piece in json.dumps(marked).split(f'"{_HUGE_COUNT_MARK}"')]

    def chunks() -> Iterator[bytes]:
        yield pieces[0]
        for piece in pieces[1:]:
            yield from _repeated(b"9", digits)
            yield piece

    length = sum(len(piece) for piece in pieces) + count * digits
    return Stream(answer.status, chunks(), length, headers=answer.headers)


def bad_token_body(fault: Fault, api_domain: str) -> dict[str, Any]:
    """Build a token answer whose access token would inject a header if a client sent it as is.

    :param fault: the ``bad_token`` fault; a string ``value`` is the token to hand out.
    :param api_domain: the ``api_domain`` to answer.
    :return: the token endpoint's JSON body.
    """
    token = fault.value if isinstance(fault.value, str) else f"1000.{secrets.token_hex(16)}\r\nX-Injected: 1"
    return {"access_token": token, "api_domain": api_domain, "token_type": "Bearer", "expires_in": 3600}
