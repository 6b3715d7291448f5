"""An answer's body read with a bound on its size, counted after decompression.

A 500 MB answer, an endless chunked stream or a small gzip that inflates to gigabytes would otherwise grow
a triggerer until it dies, and every trigger in it with it. Both hooks feed the bytes they receive to a
``BoundedBody``, which inflates gzip and deflate itself (the HTTP clients' own decompression is turned off)
so that it never produces more than the bound.
"""

from __future__ import annotations

import zlib

# What the hooks ask for: the encodings ``BoundedBody`` can inflate under its bound.
ACCEPT_ENCODING = "gzip, deflate"
READ_CHUNK_BYTES = 64 * 1024


class ResponseTooLarge(Exception):
    """The body passed the bound."""


class UnsupportedEncoding(Exception):
    """The body came in an encoding that was not asked for."""


def _inflater(content_encoding: str | None) -> zlib._Decompress | None:
    encoding = (content_encoding or "identity").strip().lower()
    if encoding in ("identity", ""):
        return None
    if encoding in ("gzip", "x-gzip"):
        return zlib.decompressobj(16 + zlib.MAX_WBITS)
    if encoding == "deflate":
        return zlib.decompressobj()
    raise UnsupportedEncoding(f"content encoding {encoding[:40]!r}, which was not asked for")


class BoundedBody:
    """Collects a body chunk by chunk and refuses to hold more than ``limit`` decoded bytes."""

    def __init__(self, limit: int, content_encoding: str | None) -> None:
        """Start an empty body.

        :param limit: the most decoded bytes the body may hold (the connection's ``max_response_bytes``).
        :param content_encoding: the answer's ``Content-Encoding``; None or ``identity`` for none.
        :raises UnsupportedEncoding: for an encoding other than gzip and deflate.
        """
        self.limit = limit
        self._inflater = _inflater(content_encoding)
        self._chunks: list[bytes] = []
        self._size = 0

    def feed(self, data: bytes) -> None:
        """Add a chunk as received, inflating it when the answer is compressed.

        :param data: the next bytes off the wire.
        :raises ResponseTooLarge: once the decoded body passes the limit.
        :raises UnsupportedEncoding: for compressed data that does not inflate.
        """
        if self._inflater is None:
            self._keep(data)
            return
        try:
            while data:
                # Never inflate more than one byte past the room left: that byte is what proves the excess.
                self._keep(self._inflater.decompress(data, self.limit - self._size + 1))
                data = self._inflater.unconsumed_tail
        except zlib.error as error:
            raise UnsupportedEncoding(f"a body that does not inflate ({error})") from None

    def finish(self) -> bytes:
        """Return the whole decoded body, once the last chunk was fed.

        :return: the body, at most ``limit`` bytes.
        :raises ResponseTooLarge: if what the inflater still held passes the limit.
        :raises UnsupportedEncoding: for a compressed stream that does not end properly.
        """
        if self._inflater is not None:
            try:
                self._keep(self._inflater.flush())
            except zlib.error as error:
                raise UnsupportedEncoding(f"a body that does not inflate ({error})") from None
        return b"".join(self._chunks)

    def _keep(self, data: bytes) -> None:
        self._size += len(data)
        if self._size > self.limit:
            raise ResponseTooLarge(f"an answer larger than {self.limit:,} bytes")
        if data:
            self._chunks.append(data)
