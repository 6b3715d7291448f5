"""``python -m airflow_provider_zoho.auth`` end to end against the emulator's authorization-code grant.

The printed connection is checked the way a user would use it: set as ``AIRFLOW_CONN_...``, a ``ZohoHook``
gets a token with it. Every refusal is one sentence on stderr, exit code 1, and no secret is ever in it.
"""

from __future__ import annotations

import importlib
import io
import json
import os
import shlex
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_zoho import auth
from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.hooks.transport import network_cause
from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.testing import Fault, ZohoEmulator

REPO_ROOT = Path(__file__).resolve().parents[1]
CLIENT = ZohoEmulator.DEFAULT_CLIENT
GRANT_CODE = "1000.grant.5f0e1d2c3b4a59687766554433221100"
ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture
def emu(zoho_emulator: ZohoEmulator) -> ZohoEmulator:
    zoho_emulator.add_grant_code(GRANT_CODE, client_id=CLIENT.client_id)
    return zoho_emulator


def argv(emulator: ZohoEmulator, *more: str, secret: str = CLIENT.client_secret, code: str = GRANT_CODE) -> list[str]:
    return [
        "--data-center",
        "eu",
        "--client-id",
        CLIENT.client_id,
        "--client-secret",
        secret,
        "--grant-code",
        code,
        "--accounts-url",
        emulator.base_url,
        *more,
    ]


def run(args: list[str], **kwargs: Any) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = auth.main(args, stdout=out, stderr=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def exported(output: str) -> tuple[str, dict[str, Any]]:
    """The variable and connection of the ``export AIRFLOW_CONN_...='{...}'`` line."""
    line = next(line for line in output.splitlines() if line.startswith("export "))
    name, _, value = shlex.split(line)[1].partition("=")
    return name, json.loads(value)


def added(output: str) -> dict[str, str]:
    """The options of the ``airflow connections add ...`` line."""
    words = shlex.split(next(line for line in output.splitlines() if line.startswith("airflow ")))
    assert words[:4] == ["airflow", "connections", "add", "zoho_default"]
    return dict(zip(words[4::2], words[5::2], strict=True))


def token_post(emulator: ZohoEmulator, **form: str) -> dict[str, Any]:
    answer = requests.post(f"{emulator.base_url}/oauth/v2/token", data=form, timeout=10)
    assert answer.status_code == 200  # Zoho answers its OAuth errors with HTTP 200 too
    body: dict[str, Any] = answer.json()
    return body


def code_grant(emulator: ZohoEmulator, code: str, secret: str = CLIENT.client_secret) -> dict[str, Any]:
    form = {"grant_type": "authorization_code", "client_id": CLIENT.client_id, "client_secret": secret, "code": code}
    return token_post(emulator, **form)


def refresh_grant(emulator: ZohoEmulator, refresh_token: str) -> dict[str, Any]:
    return token_post(
        emulator,
        grant_type="refresh_token",
        client_id=CLIENT.client_id,
        client_secret=CLIENT.client_secret,
        refresh_token=refresh_token,
    )


# -- the emulator's authorization-code grant --------------------------------------------------------------


def test_a_grant_code_gives_zoho_s_answer_once_and_its_refresh_token_works(emu: ZohoEmulator) -> None:
    body = code_grant(emu, GRANT_CODE)
    assert list(body) == ["access_token", "refresh_token", "scope", "api_domain", "token_type", "expires_in"]
    assert (body["api_domain"], body["token_type"], body["expires_in"]) == (emu.base_url, "Bearer", 3600)
    assert body["access_token"] in emu.issued_tokens
    assert code_grant(emu, GRANT_CODE) == {"error": "invalid_code"}  # used already
    refreshed = refresh_grant(emu, body["refresh_token"])
    assert refreshed["access_token"] in emu.issued_tokens


def test_grant_code_refusals_are_zoho_s(emu: ZohoEmulator) -> None:
    # A wrong secret is invalid_client, and does not spend the code.
    assert code_grant(emu, GRANT_CODE, secret="not-the-secret") == {"error": "invalid_client"}
    assert code_grant(emu, "1000.never-given") == {"error": "invalid_code"}
    emu.add_grant_code("expired-code", expires_in=0)
    assert code_grant(emu, "expired-code") == {"error": "invalid_code"}
    # A code belongs to its client: another registered client cannot use it.
    emu.add_client("other-client", "other-secret", "other-refresh")
    emu.add_grant_code("other-code", client_id="other-client")
    assert code_grant(emu, "other-code") == {"error": "invalid_code"}
    given = emu.add_grant_code("chosen-code", refresh_token="1000.chosen.refresh")
    assert given == "1000.chosen.refresh"
    assert code_grant(emu, "chosen-code")["refresh_token"] == given
    assert "refresh_token" in code_grant(emu, GRANT_CODE)


def test_an_online_grant_code_gives_no_refresh_token(emu: ZohoEmulator) -> None:
    refresh_token = emu.add_grant_code("online-code", offline=False)
    body = code_grant(emu, "online-code")
    assert "access_token" in body
    assert "refresh_token" not in body
    assert refresh_grant(emu, refresh_token) == {"error": "invalid_code"}


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"client_id": "nobody"}, "not registered"),
        ({"refresh_token": ""}, "refresh_token"),
        ({"expires_in": -1}, "expires_in"),
        ({"expires_in": float("nan")}, "expires_in"),
    ],
)
def test_add_grant_code_refuses_bad_values(zoho_emulator: ZohoEmulator, kwargs: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        zoho_emulator.add_grant_code("a-code", **kwargs)


def test_grant_codes_through_the_admin_api(zoho_emulator: ZohoEmulator) -> None:
    url = f"{zoho_emulator.base_url}/__emulator__/grant_codes"
    answer = requests.post(
        url, json=[{"code": "admin-1"}, {"code": "admin-2", "refresh_token": "1000.admin"}], timeout=10
    )
    assert answer.status_code == 200
    generated, chosen = answer.json()["refresh_tokens"]
    assert chosen == "1000.admin"
    assert code_grant(zoho_emulator, "admin-1")["refresh_token"] == generated
    refused = requests.post(url, json=[{"code": "admin-3"}, {"code": 4}], timeout=10)
    assert refused.status_code == 400
    assert "'code' string" in refused.json()["error"]
    assert code_grant(zoho_emulator, "admin-3") == {"error": "invalid_code"}  # nothing half-applied


# -- the CLI, in process ------------------------------------------------------------------------------------


def test_the_printed_connection_lets_a_hook_get_a_token(emu: ZohoEmulator, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, err = run(argv(emu, "--analytics-org-id", "55522777", "--creator-environment", "stage"))
    assert code == 0, err
    name, connection = exported(out)
    assert name == "AIRFLOW_CONN_ZOHO_DEFAULT"
    extra = connection["extra"]
    assert (connection["login"], connection["password"], connection["host"]) == (
        CLIENT.client_id,
        CLIENT.client_secret,
        emu.base_url,
    )
    assert {k: v for k, v in extra.items() if k != "refresh_token"} == {
        "data_center": "eu",
        "analytics_org_id": "55522777",
        "creator_environment": "stage",
    }
    assert extra["refresh_token"].startswith("1000.")
    # The airflow command holds the same connection.
    options = added(out)
    assert options["--conn-type"] == "zoho"
    assert (options["--conn-login"], options["--conn-password"], options["--conn-host"]) == (
        CLIENT.client_id,
        CLIENT.client_secret,
        emu.base_url,
    )
    assert json.loads(options["--conn-extra"]) == extra
    # The credentials went in the form body, never in the URL.
    (exchange,) = [r for r in emu.received_requests() if r.path == "/oauth/v2/token"]
    assert exchange.query_string == ""
    assert b"grant_type=authorization_code" in exchange.body
    # What a user does with it: the hook gets an access token with the refresh token.
    monkeypatch.setenv(name, json.dumps(connection))
    token = ZohoHook("zoho_default").get_access_token()
    assert token.value in emu.issued_tokens
    assert emu.token_requests(extra["refresh_token"]) == 1


def test_missing_values_are_asked_for_and_secrets_without_echo(emu: ZohoEmulator) -> None:
    asked: list[str] = []
    asked_secretly: list[str] = []

    def ask(prompt: str) -> str:
        asked.append(prompt)
        return {"Client ID: ": f"  {CLIENT.client_id}\n"}.get(prompt, "\n")  # empty data center: us

    def ask_secret(prompt: str) -> str:
        asked_secretly.append(prompt)
        return {"Client Secret: ": CLIENT.client_secret, "Grant code: ": f"{GRANT_CODE} "}[prompt]

    code, out, err = run(["--accounts-url", emu.base_url], ask=ask, ask_secret=ask_secret)
    assert code == 0, err
    assert asked == ["Data center (us, eu, in, au, jp, cn, ca, sa, uk) [us]: ", "Client ID: "]
    assert asked_secretly == ["Client Secret: ", "Grant code: "]
    _, connection = exported(out)
    assert connection["login"] == CLIENT.client_id  # pasted spaces and line breaks are gone
    assert connection["extra"]["data_center"] == "us"


def test_print_env_and_print_command_print_one_line_each(emu: ZohoEmulator) -> None:
    emu.add_grant_code("second-code")
    code, out, _ = run(argv(emu, "--print", "env"))
    assert code == 0
    assert out.count("\n") == 1
    assert exported(out)[1]["extra"]["data_center"] == "eu"
    code, out, _ = run(argv(emu, "--print", "command", code="second-code"))
    assert code == 0
    assert out.count("\n") == 1
    assert json.loads(added(out)["--conn-extra"])["data_center"] == "eu"


def test_a_conn_id_no_shell_can_export_gets_the_command_only(emu: ZohoEmulator) -> None:
    code, out, _ = run(argv(emu, "--conn-id", "zoho-prod"))
    assert code == 0
    assert "export " not in out
    assert "AIRFLOW_CONN_ZOHO-PROD cannot be exported" in out
    assert "airflow connections add zoho-prod --conn-type zoho" in out
    code, _, err = run(argv(emu, "--conn-id", "zoho-prod", "--print", "env"))
    assert code == 1
    assert "--conn-id 'zoho-prod' cannot be an environment variable name" in err


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


Setup = Callable[[ZohoEmulator], list[str]]


def scripted(*faults: Fault) -> Setup:
    """The accounts server answers the exchange with these faults."""

    def setup(emulator: ZohoEmulator) -> list[str]:
        emulator.script_accounts(faults)
        return argv(emulator)

    return setup


def online_code(emulator: ZohoEmulator) -> list[str]:
    emulator.add_grant_code("online", offline=False)
    return argv(emulator, code="online")


REFUSALS: dict[str, tuple[Setup, str]] = {
    "invalid_code": (
        lambda e: argv(e, code="1000.never-given"),
        "refused the exchange with invalid_code: the grant code expired (they last the few minutes chosen when "
        "generating them) or was used already; generate a new grant code",
    ),
    "invalid_client": (
        lambda e: argv(e, secret="not-the-secret"),
        "refused the exchange with invalid_client: client id or secret wrong, or the client belongs to another "
        "data center; check --client-id and the client secret, and --data-center",
    ),
    "refused": (
        lambda e: [*argv(e)[:-1], f"http://127.0.0.1:{_closed_port()}"],
        "Could not reach Zoho accounts at 127.0.0.1:",
    ),
    "online code": (online_code, "gave an access token but no refresh token: the code was granted for online access"),
    "redirect": (
        scripted(Fault("redirect", location="https://elsewhere.example/x")),
        "redirected the request to elsewhere.example; it was not followed",
    ),
    "server error": (
        scripted(Fault("server_error", status=503, html=True)),
        "answered HTTP 503, a server error: try again in a minute",
    ),
    "echo": (scripted(Fault("echo", status=400)), "answered HTTP 400 with no Zoho answer (<!DOCTYPE html>"),
    "huge": (
        scripted(Fault("huge", size=5_000_000)),
        "sent an answer larger than 65,536 bytes, not a token answer: check --accounts-url",
    ),
    "throttled": (scripted(Fault("throttle")), "refused the exchange with Access Denied"),
}


@pytest.mark.parametrize("case", list(REFUSALS))
def test_refusals_are_one_sentence_without_secrets(emu: ZohoEmulator, case: str) -> None:
    setup, sentence = REFUSALS[case]
    code, out, err = run(setup(emu))
    assert code == 1
    assert out == ""
    assert sentence in err
    assert err.count("\n") == 1, err  # one sentence, no traceback
    assert err.rstrip().endswith(".")
    for secret in (CLIENT.client_secret, GRANT_CODE, "not-the-secret"):
        assert secret not in err


def test_the_network_cause_is_named() -> None:
    dns = requests.ConnectionError(OSError("wrapped"))
    dns.__cause__ = socket.gaierror(-2, "Name or service not known")
    assert network_cause(dns, 30) == "the host name did not resolve (DNS)"
    assert network_cause(requests.ReadTimeout("slow"), 7.5) == "no answer within 7.5 seconds"
    assert network_cause(requests.ConnectionError(ConnectionResetError()), 30) == "the connection was reset"


def test_an_echoed_request_comes_back_redacted(emu: ZohoEmulator) -> None:
    emu.script_accounts([Fault("echo", status=200)])
    settings = auth.settings_from(auth.parser().parse_args(argv(emu)), input, input)
    status, text = auth.exchange(settings)
    assert status == 200
    assert "grant_type=authorization_code" in text
    assert CLIENT.client_secret not in text
    assert GRANT_CODE not in text
    assert "client_secret=***" in text


def test_bad_values_are_refused_before_the_grant_code_is_spent(emu: ZohoEmulator) -> None:
    code, _, err = run(argv(emu, "--analytics-org-id", "org-55"))
    assert code == 1
    assert "analytics_org_id must be Zoho's numeric organization id" in err
    code, _, err = run([*argv(emu)[:-1], f"{emu.base_url}/?x=1"])
    assert code == 1
    assert "must not contain a query" in err
    assert emu.token_requests() == 0
    assert run(argv(emu))[0] == 0  # the code still works


def test_an_unknown_zoho_error_is_passed_on_redacted() -> None:
    text = json.dumps({"error": "invalid_redirect_uri", "error_description": "Redirect URI mismatch for ***"})
    with pytest.raises(auth.AuthError, match="invalid_redirect_uri: Redirect URI mismatch for \\*\\*\\*; check"):
        auth.read_grant(200, text, "accounts.zoho.com")


def test_an_api_domain_of_another_data_center_is_pointed_out() -> None:
    config = ZohoConnectionConfig.from_fields(
        "c", login="id", password="secret", host=None, extra={"refresh_token": "r", "data_center": "us"}
    )
    warning = auth.api_domain_warning(config, auth.Grant("r", "https://www.zohoapis.eu"))
    assert warning is not None
    assert "data center 'eu', not 'us'" in warning
    assert auth.api_domain_warning(config, auth.Grant("r", "https://www.zohoapis.com")) is None


# -- the CLI, as a user runs it -----------------------------------------------------------------------------


@pytest.fixture
def emulator_process() -> Iterator[tuple[str, str]]:
    """``python -m airflow_provider_zoho.testing --grant-code ...``: its URL and printed connection line."""
    with subprocess.Popen(
        [sys.executable, "-m", "airflow_provider_zoho.testing", "--grant-code", GRANT_CODE],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=ENV,
        cwd=REPO_ROOT,
    ) as proc:
        try:
            assert proc.stdout is not None
            url = proc.stdout.readline().strip().removeprefix("ZOHO_EMULATOR_URL=")
            yield url, proc.stdout.readline()
        finally:
            proc.terminate()
            proc.wait(timeout=30)


def test_subprocess_reads_secrets_from_stdin_without_a_terminal(
    emulator_process: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = emulator_process
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "airflow_provider_zoho.auth",
            "--data-center",
            "in",
            "--client-id",
            CLIENT.client_id,
            "--accounts-url",
            url,
        ],
        input=f"{CLIENT.client_secret}\n{GRANT_CODE}\n",
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO_ROOT,
        timeout=120,
        start_new_session=True,  # no controlling terminal: getpass reads stdin, as in CI
    )
    assert done.returncode == 0, done.stderr
    assert "Client Secret:" in done.stderr  # asked through getpass, which reads stdin without a terminal
    assert "Grant code:" in done.stderr
    assert CLIENT.client_secret not in done.stderr
    assert GRANT_CODE not in done.stderr
    # Stdout holds the connection alone (getpass's warning is on stderr), so it can be sourced from a file.
    assert all(line.startswith(("# ", "export ", "airflow ")) for line in done.stdout.splitlines()), done.stdout
    name, connection = exported(done.stdout)
    monkeypatch.setenv(name, json.dumps(connection))
    assert ZohoHook("zoho_default").get_access_token().value.startswith("1000.")
    # The grant code is spent: a second run says what to do, with exit code 1 and no traceback.
    again = subprocess.run(
        [sys.executable, "-m", "airflow_provider_zoho.auth", "--data-center", "in", "--accounts-url", url],
        input=f"{CLIENT.client_id}\n{CLIENT.client_secret}\n{GRANT_CODE}\n",
        capture_output=True,
        text=True,
        env=ENV,
        cwd=REPO_ROOT,
        timeout=120,
        start_new_session=True,  # no controlling terminal: getpass reads stdin, as in CI
    )
    assert again.returncode == 1
    assert "invalid_code" in again.stderr
    assert "Traceback" not in again.stderr
    assert again.stdout == ""


def test_the_console_script_runs_main() -> None:
    scripts = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    module, _, function = scripts["zoho-airflow-auth"].partition(":")
    assert getattr(importlib.import_module(module), function) is auth.main
