"""``make test-wheel``'s check, run by a fresh virtualenv's Python that holds only the built wheel and Airflow.

What a user who installed the wheel relies on, as they would use it: the package imports from site-packages,
with its data files; ``airflow providers list`` shows the provider at the package's version; the
``zoho-airflow-auth`` console script runs; and ``airflow connections test`` on a ``zoho`` connection, refused
while ``[core] test_connection`` keeps Airflow's default (Disabled), refreshes a token at the connection's
accounts server once it is Enabled, and fails on a wrong client secret. The Zoho end is the emulator the
wheel ships, so the check also shows ``airflow_provider_zoho.testing`` works from the wheel.

Run it with ``python -P`` (the Makefile does) so the repository cannot shadow the installed package, and with
``AIRFLOW_HOME`` pointing at an empty folder of its own.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Mapping
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import airflow_provider_zoho
from airflow_provider_zoho.testing import ZohoEmulator, airflow_connection_json

DISTRIBUTION = "airflow-provider-zoho"
BIN = Path(sys.executable).parent
CONN_ID = "zoho_wheel_check"
WRONG_SECRET = "not-the-client-secret"


class CheckFailed(Exception):
    """One thing the installed wheel does not do; the message says what was seen."""


def run(command: list[str], env: Mapping[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """A command from the virtualenv's bin folder, its output kept to quote in a failure."""
    return subprocess.run(
        [str(BIN / command[0]), *command[1:]],
        env={**os.environ, **(env or {})},
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )


def expect(condition: bool, what: str, result: subprocess.CompletedProcess[str] | None = None) -> None:
    if not condition:
        output = f"\n--- exit {result.returncode}\n{result.stdout}{result.stderr}" if result else ""
        raise CheckFailed(what + output)
    print(f"ok: {what}")


def check_the_package_comes_from_the_wheel() -> None:
    location = Path(airflow_provider_zoho.__file__).resolve()
    expect(Path(sys.prefix).resolve() in location.parents, f"the package imports from the virtualenv ({location})")
    package = files("airflow_provider_zoho")
    expect(package.joinpath("py.typed").is_file(), "py.typed is installed")
    jobs = json.loads(package.joinpath("testing/example_jobs.json").read_text(encoding="utf-8"))
    expect(isinstance(jobs, list) and bool(jobs), "testing/example_jobs.json is installed and lists jobs")


def check_airflow_lists_the_provider() -> None:
    result = run(["airflow", "providers", "list", "--output", "json"])
    listed = (
        {row["package_name"]: row["version"] for row in json.loads(result.stdout)} if result.returncode == 0 else {}
    )
    expect(
        listed.get(DISTRIBUTION) == version(DISTRIBUTION) == airflow_provider_zoho.__version__,
        f"airflow providers list shows {DISTRIBUTION} {airflow_provider_zoho.__version__}",
        result,
    )


def check_the_console_script_runs() -> None:
    result = run(["zoho-airflow-auth", "--help"])
    expect(result.returncode == 0 and "usage:" in result.stdout, "zoho-airflow-auth --help runs", result)


def check_connections_test(emulator: ZohoEmulator) -> None:
    """The docs' Test button section, as the CLI sees it: off by default, a real token refresh when on."""
    right = airflow_connection_json(emulator.base_url)
    wrong_secret = airflow_connection_json(
        emulator.base_url, ZohoEmulator.DEFAULT_CLIENT._replace(client_secret=WRONG_SECRET)
    )
    connection = f"AIRFLOW_CONN_{CONN_ID.upper()}"
    command = ["airflow", "connections", "test", CONN_ID]
    os.environ.pop("AIRFLOW__CORE__TEST_CONNECTION", None)  # Airflow's default, whatever the caller's shell says

    disabled = run(command, {connection: right})
    expect(
        disabled.returncode != 0 and "disabled" in disabled.stdout + disabled.stderr,
        "airflow connections test is refused while [core] test_connection keeps its default",
        disabled,
    )
    expect(emulator.token_requests() == 0, "and asks Zoho nothing")

    enabled = {"AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    success = run(command, {connection: right, **enabled})
    expect(
        success.returncode == 0 and "Connection success!" in success.stdout,
        "with AIRFLOW__CORE__TEST_CONNECTION=Enabled it passes",
        success,
    )
    expect(emulator.token_requests() == 1, "after one token refresh at the connection's accounts server")

    failure = run(command, {connection: wrong_secret, **enabled})
    expect(
        failure.returncode != 0 and "invalid_client" in failure.stdout,
        "and fails, quoting Zoho's invalid_client, on a wrong client secret",
        failure,
    )
    expect(WRONG_SECRET not in failure.stdout + failure.stderr, "without printing the secret", failure)


def main() -> int:
    try:
        check_the_package_comes_from_the_wheel()
        check_airflow_lists_the_provider()
        check_the_console_script_runs()
        with ZohoEmulator() as emulator:
            emulator.add_client(*ZohoEmulator.DEFAULT_CLIENT)
            check_connections_test(emulator)
    except CheckFailed as failed:
        print(f"FAILED: {failed}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
