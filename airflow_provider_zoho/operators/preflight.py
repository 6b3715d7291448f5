"""What the load operators' checks before spending share: naming an unknown name with the closest known one.

Each operator asks its product's metadata APIs (``ZohoJobOperator.preflight_problems``); the messages are
written here so that every product says "no field ``Emial``; did you mean ``Email``?" the same way.
"""

from __future__ import annotations

import difflib
from collections.abc import Collection, Iterable

# How alike a known name must be to be suggested for an unknown one (difflib's ratio, 0 to 1).
SUGGESTION_CUTOFF = 0.6


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
        problems.append(f"{name!r} is no {what}" + (f"; did you mean {suggestion!r}?" if suggestion else ""))
    return problems
