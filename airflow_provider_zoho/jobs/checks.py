"""Checks of what a user gives a sensor or operator, made at parse time where the value is known then."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from airflow_provider_zoho.jobs.kind import JobKind


def is_template(value: str) -> bool:
    """Tell whether ``value`` is a Jinja template not rendered yet (it holds ``{{`` or ``{%``).

    :param value: an argument's text.
    :return: True for a template, whose value is known only once the task renders it.
    """
    return "{{" in value or "{%" in value


# A Zoho link name (Creator's owner, application and form names): no '/', no '.' or '..' path segment, nothing
# to quote. Zoho's own are letters, digits and '_' (app names also '-'); '.' is allowed inside for owner names.
_LINK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
_HEADER_VALUE = re.compile(r"[\x20-\x7e]+")


def coordinate_problems(kind: JobKind, coordinates: Mapping[str, Any], *, rendered: bool = False) -> list[str]:
    """Return what is wrong with a sensor's job coordinates, as messages that say how to fix it.

    Values that are not known yet (Jinja templates, XComArgs) are skipped at parse time; once ``rendered``,
    a value that is still a template or is not text or a whole number is a problem, not something to send.

    :param kind: the kind whose coordinates these are.
    :param coordinates: the values given, by coordinate name.
    :param rendered: the templates have been rendered (``execute``), so every value is known.
    :return: one message per problem; empty when there is none.
    """
    problems: list[str] = []
    for name in kind.coordinate_names:
        given = coordinates.get(name)
        value = str(given) if isinstance(given, int) and not isinstance(given, bool) else given
        if value is None and name in kind.optional_coordinates:
            continue
        if value is None or (isinstance(value, str) and not value.strip()):
            problems.append(f"{name} is required: pass the {kind.label}'s {name.replace('_', ' ')}")
        elif not isinstance(value, str) or is_template(value):
            if rendered:
                problems.append(_unrendered(name, value))
        elif problem := _value_problem(kind, name, value):
            problems.append(problem)
    return problems


def _unrendered(name: str, value: object) -> str:
    if isinstance(value, str):
        return f"{name} is still a template after rendering ({value!r}): it must render to the value itself"
    return f"{name} must render to text or a whole number, got {type(value).__name__} {value!r}"


def _value_problem(kind: JobKind, name: str, given: str) -> str | None:
    """Return the problem with one known coordinate value, if any; surrounding spaces are not sent, so not checked."""
    value = given.strip()
    # Even a trailing newline is refused in a header value: it says the value came from somewhere unexpected.
    if name in kind.optional_coordinates and not _HEADER_VALUE.fullmatch(given.strip(" ")):
        return (
            f"{name} is sent in the {kind.header_of[name]} header: it must be printable ASCII, without control "
            f"characters such as CR or LF, got {given!r}"
        )
    # Zoho ids are ASCII digits; str.isdigit() would also let superscripts and other scripts' digits through.
    if name in kind.numeric_coordinates:
        if not re.fullmatch(r"[0-9]+", value):
            return f"{name} must be Zoho's numeric id (digits only), got {value!r}"
    elif name in kind.path_coordinates and not _LINK_NAME.fullmatch(value):
        return (
            f"{name} must be a plain Zoho link name (ASCII letters, digits, '_', '-' and '.', not starting with "
            f"'.' or '-'), got {value!r}"
        )
    if name in kind.choices and value not in kind.choices[name]:
        return f"{name} must be one of {', '.join(kind.choices[name])}, got {value!r}"
    return None


# Zoho's job ids are ASCII digits (17 to 19 of them in every answer seen); 40 leaves room and bounds a log line.
MAX_JOB_ID_DIGITS = 40
_JOB_ID = re.compile(rf"[0-9]{{1,{MAX_JOB_ID_DIGITS}}}")


def job_id_problem(value: object) -> str | None:
    """Return why ``value`` cannot be a Zoho job id, or ``None`` when it can (digits, or a whole number).

    An id goes into URL paths, log lines and the task's state: anything but digits could move a request to
    another path (``/../``), forge a log line (CR/LF) or, once used in a file name, write outside a folder.
    The value is shown with ``repr`` and cut short, so the message itself forges nothing.

    :param value: a job id, as stored or given.
    :return: the reason, or None.
    """
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**MAX_JOB_ID_DIGITS:
        return None
    if isinstance(value, str) and _JOB_ID.fullmatch(value):
        return None
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return f"{shown} is not a Zoho job id (Zoho's ids are 1 to {MAX_JOB_ID_DIGITS} ASCII digits)"


def check_positive_seconds(what: str, value: object) -> float:
    """Return a duration in seconds as a float, checked to be a finite positive number.

    0, NaN or a string would busy-loop a wait.

    :param what: the argument's name, for the error.
    :param value: the duration given.
    :return: ``value`` as a float.
    :raises ValueError: it is not a finite positive number (a bool is not one either).
    """
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{what} must be a positive number of seconds, got {value!r}")
    return float(value)
