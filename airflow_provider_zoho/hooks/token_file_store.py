"""An opt-in token store shared by processes on one machine (or one shared volume).

Reschedule mode starts a new worker process for every poke, so the in-process cache starts empty each time
and every poke would spend one of Zoho's 10 token requests per 10 minutes. With ``[zoho] token_cache_dir``
set, processes share tokens through one file per connection key that holds only the access token and its
expiry: created 0600 in a 0700 folder, replaced atomically, refreshed under an exclusive lock so that
processes poking together still make one request.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

from airflow_provider_zoho.hooks.token_cache import AccessToken


class FileTokenStore:
    # fcntl rather than the ``filelock`` package: Airflow runs on POSIX only, and this is one flock call.
    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)

    def _path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold the key's exclusive lock: one process at a time may refresh its token."""
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        descriptor = os.open(self.folder / f"{key}.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            yield
        finally:
            os.close(descriptor)  # closing releases the lock

    def load(self, key: str) -> AccessToken | None:
        try:
            stored = json.loads(self._path(key).read_text())
            return AccessToken(value=str(stored["access_token"]), expires_at=float(stored["expires_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None  # absent, half-written by a crashed writer, or foreign: refresh instead

    def save(self, key: str, token: AccessToken) -> None:
        self.folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        temporary = self.folder / f".{key}.{os.getpid()}.tmp"
        descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            json.dump({"access_token": token.value, "expires_at": token.expires_at}, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, self._path(key))

    def discard(self, key: str, rejected: str) -> None:
        """Drop the stored token if it is the one Zoho rejected."""
        with self.locked(key):
            stored = self.load(key)
            if stored is not None and stored.value == rejected:
                self._path(key).unlink(missing_ok=True)
