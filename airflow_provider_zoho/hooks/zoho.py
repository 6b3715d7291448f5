"""The synchronous Zoho hook: poke and reschedule mode, the connection form and its Test button."""

from __future__ import annotations

import json
import math
import random
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import cached_property
from pathlib import Path
from typing import Any, BinaryIO, TypeVar
from urllib.parse import urljoin

import requests
import urllib3
from requests_toolbelt import MultipartEncoder

from airflow_provider_zoho.compat import mask_secret
from airflow_provider_zoho.connection_config import ZohoConnectionConfig, ZohoConnectionError
from airflow_provider_zoho.connection_form import (
    hook_field_behaviour,
    wtforms_widgets,
)
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.exceptions import ZohoError, ZohoFatalError, ZohoTokenInvalidError, ZohoTransientError
from airflow_provider_zoho.hooks.base import ZohoBaseHook
from airflow_provider_zoho.hooks.body import (
    ACCEPT_ENCODING,
    READ_CHUNK_BYTES,
    BoundedBody,
    ResponseTooLarge,
    UnsupportedEncoding,
)
from airflow_provider_zoho.hooks.exchange import (
    Answer,
    ApiRequest,
    analytics_orgs_request,
    answer_text,
    api_request,
    authorization,
    invalid_answer,
    job_status_request,
    read_analytics_orgs,
    read_api_response,
    read_org_id,
    read_token_response,
    token_request,
)
from airflow_provider_zoho.hooks.redaction import Redactor
from airflow_provider_zoho.hooks.throttle import THROTTLE
from airflow_provider_zoho.hooks.token_cache import AccessToken
from airflow_provider_zoho.hooks.transport import (
    MAX_REDIRECTS,
    REDIRECT_STATUSES,
    network_error,
    token_destination,
    token_may_go_to,
)
from airflow_provider_zoho.jobs import JobKind, JobStatus, read_job_status
from airflow_provider_zoho.products import Dialect

# An upload or download is given the request timeout plus the time its bytes take at this rate: a 25 MB
# part may take minutes on a slow link, while a stalled transfer is still cut off.
MIN_TRANSFER_BYTES_PER_SECOND = 100_000
# The org's zgid per connection (token cache key) and org API URL: it never changes, so it is asked once.
_ORG_IDS: dict[tuple[str, str], str] = {}
_T = TypeVar("_T")


# Waiting out transient trouble in an operator's calls (``with_token``): the first wait, doubled each time up to
# the cap, with jitter so that the tasks of a mapped operator do not come back together.
FIRST_WAIT_SECONDS = 2.0
MAX_WAIT_SECONDS = 300.0
WAIT_JITTER = 0.25
# Failures below HTTP (``transport.network_error``), waited out as a 429 or a 5xx is.
NETWORK_FAILURE_CODES = frozenset({"CONNECTION_ERROR", "TIMEOUT"})
# Answers after which a creating call is known to have created nothing: throttled, or refused by Zoho itself.
NOTHING_DONE_STATUSES = frozenset({429, 500, 503})


class ZohoHook(ZohoBaseHook):
    """Talks to Zoho with ``requests``, sharing one access token per client and refresh token.

    :param zoho_conn_id: the ``zoho`` connection: login = client id, password = client secret, extra
        ``refresh_token`` (required), ``data_center`` (default ``us``), ``analytics_org_id``,
        ``creator_environment``, ``timeout``; ``host`` replaces every Zoho host (proxies, the emulator).
    """

    @classmethod
    def get_connection_form_widgets(cls) -> dict[str, Any]:
        """Return the extra fields of the ``zoho`` connection form, for Airflow 2.11's UI.

        Airflow 3.2+ builds the form from the provider info without asking the hook; both read the fields
        declared once in ``connection_form``.

        :return: one wtforms field per extra (refresh token, data center, org ids...), by name.
        """
        return wtforms_widgets()

    @classmethod
    def get_ui_field_behaviour(cls) -> dict[str, Any]:
        """Return how the connection form shows Airflow's standard fields: hidden, relabelled, with placeholders.

        :return: ``hidden_fields``, ``relabeling`` and ``placeholders``, as ``BaseHook`` defines them.
        """
        return hook_field_behaviour()

    #: The epoch time until which an operator's calls wait out transient trouble; None raises it at once.
    wait_out_until: float | None = None

    @cached_property
    def _tokens_used(self) -> set[str]:
        return set()

    @cached_property
    def config(self) -> ZohoConnectionConfig:
        """Return the connection's checked settings, read once; its secrets are registered with the masker.

        :raises ZohoConnectionError: the connection lacks a field or has one Zoho cannot accept.
        """
        conn = self.get_connection(self.zoho_conn_id)
        config = self._config_from(conn, conn.extra_dejson)
        mask_secret(config.client_secret)
        mask_secret(config.refresh_token)
        return config

    @cached_property
    def session(self) -> requests.Session:
        """Return this hook's ``requests`` session, kept so that its calls reuse pooled connections."""
        session = requests.Session()
        # Only what ``BoundedBody`` can inflate under its bound (requests would also offer br and zstd).
        session.headers["Accept-Encoding"] = ACCEPT_ENCODING
        return session

    def get_access_token(self) -> AccessToken:
        """Return the shared access token, requesting one only when none is fresh.

        A token this process did not request itself (another process's, from the store) is registered with
        Airflow's secrets masker here, as a requested one is when it arrives.

        :return: the token.
        """
        token = self._token_cache.get(self.config.token_cache_key, self._request_token, store=self.token_store)
        if token.value not in self._tokens_used:
            mask_secret(token.value)
            self._tokens_used.add(token.value)
        return token

    def redact(self, text: str) -> str:
        """Return ``text`` without the connection's secrets or any access token this hook has carried.

        Used on what an operator builds from downloaded bytes (a result file's rows) before they reach a log
        or XCom.

        :param text: the text to clean.
        :return: the text, each secret replaced with ``***``.
        """
        redactor = self.redactor
        for value in self._tokens_used:
            redactor = redactor.with_secret(value)
        return redactor(text)

    @cached_property
    def redactor(self) -> Redactor:
        """Return the redactor of the connection's client secret and refresh token (no access token)."""
        return Redactor((self.config.client_secret, self.config.refresh_token))

    def _request_token(self) -> AccessToken:
        request = token_request(self.config)
        try:
            token = read_token_response(
                self._send("POST", request.url, Service.ACCOUNTS, self.redactor, data=request.form)
            )
        except ZohoError as error:
            raise error.located(self.about_token_request(self.config)) from None
        mask_secret(token.value)
        THROTTLE.token_granted(self.config.token_cache_key)
        self.log.info("Got a Zoho access token for connection %s from %s", self.zoho_conn_id, request.url)
        return token

    def _send(
        self,
        method: str,
        url: str,
        service: Service,
        redactor: Redactor,
        *,
        time_allowed: float | None = None,
        **kwargs: Any,
    ) -> Answer:
        """Send one request, never redirected; its answer bounded in bytes and by one deadline, its text redacted.

        ``requests`` bounds each socket operation only, so a server sending a byte a second would hold a
        worker forever; the body is read here, chunk by chunk, each read given what is left of the deadline.
        ``time_allowed`` replaces the request timeout as that deadline, for a request with a large body.
        """
        config = self.config
        deadline = time.monotonic() + (time_allowed or config.request_timeout)
        with (
            _as_zoho_errors(service, url),
            self.session.request(
                method, url, timeout=config.request_timeout, stream=True, allow_redirects=False, **kwargs
            ) as response,
        ):
            return self._bounded_answer(response, redactor, deadline)

    def _bounded_answer(self, response: requests.Response, redactor: Redactor, deadline: float) -> Answer:
        body = BoundedBody(self.config.max_response_bytes, response.headers.get("Content-Encoding"))
        while chunk := _read_some(response.raw, deadline):
            body.feed(chunk)
        return Answer(
            response.status_code,
            answer_text(body.finish(), redactor),
            retry_after=response.headers.get("Retry-After"),
            location=response.headers.get("Location"),
        )

    def _get(self, url: str, service: Service, redactor: Redactor, headers: dict[str, str]) -> Answer:
        """GET, following a few redirects itself and keeping Authorization only where the token may go.

        Followed here rather than by ``requests``, which reads each redirect's body whole and unbounded, and
        decides where the token goes by its own rule (``should_strip_auth``), which reads a URL differently
        from the library that connects: ``token_may_go_to`` decides, as for a download. A target whose
        readings differ is not followed at all.
        """
        for _ in range(MAX_REDIRECTS):
            answer = self._send("GET", url, service, redactor, headers=headers)
            if answer.status not in REDIRECT_STATUSES or not answer.location:
                return answer
            target = urljoin(url, answer.location)
            if token_destination(target) is None:
                raise invalid_answer(service, f"a redirect to {target[:200]!r}, a URL parsers read differently")
            if not self.may_send_token_to(target):
                headers = {name: value for name, value in headers.items() if name != "Authorization"}
            url = target
        return self._send("GET", url, service, redactor, headers=headers)

    def get_json(self, request: ApiRequest, *, patient: bool = True, creates: bool = False) -> Any:
        """GET with the shared token; a rejected token is dropped and the call retried once with a new one.

        :param request: what to GET.
        :param patient: wait out transient trouble until ``wait_out_until`` (a status poll is not: its
            caller polls again anyway).
        :param creates: the GET creates a job (an Analytics export; see ``with_token``).
        :return: Zoho's decoded answer.
        """

        def call(token: AccessToken) -> Any:
            headers = {**request.headers, **authorization(token)}
            answer = self._get(request.url, request.service, self.redactor.with_secret(token.value), headers)
            return read_api_response(request, answer)

        return self.with_token(call, patient=patient, creates=creates)

    def get_job_status(self, kind: JobKind, coordinates: Mapping[str, str | None]) -> JobStatus:
        """Ask Zoho for a job's status once; an error names the job and the connection.

        Not patient (see ``get_json``): a sensor or an operator's wait polls again anyway.

        :param kind: the job's kind (its product and API).
        :param coordinates: where the job is: its id, and the workspace, org, app or form its kind needs;
            optional ones left out come from the connection.
        :return: the job's state, read as its kind reads Zoho's answer.
        """
        request = job_status_request(self.config, kind, coordinates)
        try:
            body = self.get_json(request, patient=False)
        except ZohoError as error:
            raise error.located(self.about_job(kind, coordinates)) from None
        return read_job_status(kind, kind.job_id_of(coordinates), body)

    # -- creating jobs ----------------------------------------------------------------------------------------
    def with_token(self, call: Callable[[AccessToken], _T], *, patient: bool = True, creates: bool = False) -> _T:
        """Make ``call`` with the shared token; a rejected token is dropped and ``call`` made again with a new one.

        Safe for creating calls too: a request whose token was refused created nothing. With
        ``wait_out_until`` set (an operator sets its task's deadline), a refused token request, a 429, a 5xx
        or a network failure is waited out and ``call`` made again, while the deadline allows; a call that
        ``creates`` a job is made again only after an answer that says nothing was done (a refused token
        request, 429, 500, 503), never after a timeout or a reset, after which the job may exist.

        :param call: the request, given the token.
        :param patient: wait out transient trouble (see above); False raises it at once.
        :param creates: the request creates a job.
        :return: what ``call`` returns.
        """
        attempt = 0
        while True:
            try:
                return self._with_token_once(call)
            except ZohoTransientError as error:
                wait = self._wait_before_repeating(error, attempt, creates) if patient else None
                if wait is None:
                    raise
                self.log.warning("%s; trying again in %.0f s, within the task's deadline", error, wait)
                time.sleep(wait)
                attempt += 1

    def _with_token_once(self, call: Callable[[AccessToken], _T]) -> _T:
        token = self.get_access_token()
        try:
            return call(token)
        except ZohoTokenInvalidError:
            self._token_cache.invalidate(self.config.token_cache_key, token.value, store=self.token_store)
        return call(self.get_access_token())

    def _wait_before_repeating(self, error: ZohoTransientError, attempt: int, creates: bool) -> float | None:
        """Return the seconds to wait before making a call again after ``error``, or None to raise it now."""
        if self.wait_out_until is None:
            return None
        token_refused = error.service == Service.ACCOUNTS.value
        status = error.http_status or 0
        # An odd answer (INVALID_RESPONSE) is not waited out here: asking again would most likely get the same.
        if not (token_refused or status == 429 or status >= 500 or error.code in NETWORK_FAILURE_CODES):
            return None
        if creates and not (token_refused or error.http_status in NOTHING_DONE_STATUSES):
            return None
        key = self.config.token_cache_key
        if token_refused:
            # Zoho refuses token requests for the rest of its 10-minute window: the pause doubles with each
            # refusal in a row (the triggerer's rule), instead of spending another request every few seconds.
            THROTTLE.token_request_failed(key, error.retry_after)
            wait = THROTTLE.remaining(key)
        elif error.retry_after is not None and math.isfinite(error.retry_after):
            wait = error.retry_after
        else:
            wait = FIRST_WAIT_SECONDS * 2.0 ** min(attempt, 16)
        wait = min(max(wait, 0.0), MAX_WAIT_SECONDS) * random.uniform(1.0, 1.0 + WAIT_JITTER)
        return wait if time.time() + wait < self.wait_out_until else None

    def send_json(self, method: str, request: ApiRequest, payload: Any, *, creates: bool = False) -> Any:
        """Send a JSON request (a job's creation), never redirected; Zoho's error answers raise as ``get_json``'s.

        :param method: the HTTP method.
        :param request: where to send it.
        :param payload: the JSON body.
        :param creates: the request creates a job (see ``with_token``).
        :return: Zoho's decoded answer.
        """
        return self._send_api(method, request, {"Content-Type": "application/json"}, json.dumps(payload), creates)

    def send_empty(self, method: str, request: ApiRequest, *, creates: bool = False) -> Any:
        """Send a request without a body (Creator's create), never redirected; errors raise as ``send_json``'s.

        :param method: the HTTP method.
        :param request: where to send it.
        :param creates: the request creates a job (see ``with_token``).
        :return: Zoho's decoded answer.
        """
        return self._send_api(method, request, {}, None, creates)

    def _send_api(
        self, method: str, request: ApiRequest, headers: Mapping[str, str], data: str | None, creates: bool
    ) -> Any:
        def call(token: AccessToken) -> Any:
            sent = {**request.headers, **authorization(token), **headers}
            redactor = self.redactor.with_secret(token.value)
            answer = self._send(method, request.url, request.service, redactor, headers=sent, data=data)
            return read_api_response(request, answer)

        return self.with_token(call, creates=creates)

    def get_org_id(self, org_path: str) -> str:
        """Return the org's zgid for ``X-CRM-ORG``: the ``crm_org_id`` extra, else ``GET {api}{org_path}``.

        The zgid of an org never changes, so the answer is kept per connection and URL for the process's life.

        :param org_path: the org API's path on the API host (CRM's or Bigin's).
        :return: the zgid, Zoho's digits.
        """
        if self.config.crm_org_id:
            return self.config.crm_org_id
        request = api_request(self.config, org_path)
        key = (self.config.token_cache_key, request.url)
        if key not in _ORG_IDS:
            _ORG_IDS[key] = read_org_id(self.get_json(request))
        return _ORG_IDS[key]

    def upload_file(self, url: str, path: Path, headers: Mapping[str, str], content_type: str) -> Any:
        """POST a file as the multipart field ``file``, streamed from disk; return Zoho's decoded answer.

        ``MultipartEncoder`` reads the file as the socket takes it: ``requests``' own ``files=`` builds the
        whole multipart body in memory first, and a part can be 25 MB.

        :param url: where to upload (CRM's or Bigin's upload URL).
        :param path: the file.
        :param headers: headers to send along (``feature``, ``X-CRM-ORG``).
        :param content_type: the file's content type.
        :return: Zoho's decoded answer.
        """
        request = ApiRequest(url, {"Accept": "application/json", **headers}, Service.API, Dialect.CRM)
        return self.upload(request, path, "file", content_type)

    def upload(self, request: ApiRequest, path: Path, field: str, content_type: str, *, creates: bool = False) -> Any:
        """POST ``path`` as the multipart field ``field`` to ``request``, streamed from disk as ``upload_file`` does.

        ``request`` gives the service, dialect and headers; the whole transfer may take the request timeout
        plus the time the file's bytes take at ``MIN_TRANSFER_BYTES_PER_SECOND``.

        :param request: where to send it.
        :param path: the file.
        :param field: the multipart field's name.
        :param content_type: the file's content type.
        :param creates: the upload creates a job (an Analytics import; see ``with_token``).
        :return: Zoho's decoded answer.
        """
        allowed = self.config.request_timeout + path.stat().st_size / MIN_TRANSFER_BYTES_PER_SECOND

        def call(token: AccessToken) -> Any:
            with path.open("rb") as stream:
                encoder = MultipartEncoder(fields={field: (path.name, stream, content_type)})
                sent = {**request.headers, **authorization(token), "Content-Type": encoder.content_type}
                redactor = self.redactor.with_secret(token.value)
                answer = self._send(
                    "POST", request.url, request.service, redactor, headers=sent, data=encoder, time_allowed=allowed
                )
            return read_api_response(request, answer)

        return self.with_token(call, creates=creates)

    def may_send_token_to(self, url: str) -> bool:
        """Tell whether ``url`` is a host this connection trusts with its access token (see ``token_may_go_to``).

        :param url: the URL a request would go to (a result link, a redirect's target).
        :return: True where the token may go.
        """
        return token_may_go_to(url, self.config)

    def download(
        self,
        url: str,
        sink: BinaryIO,
        limit: int,
        time_allowed: float,
        *,
        dialect: Dialect = Dialect.CRM,
        headers: Mapping[str, str] | None = None,
        expect_zip: bool = False,
        service: Service = Service.API,
    ) -> int:
        """GET a file Zoho links to into ``sink``, streamed, at most ``limit`` bytes.

        The token goes only where ``may_send_token_to`` allows (anything else is refused here, whatever the
        caller checked), no redirect is followed (it would carry the token on), and the whole transfer has
        one deadline. ``dialect`` reads an error answer (Creator's ``11110`` "still being generated"),
        ``headers`` go along (Creator's ``environment``). With ``expect_zip``, a body that is not a zip (an
        error Zoho sent with HTTP 200, or anything else) is read as an answer: its text redacted of the
        connection's secrets and the token the request carried before any message is built from it.

        :param url: the link, from Zoho's answer.
        :param sink: where the bytes go; emptied first, and again on each new attempt.
        :param limit: the most bytes accepted; more raises an ``INVALID_RESPONSE`` error.
        :param time_allowed: seconds the whole transfer may take.
        :param dialect: how an error answer is read.
        :param headers: headers to send along.
        :param expect_zip: the file must be a zip. Without it, a small JSON body that is one of Zoho's error
            answers (Analytics answers "not ready yet" that way where the file should be) raises that error.
        :param service: the host family the link is on, for messages (an Analytics export's is Analytics').
        :return: the number of bytes written to ``sink``.
        :raises ValueError: ``url`` is not a host the token may go to.
        """
        if not self.may_send_token_to(url):
            raise ValueError(f"refusing to send the Zoho access token to {url.split('?')[0]!r}: not a Zoho host")
        request = ApiRequest(url, {**(headers or {}), "Accept-Encoding": "identity"}, service, dialect)

        def call(token: AccessToken) -> int:
            sink.seek(0)
            sink.truncate()
            deadline = time.monotonic() + time_allowed
            redactor = self.redactor.with_secret(token.value)
            sent = {**request.headers, **authorization(token)}
            with (
                _as_zoho_errors(service, url),
                self.session.get(
                    url, headers=sent, timeout=self.config.request_timeout, stream=True, allow_redirects=False
                ) as response,
            ):
                if response.status_code != 200:
                    read_api_response(request, self._bounded_answer(response, redactor, deadline))
                    raise invalid_answer(service, f"a download answered HTTP {response.status_code}")
                if response.headers.get("Content-Encoding", "identity").lower() != "identity":
                    raise UnsupportedEncoding("a download in an encoding that was not asked for")
                written = 0
                while chunk := _read_some(response.raw, deadline):
                    written += len(chunk)
                    if written > limit:
                        raise ResponseTooLarge(f"a download larger than {limit:,} bytes")
                    sink.write(chunk)
            if expect_zip:
                _raise_unless_zip(request, sink, redactor)
            elif written <= _NOT_A_ZIP_EXCERPT_BYTES:
                _raise_if_error_answer(request, sink, redactor)
            return written

        return self.with_token(call)

    def test_connection(self) -> tuple[bool, str]:
        """Refresh a token for real, so that a wrong secret, refresh token or data center shows up here.

        With an ``analytics_org_id``, also ask Analytics whether the token's user belongs to that organization.

        A token request is one of the 10 Zoho grants per 10 minutes: a valid token the deployment already
        shares for these very credentials (its key is their digest) is reused instead, and said so.

        :return: whether the connection works, and the sentence saying what was found.
        """
        try:
            key = self.config.token_cache_key
            shared = self._token_cache.cached(key) or (self.token_store.load(key) if self.token_store else None)
            if shared is not None and shared.is_fresh(time.time()):
                token, how = shared, "a valid access token these credentials were issued, shared by this deployment"
            else:
                token, how = self._request_token(), "Zoho accounts issued an access token"
        except (ZohoError, ZohoConnectionError) as error:
            return False, str(error)
        self._token_cache.put(key, token)
        if self.token_store is not None and token is not shared:
            self.token_store.save(key, token)
        connected = (
            f"Connected to Zoho accounts at {self.config.base_url(Service.ACCOUNTS)}: {how}"
            + (f" for API domain {token.api_domain}" if token.api_domain else "")
            + "."
        )
        if not self.config.analytics_org_id:
            return True, connected
        ok, about_org = self._check_analytics_org(self.config.analytics_org_id)
        return ok, f"{connected} {about_org}"

    def _check_analytics_org(self, org_id: str) -> tuple[bool, str]:
        try:
            orgs = read_analytics_orgs(self.get_json(analytics_orgs_request(self.config)))
        except ZohoTokenInvalidError as error:
            return False, f"Analytics refused the token (from another data center?): {error}"
        except ZohoFatalError as error:
            # Listing organizations needs ZohoAnalytics.metadata.read, which the sensors do not: a token
            # without it still works for them, so this is a note, not a failure.
            return True, f"The analytics_org_id was not checked ({error.code}: add ZohoAnalytics.metadata.read)."
        except (ZohoError, ZohoConnectionError) as error:
            return False, f"Analytics could not be asked about analytics_org_id {org_id}: {error}"
        if org_id in orgs:
            return True, f"Analytics organization {org_id} is one of the token user's."
        return False, (
            f"analytics_org_id {org_id} is not among the token user's Analytics organizations "
            f"({', '.join(orgs) or 'none'}): check the id, or the data center."
        )


# The first bytes of a zip: a local file header, or the end record of an empty archive.
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")
# How much of a body that should have been a zip is read back to say what it was.
_NOT_A_ZIP_EXCERPT_BYTES = 65_536


def _raise_unless_zip(request: ApiRequest, sink: BinaryIO, redactor: Redactor) -> None:
    """Raise the error a downloaded non-zip holds (Zoho's, or ``INVALID_RESPONSE``), its text redacted first."""
    sink.seek(0)
    head = sink.read(_NOT_A_ZIP_EXCERPT_BYTES)
    if head.startswith(_ZIP_MAGIC):
        return
    text = answer_text(head, redactor)
    read_api_response(request, Answer(200, text))
    raise invalid_answer(request.service, f"a download that is not a zip: {text[:200]!r}")


def _raise_if_error_answer(request: ApiRequest, sink: BinaryIO, redactor: Redactor) -> None:
    """Raise the Zoho error a small downloaded file is (JSON in the product's error shape); data passes as it is."""
    sink.seek(0)
    head = sink.read()
    sink.seek(0, 2)
    if not head.lstrip().startswith(b"{"):
        return
    try:
        read_api_response(request, Answer(200, answer_text(head, redactor)))
    except ZohoError as error:
        if error.code != "INVALID_RESPONSE":  # JSON that is no error answer: a JSON export's data
            raise


@contextmanager
def _as_zoho_errors(service: Service, url: str) -> Iterator[None]:
    """Raise network trouble, an answer too large or in an unasked encoding as the ``ZohoError`` the poll loops read."""
    try:
        yield
    except (requests.Timeout, urllib3.exceptions.TimeoutError, TimeoutError) as error:
        raise network_error(service, error, timed_out=True, url=url) from error
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        raise network_error(service, error, timed_out=False, url=url) from error
    except (ResponseTooLarge, UnsupportedEncoding) as error:
        raise invalid_answer(service, str(error)) from None


def _read_some(raw: urllib3.BaseHTTPResponse, deadline: float) -> bytes:
    """Return what has arrived of the body (at most a chunk), waiting no longer than the deadline allows."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise TimeoutError("the answer did not arrive within the request timeout")
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    if sock is not None:  # reach the socket: each wait gets only what is left of the whole deadline
        sock.settimeout(left)
    return raw.read1(READ_CHUNK_BYTES, decode_content=False)
