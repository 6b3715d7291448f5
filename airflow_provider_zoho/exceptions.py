"""Typed exceptions for every way a Zoho call can end badly.

Callers branch on the class, never on message text: the poll loops in the sensor and the trigger use the
class to decide between polling again, refreshing the token, and failing the task.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_zoho.compat import AirflowException

# Zoho's free text (and a gateway's page) can be any length: a message keeps this much of it.
MAX_MESSAGE_CHARS = 2000


def bounded(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """Cut ``text`` to ``limit`` characters, saying how much was left out.

    :param text: Zoho's free text, or anything else that can be any length.
    :param limit: the most characters kept.
    :return: ``text`` itself when it fits, else its start followed by how many characters were cut.
    """
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text) - limit:,} more characters cut)"


class ZohoError(AirflowException):
    """A Zoho answer (or the lack of one) that is not the job status we asked for.

    ``code`` is Zoho's own error code (``INVALID_TOKEN``, ``8535``, ``1030``, ``invalid_client``...) or, when
    Zoho sent no code, ``HTTP_<status>`` or the network failure's name. The message never holds a token,
    secret or header value: it is built from Zoho's response body and the request's path only.
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        service: str,
        http_status: int | None = None,
        retry_after: float | None = None,
        meaning: str | None = None,
        where: str | None = None,
    ) -> None:
        """Build the error and its one-line message; every free-text field is bounded.

        :param code: Zoho's error code, ``HTTP_<status>`` or the network failure's name (cut to 100 characters).
        :param message: Zoho's own words (cut to ``MAX_MESSAGE_CHARS``).
        :param service: the host family that answered (a ``Service`` value: ``accounts``, ``api``, ``analytics``).
        :param http_status: the answer's HTTP status, or None when there was no answer.
        :param retry_after: Zoho's Retry-After in seconds, or None; the poll loops pause the connection for it.
        :param meaning: what the code means for the user, from the error table; left out of the message
            when Zoho's text already says it.
        :param where: which job or token request, and which connection, the error is about (see ``located``).
        """
        self.code = bounded(code, 100)
        self.message = bounded(message)
        self.service = service
        self.http_status = http_status
        self.retry_after = retry_after
        self.meaning = meaning
        self.where = where
        super().__init__(self._sentence())

    def _sentence(self) -> str:
        """One line that says what was asked, what Zoho answered in its own words, and what that means."""
        status = f" (HTTP {self.http_status})" if self.http_status is not None else ""
        said = f"Zoho {self.service} answered {self.code}{status}: {self.message}"
        # Parentheses, not brackets: ``airflow connections test`` prints with rich, which reads [...] as markup.
        if self.meaning and self.meaning.casefold() not in self.message.casefold():
            said += f" ({self.meaning})"
        return f"{self.where}: {said}" if self.where else said

    def located(self, where: str) -> ZohoError:
        """Return the same error, saying which job or token request, and which connection, it is about.

        Set once, by the innermost caller that knows: a token refused while polling a job names the token
        request, not the job.

        :param where: for example ``ZohoBaseHook.about_job``'s sentence.
        :return: a new error of the same class, or this one if it already says where.
        """
        if self.where:
            return self
        return _rebuild(
            type(self), self.code, self.message, self.service, self.http_status, self.retry_after, self.meaning, where
        )

    def _fields(self) -> tuple[Any, ...]:
        return (
            type(self),
            self.code,
            self.message,
            self.service,
            self.http_status,
            self.retry_after,
            self.meaning,
            self.where,
        )

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle as a call that rebuilds the error from its fields."""
        # The keyword-only arguments are not in ``args``: rebuild from the fields, so the error pickles
        # (multiprocessing, executors' result backends).
        return (_rebuild, self._fields())

    def to_dict(self) -> dict[str, Any]:
        """Return the error's JSON-safe form, for trigger events and task logs.

        :return: the code, message, service, HTTP status and meaning.
        """
        return {
            "code": self.code,
            "message": self.message,
            "service": self.service,
            "http_status": self.http_status,
            "meaning": self.meaning,
        }


def _rebuild(
    cls: type[ZohoError],
    code: str,
    message: str,
    service: str,
    http_status: int | None,
    retry_after: float | None,
    meaning: str | None = None,
    where: str | None = None,
) -> ZohoError:
    return cls(
        code, message, service=service, http_status=http_status, retry_after=retry_after, meaning=meaning, where=where
    )


class ZohoTransientError(ZohoError):
    """Throttling, server trouble or a network failure: polling again later can succeed."""


class ZohoTokenInvalidError(ZohoError):
    """Zoho rejected the access token: drop it, get a fresh one and retry once."""


class ZohoFatalError(ZohoError):
    """No retry can change the outcome (bad credentials, scope, permission, unknown job...)."""
