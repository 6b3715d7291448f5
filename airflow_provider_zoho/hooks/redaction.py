"""Hiding a connection's secrets in whatever text an answer brings back.

Zoho, or a proxy or gateway in front of it, can echo the request: a token endpoint that answers an HTML 500
holding the form body, a debug API that returns the request headers. The worker that resumes a deferred
task never read the connection, so Airflow's secrets masker does not know those values there; the hooks
therefore remove them from an answer's text before anything (an exception, an event, XCom) is built from it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

REDACTED = "***"
# Shorter values are not hidden: replacing every "a" of a text would make it unreadable and hide nothing.
MIN_SECRET_LENGTH = 6


def spellings(secret: str) -> set[str]:
    """Return the forms a secret takes in an echoed request: as sent in a header, form-encoded, JSON-escaped.

    :param secret: the value to hide.
    :return: its spellings: as is, ``quote_plus``-encoded (a form body), percent-encoded, JSON-escaped.
    """
    return {secret, quote_plus(secret), quote(secret, safe=""), json.dumps(secret)[1:-1]}


class Redactor:
    """Replaces every spelling of the given secrets in a text; cheap when there is nothing to replace."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        """Prepare the spellings of ``secrets`` to replace.

        :param secrets: the connection's secrets (client secret, refresh token...); None, empty values and
            values shorter than ``MIN_SECRET_LENGTH`` are left out.
        """
        found = {
            form for secret in secrets if secret and len(secret) >= MIN_SECRET_LENGTH for form in spellings(secret)
        }
        # Longest first, so a secret's encoded form is replaced whole, not after a shorter spelling inside it.
        self._spellings = tuple(sorted(found, key=len, reverse=True))

    def with_secret(self, secret: str) -> Redactor:
        """Return this redactor plus one more secret, such as the access token a request carried.

        :param secret: the extra value to hide, whatever its length.
        :return: a new redactor; this one is unchanged.
        """
        extended = Redactor(())
        extended._spellings = tuple(sorted({*self._spellings, *spellings(secret)}, key=len, reverse=True))
        return extended

    def __call__(self, text: str) -> str:
        """Return ``text`` with every spelling of the secrets replaced by ``REDACTED``.

        :param text: an answer's text, or anything built from it.
        :return: the text without the secrets (the same object when none is in it).
        """
        for form in self._spellings:
            if form in text:
                text = text.replace(form, REDACTED)
        return text
