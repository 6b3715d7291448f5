"""Turn a Zoho Self Client grant code into a ready Airflow connection: ``python -m airflow_provider_zoho.auth``.

Zoho gives a refresh token only in exchange for a grant code, which lasts minutes and works once; doing that
by hand with curl is where a newcomer's first hour goes. This command asks for what it lacks (the client
secret and the grant code with ``getpass``, so they reach neither the screen nor the shell history), checks
every value before the code is spent, exchanges the code at the data center's accounts server, and prints the
connection both ways Airflow reads one. When Zoho refuses, it says in one sentence what to do, exit code 1.

The pieces are pure (arguments in, request or text out) except :func:`exchange` (the one HTTP request) and
:func:`main` (prompts and printing), so they are tested without I/O and end to end against the emulator.
"""

from __future__ import annotations

import argparse
import getpass
import json
import shlex
import sys
import time
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

import requests
import urllib3

from airflow_provider_zoho.connection_config import (
    CREATOR_ENVIRONMENTS,
    DEFAULT_REQUEST_TIMEOUT,
    ZohoConnectionConfig,
    ZohoConnectionError,
)
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.data_centers import DATA_CENTERS, DEFAULT_DATA_CENTER, Service, get_data_center
from airflow_provider_zoho.errors import ERROR_RULES
from airflow_provider_zoho.hooks.body import (
    ACCEPT_ENCODING,
    READ_CHUNK_BYTES,
    BoundedBody,
    ResponseTooLarge,
    UnsupportedEncoding,
)
from airflow_provider_zoho.hooks.exchange import TOKEN_PATH, decode_json
from airflow_provider_zoho.hooks.redaction import Redactor
from airflow_provider_zoho.hooks.transport import network_cause
from airflow_provider_zoho.products import PRODUCTS, Dialect, ZohoProduct

# A token answer is a few hundred bytes; anything near this is not Zoho's.
MAX_ANSWER_BYTES = 64 * 1024
# A grant code lasts at most ten minutes: waiting longer than this for one answer cannot help.
MAX_TIMEOUT = 300.0
_PROG = "python -m airflow_provider_zoho.auth"

# What the error table says a code means, except where the authorization-code grant differs from the
# refresh-token grant the table describes: there ``invalid_code`` is about the grant code.
_MEANINGS: Mapping[str, str] = {
    **{rule.code: rule.meaning for rule in ERROR_RULES if rule.dialect is Dialect.ACCOUNTS},
    "invalid_code": "the grant code expired (they last the few minutes chosen when generating them) or was used already",
}
_WHAT_TO_DO: Mapping[str, str] = {
    "invalid_code": "generate a new grant code in the API console (Self Client > Generate Code) and run this "
    "again right away",
    "invalid_client": "check --client-id and the client secret, and --data-center: the API console you created "
    "the client in (api-console.zoho.eu is eu, .in is in, .com is us...) names it",
    "invalid_client_secret": "copy the client secret again from the API console (Self Client > Client Secret)",
    "Access Denied": "wait ten minutes and run this again with a new grant code",
}


class AuthError(Exception):
    """Why the connection could not be made, as one sentence saying what to do (never holding a secret)."""


@dataclass(frozen=True)
class TaskCalls:
    """The Zoho calls one operator or sensor makes, by their names in its product's ``ZohoProduct.scopes``.

    :param product: the product's name, a key of ``PRODUCTS``.
    :param calls: the calls it cannot work without.
    :param checks: the calls of its checks before spending (``preflight``): without their scopes it only warns.
    :param module_scopes: False for a task that never names a module (a sensor polling a bulk write job needs
        the bulk scope alone), so the calls' ``{module}`` scopes are left out.
    """

    product: str
    calls: tuple[str, ...]
    checks: tuple[str, ...] = ()
    module_scopes: bool = True

    @property
    def zoho_product(self) -> ZohoProduct:
        """Return the product record the calls belong to."""
        return PRODUCTS[self.product]

    def scopes(self, calls: Sequence[str]) -> tuple[str, ...]:
        """Return the scopes ``calls`` need, each once, ``{module}`` left as it is.

        :param calls: some of the product's call names.
        :return: the scopes, in the order the calls list them.
        """
        product = self.zoho_product
        every = (scope for call in calls for scope in product.scopes[call])
        return tuple(dict.fromkeys(s for s in every if self.module_scopes or "{module}" not in s))


_WRITE_CALLS = TaskCalls("crm", ("upload", "bulk_write", "org"), ("modules", "fields"))
#: The calls of each operator and sensor, by class name (the classes are not imported: they pull in Airflow).
#: The scopes themselves are the products' (``airflow_provider_zoho.products``), where each has its source.
TASK_CALLS: Mapping[str, TaskCalls] = {
    "ZohoCRMBulkWriteOperator": _WRITE_CALLS,
    "ZohoCRMBulkWriteJobSensor": TaskCalls("crm", ("bulk_write",), module_scopes=False),
    "ZohoBiginBulkWriteOperator": TaskCalls("bigin", _WRITE_CALLS.calls, _WRITE_CALLS.checks),
    "ZohoBiginBulkWriteJobSensor": TaskCalls("bigin", ("bulk_write",), module_scopes=False),
    "ZohoAnalyticsImportOperator": TaskCalls("analytics", ("import",), ("workspaces", "views", "view")),
    "ZohoAnalyticsImportJobSensor": TaskCalls("analytics", ("import",)),
    "ZohoCreatorBulkInsertOperator": TaskCalls(
        "creator", ("bulk_insert", "start_abort", "status_result"), ("forms", "form_fields")
    ),
    "ZohoCreatorBulkInsertJobSensor": TaskCalls("creator", ("status_result",)),
    "ZohoCRMBulkReadOperator": TaskCalls("crm", ("bulk_read",)),
    "ZohoCRMBulkReadJobSensor": TaskCalls("crm", ("bulk_read",), module_scopes=False),
    "ZohoBiginBulkReadOperator": TaskCalls("bigin", ("bulk_read",)),
    "ZohoBiginBulkReadJobSensor": TaskCalls("bigin", ("bulk_read",), module_scopes=False),
    "ZohoAnalyticsExportOperator": TaskCalls("analytics", ("export",)),
    "ZohoAnalyticsExportJobSensor": TaskCalls("analytics", ("export",)),
    "ZohoCreatorBulkReadOperator": TaskCalls("creator", ("bulk_read", "status_result")),
    "ZohoCreatorBulkReadJobSensor": TaskCalls("creator", ("status_result",)),
}


def scope_string(names: Sequence[str], modules: Sequence[str] = ()) -> str:
    """Return the comma-separated scopes the named operators and sensors need, as Self Client's Generate Code takes them.

    :param names: operator and sensor class names (any letter case), or ``all`` for every scope of every product.
    :param modules: the CRM/Bigin modules the loads write to; none: the ``modules.ALL`` scope instead.
    :return: the scopes, each once, checks' scopes included.
    :raises AuthError: a name that is no operator or sensor of this provider.
    """
    by_folded = {name.casefold(): name for name in TASK_CALLS}
    template: list[str] = []
    for name in names:
        if name.casefold() == "all":
            template += [scope for product in PRODUCTS.values() for scope in product.scope_list()]
            continue
        known = by_folded.get(name.casefold())
        if known is None:
            raise AuthError(
                f"--scopes-for: {name!r} is no operator or sensor of this provider; name one of "
                f"{', '.join(TASK_CALLS)}, or all."
            )
        task = TASK_CALLS[known]
        template += task.scopes(task.calls + task.checks)
    scopes: list[str] = []
    for scope in template:
        if "{module}" not in scope:
            scopes.append(scope)
        elif modules:
            scopes += [scope.format(module=module) for module in modules]
        else:
            scopes.append(scope.replace(".{module}", ""))  # ZohoCRM.modules.{module}.ALL -> ZohoCRM.modules.ALL
    return ",".join(dict.fromkeys(scopes))


@dataclass(frozen=True)
class Settings:
    """Everything the exchange and the printed connection need, checked."""

    grant_code: str = field(repr=False)
    config: ZohoConnectionConfig  # the connection to print (conn id, client, extras); refresh token a placeholder
    timeout: float = DEFAULT_REQUEST_TIMEOUT

    @property
    def token_url(self) -> str:
        """Return the URL the grant code is posted to: the accounts server's (or ``--accounts-url``'s) token path."""
        return self.config.base_url(Service.ACCOUNTS) + TOKEN_PATH

    @property
    def accounts_host(self) -> str:
        """Return the accounts server as messages name it: its host (and port), never a path or query."""
        return urlsplit(self.token_url).netloc

    def redactor(self) -> Redactor:
        """Return a redactor of the client secret and the grant code, for Zoho's answer before a message quotes it.

        :return: the redactor (the refresh token is not known yet: it is what the answer brings).
        """
        return Redactor((self.config.client_secret, self.grant_code))


@dataclass(frozen=True)
class Grant:
    """What Zoho gave for the grant code."""

    refresh_token: str = field(repr=False)
    api_domain: str | None


def parser() -> argparse.ArgumentParser:
    """Build the command's arguments; every value may also be left out and asked for.

    :return: the parser, whose ``--help`` says where the client and grant code come from.
    """
    parser = argparse.ArgumentParser(
        prog=_PROG,
        description="Exchange a Zoho Self Client grant code for a refresh token and print the ready Airflow "
        "connection. Values not given are asked for; the client secret and the grant code without echo.",
        epilog="Get the client and the grant code at your data center's API console (api-console.zoho.com, "
        ".eu, .in, .com.au, .jp, .com.cn, zohocloud.ca, .sa, .uk): Self Client > Generate Code, with the scopes "
        "your operators and sensors need: --scopes-for prints them, comma-separated as the Generate Code box takes "
        "them, e.g. --scopes-for ZohoCRMBulkWriteOperator ZohoCreatorBulkInsertOperator --module Leads (or "
        "--scopes-for all). The printed lines hold the client secret and "
        "the refresh token: rather than pasting them into a shell that keeps history, write them to a file "
        "(--print env > zoho.env, then source it) or pipe the command to a shell (--print command | sh).",
    )
    parser.add_argument(
        "--data-center",
        type=str.lower,
        choices=list(DATA_CENTERS),
        help=f"the Zoho data center the client was created in (asked for when left out; {DEFAULT_DATA_CENTER} "
        "when the answer is empty)",
    )
    parser.add_argument("--client-id", help="the Self Client's client id (asked for when left out)")
    parser.add_argument(
        "--client-secret",
        help="the client secret; leave it out to be asked without echo (a value here lands in shell history)",
    )
    parser.add_argument(
        "--grant-code",
        help="the grant code from Self Client > Generate Code; leave it out to be asked without echo",
    )
    parser.add_argument(
        "--conn-id", default=DEFAULT_CONN_ID, help=f"the Airflow connection id (default {DEFAULT_CONN_ID})"
    )
    parser.add_argument("--analytics-org-id", help="extra analytics_org_id: your Zoho Analytics organization id")
    parser.add_argument(
        "--creator-environment", choices=CREATOR_ENVIRONMENTS, help="extra creator_environment (production: leave out)"
    )
    parser.add_argument(
        "--accounts-url",
        help="a base URL replacing the data center's accounts server (a proxy, the emulator); it becomes the "
        "connection's host, which replaces every Zoho host",
    )
    parser.add_argument(
        "--print",
        dest="output",
        choices=("both", "env", "command"),
        default="both",
        help="what to print: both forms with comments (default); env, only the export line "
        "(> zoho.env, then source it); command, only the airflow command (| sh)",
    )
    parser.add_argument(
        "--timeout", type=float, default=DEFAULT_REQUEST_TIMEOUT, help="seconds the exchange may take (default 30)"
    )
    parser.add_argument(
        "--scopes-for",
        nargs="+",
        metavar="CLASS",
        help="print the scopes the named operators and sensors need (class names, or all), comma-separated for "
        "Self Client > Generate Code, and exit; nothing is asked or exchanged",
    )
    parser.add_argument(
        "--module",
        action="append",
        default=[],
        help="with --scopes-for: a CRM or Bigin module the loads write to (repeatable); without it the scope "
        "string asks for every module (ZohoCRM.modules.ALL)",
    )
    return parser


def settings_from(args: argparse.Namespace, ask: Callable[[str], str], ask_secret: Callable[[str], str]) -> Settings:
    """Build the checked settings, asking for what the arguments lack.

    Every value is checked here, before the request: the grant code works once, so a typo in the org id
    found afterwards would cost the user a new code.

    :param args: the parsed command line (``parser()``).
    :param ask: asks for a value that may be shown (data center, client id).
    :param ask_secret: asks for a value without echo (client secret, grant code).
    :return: the settings, their connection config built with a placeholder refresh token.
    :raises AuthError: a value is missing or wrong, named with the option that sets it.
    """
    data_center = args.data_center or ask(f"Data center ({', '.join(DATA_CENTERS)}) [{DEFAULT_DATA_CENTER}]: ").strip()
    try:
        dc = get_data_center(data_center or DEFAULT_DATA_CENTER)
    except ValueError as error:
        raise AuthError(f"{error} (--data-center)") from None
    client_id = _required("client id", "--client-id", args.client_id or ask("Client ID: "))
    client_secret = _required("client secret", "--client-secret", args.client_secret or ask_secret("Client Secret: "))
    grant_code = _required("grant code", "--grant-code", args.grant_code or ask_secret("Grant code: "))
    if args.output == "env" and connection_variable(args.conn_id) is None:
        raise AuthError(
            f"--conn-id {args.conn_id!r} cannot be an environment variable name (letters, digits and _ only): "
            "choose another id, or --print command."
        )
    if not 0 < args.timeout <= MAX_TIMEOUT:
        raise AuthError(
            f"--timeout must be a number of seconds above 0 and at most {MAX_TIMEOUT:g}, not {args.timeout}."
        )
    fields = connection_fields(
        client_id, client_secret, "pending", dc.code, args.analytics_org_id, args.creator_environment, args.accounts_url
    )
    try:
        config = ZohoConnectionConfig.from_fields(
            args.conn_id, login=client_id, password=client_secret, host=fields.get("host"), extra=fields["extra"]
        )
    except ZohoConnectionError as error:
        raise AuthError(str(error)) from None
    return Settings(grant_code, config, args.timeout)


def _required(label: str, option: str, value: str) -> str:
    """Return a pasted value without the spaces and line break around it, which Zoho would refuse."""
    value = value.strip()
    if not value:
        raise AuthError(f"No {label} given: pass {option} or type it when asked.")
    if not value.isprintable():
        raise AuthError(f"The {label} contains a control or invisible character: copy it again ({option}).")
    return value


def connection_fields(
    client_id: str,
    client_secret: str,
    refresh_token: str,
    data_center: str,
    analytics_org_id: str | None,
    creator_environment: str | None,
    host: str | None,
) -> dict[str, Any]:
    """Build the ``zoho`` connection as Airflow's JSON form holds it; optional values only when given.

    :param client_id: the Self Client's client id (the login).
    :param client_secret: its client secret (the password).
    :param refresh_token: the refresh token Zoho gave (extra ``refresh_token``).
    :param data_center: the data center's code (extra ``data_center``).
    :param analytics_org_id: extra ``analytics_org_id``, or None.
    :param creator_environment: extra ``creator_environment``, or None.
    :param host: the base URL replacing every Zoho host, or None.
    :return: ``conn_type``, ``login``, ``password``, ``host`` when given, and ``extra`` as a dict.
    """
    extra: dict[str, Any] = {"refresh_token": refresh_token, "data_center": data_center}
    extra |= {
        name: value
        for name, value in (("analytics_org_id", analytics_org_id), ("creator_environment", creator_environment))
        if value
    }
    fields: dict[str, Any] = {"conn_type": "zoho", "login": client_id, "password": client_secret}
    if host:
        fields["host"] = host
    return {**fields, "extra": extra}


def token_form(settings: Settings) -> dict[str, str]:
    """Build the form body of the authorization-code grant.

    Credentials never go in the query string, which proxies and access logs keep.

    :param settings: the checked settings.
    :return: the form fields.
    """
    return {
        "grant_type": "authorization_code",
        "client_id": settings.config.client_id,
        "client_secret": settings.config.client_secret,
        "code": settings.grant_code,
    }


def exchange(settings: Settings) -> tuple[int, str]:
    """POST the grant code and return the answer's status and (bounded, redacted) text.

    The only I/O of the exchange. No redirect is followed (it would carry the secret and the code
    elsewhere); the body is read up to ``MAX_ANSWER_BYTES``, and no longer than ``timeout`` past the deadline
    however slowly it drips (each read waits at most ``timeout``, and none starts after the deadline).

    :param settings: the checked settings.
    :return: the HTTP status and the text, the client secret and grant code removed.
    :raises AuthError: Zoho could not be reached, redirected, or sent what no token answer is.
    """
    deadline = time.monotonic() + settings.timeout
    try:
        with requests.post(
            settings.token_url,
            data=token_form(settings),
            headers={"Accept": "application/json", "Accept-Encoding": ACCEPT_ENCODING},
            timeout=settings.timeout,
            allow_redirects=False,
            stream=True,
        ) as response:
            if 300 <= response.status_code < 400:
                raise AuthError(_redirected(settings, response.headers.get("Location")))
            body = BoundedBody(MAX_ANSWER_BYTES, response.headers.get("Content-Encoding"))
            while chunk := response.raw.read1(READ_CHUNK_BYTES, decode_content=False):
                if time.monotonic() > deadline:
                    raise TimeoutError
                body.feed(chunk)
            text = body.finish().decode("utf-8", errors="replace")
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as error:
        raise AuthError(
            f"Could not reach Zoho accounts at {settings.accounts_host}: {network_cause(error, settings.timeout)}; "
            "check your network, --data-center and --accounts-url, then run this again (with a new grant code if "
            "Zoho then says invalid_code)."
        ) from None
    except (ResponseTooLarge, UnsupportedEncoding) as error:
        raise AuthError(
            f"Zoho accounts at {settings.accounts_host} sent {error}, not a token answer: check --accounts-url."
        ) from None
    return response.status_code, settings.redactor()(text)


def _redirected(settings: Settings, location: str | None) -> str:
    target = urlsplit(location or "").netloc or "an unnamed place"
    return (
        f"Zoho accounts at {settings.accounts_host} redirected the request to {target}; it was not followed, so "
        "the secret and the grant code went nowhere else: check --data-center and --accounts-url."
    )


def read_grant(status: int, text: str, accounts_host: str) -> Grant:
    """Read Zoho's answer to the exchange as a grant, or raise the one sentence saying what to do. Pure.

    Zoho answers its errors with HTTP 200 and ``{"error": ...}``: success is a ``refresh_token``.

    :param status: the answer's HTTP status.
    :param text: the answer's text, redacted.
    :param accounts_host: the accounts server, as messages name it.
    :return: the refresh token and the API domain Zoho named.
    :raises AuthError: Zoho refused, failed, or answered without a refresh token.
    """
    body = decode_json(text)
    where = f"Zoho accounts at {accounts_host}"
    if isinstance(body, dict) and body.get("error"):
        code = str(body["error"])[:100]
        meaning = _MEANINGS.get(code) or str(body.get("error_description") or "no explanation given")[:300]
        advice = _WHAT_TO_DO.get(code, "check the values given and run this again with a new grant code")
        raise AuthError(f"{where} refused the exchange with {code}: {meaning}; {advice}.")
    if not isinstance(body, dict) and status >= 500:
        raise AuthError(
            f"{where} answered HTTP {status}, a server error: try again in a minute (the grant code may still "
            "work; if Zoho then says invalid_code, generate a new one)."
        )
    if not isinstance(body, dict):
        snippet = " ".join(text.split())[:80] or "an empty body"
        raise AuthError(f"{where} answered HTTP {status} with no Zoho answer ({snippet}): check --accounts-url.")
    refresh_token = body.get("refresh_token")
    if isinstance(refresh_token, str) and refresh_token.strip() and refresh_token.isprintable():
        api_domain = body.get("api_domain")
        return Grant(refresh_token.strip(), api_domain if isinstance(api_domain, str) else None)
    if body.get("access_token"):
        raise AuthError(
            f"{where} gave an access token but no refresh token: the code was granted for online access; generate "
            "it again from Self Client (whose codes are for offline access), or with access_type=offline and "
            "prompt=consent in the browser flow, and run this again."
        )
    raise AuthError(f"{where} answered HTTP {status} with neither a token nor an error: check --accounts-url.")


def api_domain_warning(config: ZohoConnectionConfig, grant: Grant) -> str | None:
    """Return a hint when Zoho names another data center's API host than the one the connection will use.

    :param config: the connection to print; a ``host`` override is never second-guessed.
    :param grant: what Zoho gave, with its ``api_domain``.
    :return: the note, naming the data center to use where Zoho's host tells it; None when they agree.
    """
    if config.base_url_override or not grant.api_domain:
        return None
    host = urlsplit(grant.api_domain).hostname or grant.api_domain
    if host == config.data_center.api_host:
        return None
    other = next((dc.code for dc in DATA_CENTERS.values() if dc.api_host == host), None)
    if other is None:
        return f"Note: Zoho names {host} as this account's API domain; the connection will use {config.data_center.api_host}."
    return (
        f"Note: Zoho names {host} as this account's API domain, which is data center {other!r}, not "
        f"{config.data_center.code!r}: if the sensors get INVALID_HOST or 8535, use data_center {other!r}."
    )


def connection_variable(conn_id: str) -> str | None:
    """Return the ``AIRFLOW_CONN_<ID>`` name Airflow reads, or None when no shell can export it (``zoho-prod``).

    :param conn_id: the connection id.
    :return: the variable's name, or None.
    """
    variable = f"AIRFLOW_CONN_{conn_id.upper()}"
    return variable if variable.isidentifier() and variable.isascii() else None


def render(settings: Settings, grant: Grant, output: str = "both") -> str:
    """Render the connection as an ``AIRFLOW_CONN_<ID>`` export line and/or an ``airflow connections add`` command.

    ``env`` and ``command`` print one line each, to be sourced from a file or piped to ``sh`` without the
    secrets passing through the terminal; ``both`` adds comments for a person to choose.

    :param settings: the checked settings.
    :param grant: what Zoho gave for the grant code.
    :param output: ``both``, ``env`` or ``command`` (``--print``).
    :return: the text to print on stdout, holding the client secret and refresh token.
    """
    config = settings.config
    fields = connection_fields(
        config.client_id,
        config.client_secret,
        grant.refresh_token,
        config.data_center.code,
        config.analytics_org_id,
        config.creator_environment,
        config.base_url_override,
    )
    variable = connection_variable(config.conn_id)
    export = f"export {variable}={shlex.quote(json.dumps(fields))}" if variable else None
    command = ["airflow", "connections", "add", config.conn_id, "--conn-type", "zoho"]
    command += ["--conn-login", config.client_id, "--conn-password", config.client_secret]
    if "host" in fields:
        command += ["--conn-host", fields["host"]]
    command += ["--conn-extra", json.dumps(fields["extra"])]
    add = shlex.join(command)
    if output == "env" and export:
        return export
    if output == "command":
        return add
    return "\n".join(
        [
            f"# Zoho connection {config.conn_id!r}: set it as an environment variable where Airflow runs",
            export or f"# (AIRFLOW_CONN_{config.conn_id.upper()} cannot be exported: use the command below)",
            "# or store it in Airflow's metadata database:",
            add,
        ]
    )


def for_terminal(text: str) -> str:
    r"""Escape every non-printable character of ``text`` but newlines, as ``\x1b``, for the user's terminal.

    A message quotes Zoho's answer, and an answer's escape sequences must not drive the user's terminal
    (retitle it, hide text).

    :param text: the message.
    :return: the message, safe to print.
    """
    return "".join(
        char if char == "\n" or char.isprintable() else char.encode("unicode_escape").decode("ascii") for char in text
    )


def _ask_on(stream: TextIO) -> Callable[[str], str]:
    """Return a prompt on ``stream`` (stderr), so stdout holds only the connection and can go to a file."""

    def ask(prompt: str) -> str:
        stream.write(prompt)
        stream.flush()
        line = sys.stdin.readline()
        if not line:
            raise AuthError(f"No answer to {prompt.strip()!r} (end of input): pass the value as an option.")
        return line

    return ask


def main(
    argv: Sequence[str] | None = None,
    *,
    ask: Callable[[str], str] | None = None,
    ask_secret: Callable[[str], str] | None = None,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run the command; 0 with the connection printed, 1 with one sentence on stderr. Prompts are injectable.

    :param argv: the arguments; the command line's when None.
    :param ask: asks for a visible value; a prompt on stderr reading stdin when None.
    :param ask_secret: asks for a value without echo; ``getpass`` on stderr when None.
    :param stdout: where the connection goes; ``sys.stdout`` when None.
    :param stderr: where prompts, notes, warnings and errors go; ``sys.stderr`` when None.
    :return: the exit code.
    """
    out, err = stdout or sys.stdout, stderr or sys.stderr
    args = parser().parse_args(argv)
    if args.scopes_for:
        try:
            print(scope_string(args.scopes_for, args.module), file=out)
        except AuthError as error:
            print(for_terminal(str(error)), file=err)
            return 1
        return 0
    # Airflow, imported through the package, sends warnings to its logging, which writes to stdout. Stdout is
    # for the connection alone (it may go to a file that is sourced), so warnings, such as getpass's "Can not
    # control echo" without a terminal, are caught and shown on stderr.
    with warnings.catch_warnings(record=True) as caught:
        try:
            settings = settings_from(
                args, ask or _ask_on(err), ask_secret or (lambda prompt: getpass.getpass(prompt, stream=err))
            )
            grant = read_grant(*exchange(settings), settings.accounts_host)
        except AuthError as error:
            message: str | None = str(error)
        except (KeyboardInterrupt, EOFError):
            message = "\nStopped; nothing was printed."
        else:
            message = None
    for text in dict.fromkeys(str(warning.message) for warning in caught):
        print(f"Warning: {text}", file=err)
    if message is not None:
        print(for_terminal(message), file=err)
        return 1
    for note in (
        api_domain_warning(settings.config, grant),
        "The lines below hold the client secret and the refresh token: keep them out of shell history and logs.",
    ):
        if note:
            print(for_terminal(note), file=err)
    print(render(settings, grant, args.output), file=out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
