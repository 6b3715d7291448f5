"""What the load operators' checks before spending share: reading a metadata answer, naming what is wrong.

Each operator asks its product's metadata APIs (``ZohoJobOperator.preflight_problems``); the pieces here read
those answers the same way (untrusted: entries of the wrong shape are skipped, names shown bounded) and write
the messages the same way: "no field ``Emial``; did you mean ``Email``?".
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable
from typing import Any

from airflow_provider_zoho.operators.csv_parts import CsvProblem, CsvRows, open_text, source_path

# How alike a known name must be to be suggested for an unknown one (difflib's ratio, 0 to 1).
SUGGESTION_CUTOFF = 0.6
# A name from an answer or a file is shown with ``repr`` (no control character reaches a log line) and cut.
MAX_SHOWN_CHARS = 80


def shown(name: str) -> str:
    """Return ``name`` as a message shows it: quoted, escaped, at most ``MAX_SHOWN_CHARS`` characters.

    :param name: a name from the user, a file or Zoho's answer.
    :return: its ``repr``, cut short with ``...``.
    """
    text = repr(name)
    return text if len(text) <= MAX_SHOWN_CHARS else text[: MAX_SHOWN_CHARS - 3] + "..."


def entries(answer: Any, key: str, name_key: str) -> dict[str, dict[str, Any]]:
    """Return a metadata answer's list under ``key`` by each entry's name (an entry without one is skipped).

    :param answer: the decoded answer (``{"fields": [{"api_name": ...}, ...]}``).
    :param key: where the list is.
    :param name_key: the key of each entry's name (``api_name``, ``link_name``).
    :return: the entries by name, in the answer's order.
    """
    items = answer.get(key) if isinstance(answer, dict) else None
    return {
        str(item[name_key]): item
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict) and item.get(name_key)
    }


def csv_header(file: str) -> list[str] | None:
    """Return the header of the CSV at ``file`` (a local path or an ObjectStoragePath URI), read alone.

    :param file: the file.
    :return: its column names; None for a zip or a file that cannot be read as CSV, which the load's own
        whole-file checks then name.
    """
    try:
        with source_path(file).open("rb") as raw:
            if raw.read(4) == b"PK\x03\x04":
                return None
        with open_text(file) as source:
            return CsvRows(source, max_columns=None).header
    except (CsvProblem, UnicodeDecodeError, OSError):
        return None


def closest(name: str, known: Collection[str]) -> str | None:
    """Return the known name closest to ``name`` (case aside), or None when none is close.

    :param name: the name the user gave.
    :param known: the names Zoho knows.
    :return: the suggestion.
    """
    by_folded = {candidate.casefold(): candidate for candidate in known}
    found = difflib.get_close_matches(name.casefold(), list(by_folded), n=1, cutoff=SUGGESTION_CUTOFF)
    return by_folded[found[0]] if found else None


def unknown_names(given: Iterable[str], known: Collection[str], what: str) -> list[str]:
    """Return one message per name in ``given`` that is not in ``known``, each with its closest known name.

    :param given: the names the user gave (a file's header, a mapping's fields).
    :param known: the names Zoho knows.
    :param what: what the names are, for the message ("field of module Contacts").
    :return: the messages, in the order of ``given``.
    """
    problems = []
    for name in dict.fromkeys(given):
        if name in known:
            continue
        suggestion = closest(name, known)
        problems.append(f"{shown(name)} is no {what}" + (f"; did you mean {shown(suggestion)}?" if suggestion else ""))
    return problems
