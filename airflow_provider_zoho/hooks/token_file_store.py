"""An opt-in token store shared by processes on one machine (or one shared volume).

Reschedule mode starts a new worker process for every poke, so the in-process cache starts empty each time
and every poke would spend one of Zoho's 10 token requests per 10 minutes. With ``[zoho] token_cache_dir``
set, processes share tokens through one file per connection key that holds only the access token and its
expiry: created 0600 in a 0700 folder, replaced atomically, refreshed under an exclusive lock so that
processes poking together still make one request.

The folder may be reachable by other local users, so nothing in it is trusted: the folder must be a real
directory (not a symbolic link) owned by this process's user and writable by no one else; files are opened
relative to it without following symbolic links, must be regular files of this user, and a loaded token
must be one a request can carry. A folder that fails these checks turns the store off, with one warning,
and tokens stay in the process (one token request per process, as without the store): the store saves
token requests, it never fails a task.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import logging
import math
import os
import re
import secrets
import stat
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from airflow_provider_zoho.hooks.token_cache import AccessToken, is_header_safe

log = logging.getLogger(__name__)

# A token file is ``{"access_token": "<~70 characters>", "expires_at": <float>}``: anything larger is not ours.
MAX_TOKEN_FILE_BYTES = 4096
# Zoho's access tokens live one hour: a stored expiry further ahead than this was not written by us, and
# would otherwise keep a forged or broken token in use for as long as it claims.
MAX_STORED_LIFETIME_SECONDS = 86400.0

# Keys are ``ZohoConnectionConfig.token_cache_key`` (hex digests and dashes): a plain file name, never a path.
_KEY = re.compile(r"[A-Za-z0-9_-][A-Za-z0-9_.-]{0,199}")
_NO_FOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC
# Non-blocking: opening a FIFO planted in place of a file must not hang the worker.
_READ_FLAGS = os.O_RDONLY | os.O_NONBLOCK | _NO_FOLLOW

_warned: set[str] = set()
_warned_lock = threading.Lock()


class UnsafeTokenFolderError(Exception):
    """``[zoho] token_cache_dir`` names a folder other local users could tamper with, or one unusable here."""


def folder_problem(folder: Path, status: os.stat_result, uid: int) -> UnsafeTokenFolderError | None:
    """Say why the directory with ``status`` must not hold tokens for user ``uid``, or return None if it may.

    :param folder: the folder's path, for the message.
    :param status: the folder's ``fstat``, taken on the descriptor that will be used (not on the path).
    :param uid: the user the folder must belong to (this process's effective uid).
    :return: the problem, naming the command that fixes it, or None for a folder only ``uid`` can write to.
    """
    where = f"[zoho] token_cache_dir {folder}"
    if status.st_uid != uid:
        return UnsafeTokenFolderError(
            f"{where} is owned by uid {status.st_uid}, not by this process's user (uid {uid}); "
            f"run `chown {uid} {folder}` or point token_cache_dir at a folder of this user"
        )
    mode = stat.S_IMODE(status.st_mode)
    if mode & (stat.S_IWGRP | stat.S_IWOTH):
        return UnsafeTokenFolderError(
            f"{where} is writable by other users (mode {mode:04o}), who could plant or swap token files; "
            f"run `chmod 700 {folder}`"
        )
    return None


def token_file_content(token: AccessToken) -> bytes:
    """Serialise what a store keeps of a token: the access token and its expiry, nothing else.

    :param token: the token to share.
    :return: the JSON bytes ``parse_token_file`` reads back (the file store's and the Variables' content).
    """
    return json.dumps({"access_token": token.value, "expires_at": token.expires_at}).encode()


def parse_token_file(content: bytes, now: float) -> AccessToken | None:
    """Return the token a stored file holds, or None if it is not one this store wrote and a request can carry.

    :param content: the file's (or Variable's) bytes; anything over ``MAX_TOKEN_FILE_BYTES`` is refused unread.
    :param now: the current wall-clock time: an expiry more than ``MAX_STORED_LIFETIME_SECONDS`` ahead is
        refused as not ours.
    :return: the token (its freshness is the cache's to check), or None.
    """
    if len(content) > MAX_TOKEN_FILE_BYTES:
        return None
    try:
        stored = json.loads(content)
    except (ValueError, RecursionError):  # half-written by a crashed writer, or not ours
        return None
    if not isinstance(stored, dict):
        return None
    value, expires_at = stored.get("access_token"), stored.get("expires_at")
    if not isinstance(value, str) or not is_header_safe(value):
        return None
    if isinstance(expires_at, bool) or not isinstance(expires_at, int | float):
        return None
    if not math.isfinite(expires_at) or expires_at > now + MAX_STORED_LIFETIME_SECONDS:
        return None
    return AccessToken(value=value, expires_at=float(expires_at))


def _warn_once(problem: UnsafeTokenFolderError) -> None:
    """Log why the store is off once per process and reason: every poke would otherwise repeat it."""
    message = str(problem)
    with _warned_lock:
        if message in _warned:
            return
        _warned.add(message)
    log.warning("%s. Zoho access tokens stay in this process: each new process requests its own.", message)


class _Foreign(Exception):
    """An entry in the folder that this store did not write: a symbolic link, FIFO, directory, another user's."""


class FileTokenStore:
    """One file per connection key in ``folder``; implements ``token_cache.TokenStore``.

    Every operation first opens the folder (no symbolic link followed) and checks it, so the store turns
    itself off while the folder is unsafe and on again once it is fixed; a hook needs no check of its own.
    """

    # fcntl rather than the ``filelock`` package: Airflow runs on POSIX only, and this is one flock call.
    def __init__(self, folder: str | os.PathLike[str], clock: Callable[[], float] = time.time) -> None:
        """Point the store at ``folder``; nothing is opened or created until the first operation.

        :param folder: the private folder (``[zoho] token_cache_dir``); created 0700 when absent.
        :param clock: wall-clock time in epoch seconds, against which a stored expiry is checked.
        """
        self.folder = Path(folder)
        self._clock = clock

    @contextlib.contextmanager
    def _directory(self) -> Iterator[int | None]:
        """Yield a descriptor of the checked folder (created 0700 if absent), or None when the store is off."""
        try:
            descriptor = self._open_folder()
        except (UnsafeTokenFolderError, OSError) as problem:
            _warn_once(problem if isinstance(problem, UnsafeTokenFolderError) else self._unusable(problem))
            yield None
            return
        try:
            yield descriptor
        finally:
            os.close(descriptor)

    def _open_folder(self) -> int:
        try:
            descriptor = self._open_directory()
        except FileNotFoundError:
            os.makedirs(self.folder, mode=0o700, exist_ok=True)
            descriptor = self._open_directory()
        problem = folder_problem(self.folder, os.fstat(descriptor), os.geteuid())
        if problem is not None:
            os.close(descriptor)
            raise problem
        return descriptor

    def _open_directory(self) -> int:
        try:
            return os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY | _NO_FOLLOW)
        except OSError:
            # ELOOP or ENOTDIR, depending on the flags' order of checks: lstat tells which.
            if self.folder.is_symlink():
                raise UnsafeTokenFolderError(
                    f"[zoho] token_cache_dir {self.folder} is a symbolic link, which another user could "
                    "redirect; point token_cache_dir at the real folder"
                ) from None
            raise

    def _unusable(self, error: OSError) -> UnsafeTokenFolderError:
        # The OS message names the failure (permission denied, read-only file system...), never a token.
        reason = error.strerror or type(error).__name__
        return UnsafeTokenFolderError(f"[zoho] token_cache_dir {self.folder} cannot be used: {reason}")

    @staticmethod
    def _names(key: str) -> tuple[str, str]:
        """Return the token file's and the lock file's names for ``key``; raise ValueError for a path."""
        if not _KEY.fullmatch(key):
            raise ValueError(
                f"token store key {key!r} is not a plain file name (letters, digits, '-', '_', '.'; not starting with '.')"
            )
        return f"{key}.json", f"{key}.lock"

    @contextlib.contextmanager
    def locked(self, key: str) -> Iterator[None]:
        """Hold the key's exclusive lock: one process at a time may refresh its token.

        Without a usable folder or lock file the block runs unlocked: at worst one extra token request.

        :param key: the connection's token key.
        """
        _, lock_name = self._names(key)
        with self._directory() as folder:
            descriptor = None if folder is None else self._open_lock(folder, lock_name)
            try:
                if descriptor is not None:
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
                yield
            finally:
                if descriptor is not None:
                    os.close(descriptor)  # closing releases the lock

    def _open_lock(self, folder: int, name: str) -> int | None:
        """Open the lock file, replacing whatever else was planted under its name; return None to go on without it."""
        for _attempt in range(2):
            try:
                return _open_own_file(name, os.O_RDWR | os.O_CREAT | os.O_NONBLOCK | _NO_FOLLOW, folder)
            except _Foreign:
                with contextlib.suppress(OSError):
                    os.unlink(name, dir_fd=folder)  # removes a symbolic link itself, never its target
            except OSError as error:
                _warn_once(self._unusable(error))
                return None
        # Planted again at once: refresh without the lock (at worst, one extra token request).
        _warn_once(UnsafeTokenFolderError(f"[zoho] token_cache_dir {self.folder}: {name} keeps being replaced"))
        return None

    def load(self, key: str) -> AccessToken | None:
        """Return the token stored for ``key``, or None if the file is absent, foreign or not a token.

        :param key: the connection's token key.
        :return: the token as ``parse_token_file`` accepts it; its freshness is the cache's to check.
        """
        token_name, _ = self._names(key)
        with self._directory() as folder:
            if folder is None:
                return None
            try:
                descriptor = _open_own_file(token_name, _READ_FLAGS, folder)
            except (_Foreign, OSError):
                return None  # absent, or not ours: refresh, and ``save`` replaces it
            try:
                content = _read_at_most(descriptor, MAX_TOKEN_FILE_BYTES + 1)
            except OSError:
                return None
            finally:
                os.close(descriptor)
        return parse_token_file(content, self._clock())

    def save(self, key: str, token: AccessToken) -> None:
        """Replace the token file for ``key`` atomically (a 0600 file renamed into place).

        A failure to write is logged once and otherwise ignored: the token stays in this process.

        :param key: the connection's token key.
        :param token: the token to share; only its value and expiry are written.
        """
        token_name, _ = self._names(key)
        content = token_file_content(token)
        with self._directory() as folder:
            if folder is None:
                return
            # An unpredictable name created exclusively: nothing planted in advance can be written through.
            temporary = f".{key}.{secrets.token_hex(8)}.tmp"
            try:
                descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _NO_FOLLOW, 0o600, dir_fd=folder)
                with os.fdopen(descriptor, "wb") as handle:
                    handle.write(content)
                    handle.flush()
                    os.fsync(handle.fileno())
                # Renaming replaces the entry itself: a symbolic link planted there is replaced, not followed.
                os.replace(temporary, token_name, src_dir_fd=folder, dst_dir_fd=folder)
            except OSError as error:
                with contextlib.suppress(OSError):
                    os.unlink(temporary, dir_fd=folder)
                _warn_once(self._unusable(error))

    def discard(self, key: str, rejected: str) -> None:
        """Drop the stored token if it is the one Zoho rejected, under the key's lock.

        :param key: the connection's token key.
        :param rejected: the token value Zoho answered INVALID_TOKEN to; another process's newer token is kept.
        """
        token_name, _ = self._names(key)
        with self.locked(key):
            stored = self.load(key)
            if stored is None or stored.value != rejected:
                return
            with self._directory() as folder, contextlib.suppress(OSError):
                if folder is not None:
                    os.unlink(token_name, dir_fd=folder)


def _open_own_file(name: str, flags: int, folder: int) -> int:
    """Open ``name`` in ``folder`` without following a link; raise ``_Foreign`` unless it is our regular file."""
    try:
        descriptor = os.open(name, flags, 0o600, dir_fd=folder)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise _Foreign(f"{name} is a symbolic link") from None
        raise
    status = os.fstat(descriptor)
    if not stat.S_ISREG(status.st_mode) or status.st_uid != os.geteuid():
        os.close(descriptor)
        raise _Foreign(f"{name} is not a regular file of this user")
    return descriptor


def _read_at_most(descriptor: int, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = os.read(descriptor, limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)
