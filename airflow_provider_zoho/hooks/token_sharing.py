"""Where processes share Zoho access tokens beyond their own memory, by default.

Zoho grants 10 token requests per 10 minutes per refresh token, refuses every request for the rest of a
spent window (locking out every other integration of that refresh token too), and keeps at most 15 live
tokens (the 16th invalidates the oldest). A deployment runs many processes (a task process per try, per
poke in reschedule mode, one triggerer or several, the API server's Test button), so a token cached per
process is not enough: it must be shared, with no setting needed.

Two layers, each on by default, each an optimisation that never fails a task:

* **this machine**: ``FileTokenStore`` in a private folder (``[zoho] token_cache_dir``, default
  ``$AIRFLOW_HOME/zoho_tokens``, 0700), refreshed under an exclusive lock, so the processes of one machine
  make one request between them;
* **every machine** (Celery or Kubernetes workers, several triggerers, sharing no disk): an Airflow Variable
  per connection key (``[zoho] share_tokens_through_variables``). On Airflow 3 tasks and triggers reach
  Variables through the API server's Task SDK, a part every deployment already runs: no shared disk and no
  new service. The Variable holds only the access token and its expiry (never the refresh token or the
  secret), checked like a file before use; its key contains ``token``, which Airflow's masker hides in the
  UI, the API and logs.

Why Variables and not the metadata database or a cache service: workers on Airflow 3 have no database
access, and a broker (Redis) is not in every deployment; the API server is. Machines race only on the first
request of each token's life (a machine that finds a fresh Variable uses it), so a deployment holds about
one live token per refresh token, a few when machines miss together, far under Zoho's 15.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from airflow_provider_zoho.compat import AIRFLOW_V_3_0_PLUS, conf
from airflow_provider_zoho.hooks.token_cache import AccessToken
from airflow_provider_zoho.hooks.token_file_store import (
    MAX_TOKEN_FILE_BYTES,
    FileTokenStore,
    parse_token_file,
    token_file_content,
)

log = logging.getLogger(__name__)

SECTION = "zoho"
FOLDER_OPTION = "token_cache_dir"
VARIABLES_OPTION = "share_tokens_through_variables"
DEFAULT_FOLDER_NAME = "zoho_tokens"
# Values of token_cache_dir that turn the file layer off.
OFF = frozenset({"off", "none", "false", "no", "0"})
# The Variable's key: "token" in it makes Airflow mask the value wherever it shows Variables.
VARIABLE_PREFIX = "zoho_access_token_"
DESCRIPTION = "A Zoho access token shared by this deployment's tasks and triggers (airflow-provider-zoho)."

_warned: set[str] = set()
_warned_lock = threading.Lock()


def _warn_once(message: str) -> None:
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning("%s", message)


class VariableTokenStore:
    """Tokens kept in Airflow Variables, one per connection key; implements ``token_cache.TokenStore``.

    Any failure (no API server reachable from this process, a Variable API refusing writes, a value this
    store did not write) reads as an empty store: the caller then asks Zoho, as it would without the store.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Create the store; it holds no state but the clock, the Variables are the state.

        :param clock: wall-clock time in epoch seconds, against which a stored expiry is checked.
        """
        self._clock = clock

    @staticmethod
    def key(key: str) -> str:
        """Return the Variable's key for a connection's token key.

        :param key: the connection's token key (``ZohoConnectionConfig.token_cache_key``).
        :return: the key prefixed with ``VARIABLE_PREFIX``, whose "token" makes Airflow mask the value.
        """
        return VARIABLE_PREFIX + key

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """No lock across machines: Variables have none. Racing machines make one request each, at most."""
        yield

    def load(self, key: str) -> AccessToken | None:
        """Return the token another machine shared for ``key``, or None if there is none to trust.

        :param key: the connection's token key.
        :return: the token, read as strictly as a token file; None also when Variables cannot be reached.
        """
        try:
            value = _variable().get(self.key(key), default=None)
        except Exception as error:  # any failure of the optional layer: go on without it
            _warn_once(f"Zoho tokens are not shared through Airflow Variables here ({type(error).__name__})")
            return None
        return _token_in(value, self._clock())

    def save(self, key: str, token: AccessToken) -> None:
        """Share ``token`` with every machine; a refused write is logged once and otherwise ignored.

        :param key: the connection's token key.
        :param token: the token this process obtained; only its value and expiry are written.
        """
        content = token_file_content(token).decode()
        try:
            _variable().set(
                self.key(key),
                content,
                description=DESCRIPTION,
            )
        except Exception as error:  # any failure of the optional layer: go on without it
            _warn_once(f"Zoho tokens could not be shared through Airflow Variables ({type(error).__name__})")

    def discard(self, key: str, rejected: str) -> None:
        """Delete the Variable if it holds the token Zoho rejected, not another machine's newer one.

        :param key: the connection's token key.
        :param rejected: the token value Zoho answered INVALID_TOKEN to.
        """
        stored = self.load(key)
        if stored is None or stored.value != rejected:
            return
        with contextlib.suppress(Exception):
            _variable().delete(self.key(key))


def _token_in(value: object, now: float) -> AccessToken | None:
    """Return the token a Variable's value holds, read as strictly as a token file (``parse_token_file``)."""
    if not isinstance(value, str) or len(value) > MAX_TOKEN_FILE_BYTES:
        return None
    return parse_token_file(value.encode(), now)


def _variable() -> Any:
    """Return Airflow's ``Variable``: the Task SDK's on Airflow 3 (through the API server), the model on 2.11."""
    from airflow.providers.common.compat.sdk import Variable

    return Variable


class AsyncVariableTokens:
    """The Variable layer for the triggerer, whose event loop no call may hold.

    The Task SDK's ``Variable.get`` is a synchronous request over the channel the triggerer's loop reads its
    own messages from: run in a worker thread, it stalled a real triggerer's heartbeat for half a minute,
    past Airflow's limit for handing its triggers to another triggerer. The same messages are therefore sent
    with the channel's own ``asend``, awaited on the loop. Outside a triggerer (no channel), or on an Airflow
    without these messages, this layer is empty.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        """Create the layer; the channel is looked up on each call, so it may be built outside a triggerer.

        :param clock: wall-clock time in epoch seconds, against which a stored expiry is checked.
        """
        self._clock = clock

    async def load(self, key: str) -> AccessToken | None:
        """Return the token another machine shared for ``key``, asked over the channel without blocking.

        :param key: the connection's token key.
        :return: the token, read as strictly as a token file; None when there is none or no channel.
        """
        try:
            from airflow.sdk.execution_time.comms import GetVariable

            answer = await _channel().asend(GetVariable(key=VariableTokenStore.key(key)))
        except Exception as error:  # any failure of the optional layer: go on without it
            _warn_once(f"Zoho tokens are not shared through Airflow Variables here ({type(error).__name__})")
            return None
        value = getattr(answer, "value", None)  # an ErrorResponse (no such Variable) has none
        return _token_in(value, self._clock())

    async def save(self, key: str, token: AccessToken) -> None:
        """Share ``token`` with every machine over the channel; a failure is logged once and ignored.

        :param key: the connection's token key.
        :param token: the token this process obtained; only its value and expiry are written.
        """
        content = token_file_content(token).decode()
        try:
            from airflow.sdk.execution_time.comms import PutVariable

            await _channel().asend(PutVariable(key=VariableTokenStore.key(key), value=content, description=DESCRIPTION))
        except Exception as error:  # any failure of the optional layer: go on without it
            _warn_once(f"Zoho tokens could not be shared through Airflow Variables ({type(error).__name__})")


def _channel() -> Any:
    """Return the Task SDK's channel to the supervisor (the triggerer's or a task runner's); raise where none is."""
    from airflow.sdk.execution_time.task_runner import SUPERVISOR_COMMS

    return SUPERVISOR_COMMS


class LayeredTokenStore:
    """This machine's files first, then every machine's Variables; implements ``token_cache.TokenStore``.

    A token found in the second layer is written to the first, so the machine's other processes find it
    without asking the API server.
    """

    def __init__(self, local: FileTokenStore | None, shared: VariableTokenStore | None) -> None:
        """Combine the two layers; either may be None (turned off by the settings).

        :param local: this machine's file store.
        :param shared: every machine's Variable store.
        """
        self.local = local
        self.shared = shared

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold each layer's lock for ``key``: in effect the file lock, since Variables have none.

        :param key: the connection's token key.
        """
        with contextlib.ExitStack() as stack:
            for layer in (self.local, self.shared):
                if layer is not None:
                    stack.enter_context(layer.locked(key))
            yield

    def load(self, key: str) -> AccessToken | None:
        """Return the token of the first layer that holds one, copying a Variable's into this machine's file.

        :param key: the connection's token key.
        :return: the token, or None when neither layer holds one that can be trusted.
        """
        token = self.local.load(key) if self.local is not None else None
        if token is None and self.shared is not None:
            token = self.shared.load(key)
            if token is not None and self.local is not None:
                self.local.save(key, token)
        return token

    def save(self, key: str, token: AccessToken) -> None:
        """Write ``token`` to every layer that is on.

        :param key: the connection's token key.
        :param token: the token this process obtained.
        """
        for layer in (self.local, self.shared):
            if layer is not None:
                layer.save(key, token)

    def discard(self, key: str, rejected: str) -> None:
        """Drop the rejected token from every layer that still holds it.

        :param key: the connection's token key.
        :param rejected: the token value Zoho answered INVALID_TOKEN to.
        """
        for layer in (self.local, self.shared):
            if layer is not None:
                layer.discard(key, rejected)


def token_folder() -> Path | None:
    """Return the folder ``[zoho] token_cache_dir`` names: empty means ``$AIRFLOW_HOME/zoho_tokens``.

    :return: the folder, or None when the setting is ``off`` (or ``none``, ``false``, ``no``, ``0``).
    """
    setting = (conf.get(SECTION, FOLDER_OPTION, fallback="") or "").strip()
    if setting.lower() in OFF:
        return None
    if setting:
        return Path(setting).expanduser()
    home = os.environ.get("AIRFLOW_HOME") or conf.get("core", "airflow_home", fallback=None) or "~/airflow"
    return Path(home).expanduser() / DEFAULT_FOLDER_NAME


def shares_through_variables() -> bool:
    """Tell whether ``[zoho] share_tokens_through_variables`` is on: by default on Airflow 3, off on 2.11.

    On Airflow 3 every task and trigger reaches Variables through the API server; on 2.11 they are read from
    the metadata database, so sharing through them is opt-in there (the docs' token-sharing table).

    :return: the setting, or its default for this Airflow.
    """
    return bool(conf.getboolean(SECTION, VARIABLES_OPTION, fallback=AIRFLOW_V_3_0_PLUS))


def async_variable_tokens() -> AsyncVariableTokens | None:
    """Return the triggerer's Variable layer, or None when the settings turn Variables off."""
    return AsyncVariableTokens() if shares_through_variables() else None


def shared_token_store(*, through_variables: bool = True) -> LayeredTokenStore | None:
    """Return the store the hooks use, as the settings say; None when both layers are off.

    :param through_variables: whether to include the (synchronous) Variable layer. The triggerer's hook
        passes False and uses ``AsyncVariableTokens`` instead (see there why).
    :return: the layered store, or None.
    """
    folder = token_folder()
    local = FileTokenStore(folder) if folder is not None else None
    shared = VariableTokenStore() if through_variables and shares_through_variables() else None
    return LayeredTokenStore(local, shared) if local is not None or shared is not None else None
