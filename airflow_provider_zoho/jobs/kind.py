"""What a Zoho job kind is: where its status lives and how to read it, checked when the kind is created.

In the spirit of botocore's declarative waiters: a ``JobKind`` says where to GET, which fields hold the
state, which states mean success, failure or pending, and what the summary counts are. One sensor base
class and one trigger serve every kind.
"""

from __future__ import annotations

import functools
import re
import string
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.products import Dialect, quoted_path


def normalize_state(state: object) -> str:
    """Return ``state`` in the one spelling states are compared in: upper case, without spaces, ``_`` or ``-``.

    Zoho spells one state many ways (``IN PROGRESS``, ``INPROGRESS``, ``In-progress``, ``IN_PROGRESS``).

    :param state: a state as Zoho wrote it; any value, made text first.
    :return: the normalised state.
    """
    return _normalized(str(state))


_SEPARATORS = re.compile(r"[\s_\-]+")


# A job answers the same few spellings poll after poll: remembered, the regex runs once per spelling, not
# several times per poll (a triggerer polls thousands of jobs). Bounded, since the text comes from the answer.
@functools.lru_cache(maxsize=256)
def _normalized(text: str) -> str:
    return _SEPARATORS.sub("", text).upper()


def states(*names: str) -> frozenset[str]:
    """Return a kind's set of states as Zoho spells them, normalised once for comparison.

    :param names: the states, as Zoho's docs spell them.
    :return: their normalised forms, for ``JobKind.succeeded``, ``failed`` or ``pending``.
    """
    return frozenset(normalize_state(name) for name in names)


def values_at(document: Any, path: str) -> list[Any]:
    """Return every value at a dotted path, where ``name[]`` steps into each element of a list.

    ``values_at(body, "resource[].file.status")`` gives one status per resource. Missing keys and values
    of the wrong shape yield nothing rather than raising: a partial answer is treated as "state unknown".

    :param document: a decoded JSON answer.
    :param path: the dotted path, such as ``data.jobInfo.viewId``.
    :return: the values found, in document order; empty when there are none.
    """
    current: list[Any] = [document]
    for key, is_list in _steps(path):
        following: list[Any] = []
        for node in current:
            value = node.get(key) if isinstance(node, dict) else None
            if value is None:
                continue
            if is_list:
                following.extend(value if isinstance(value, list) else [])
            else:
                following.append(value)
        current = following
    return current


@functools.cache  # the paths are a kind's own, a handful: parsed once, not on every poll
def _steps(path: str) -> tuple[tuple[str, bool], ...]:
    """Split a dotted path into (key, steps into a list) pairs."""
    return tuple((step[:-2], True) if step.endswith("[]") else (step, False) for step in path.split("."))


@dataclass(frozen=True)
class JobKind:
    """Where a kind's status lives and how to read it.

    ``path`` is formatted with the path coordinates (URL-quoted); ``headers`` maps a header to the optional
    coordinate that supplies it. ``id_coordinate`` is the path coordinate holding the job's own id.
    ``state_fields[0]`` is the job's own state; any later field (such as a CRM resource's status) can only
    turn the job into a failure. ``counts`` maps a summary name to the field(s) holding it, summed across
    list elements. A kind that contradicts itself is refused when it is created, not when a job is polled.
    """

    name: str
    label: str
    service: Service
    dialect: Dialect
    path: str
    path_coordinates: tuple[str, ...]
    state_fields: tuple[str, ...]
    succeeded: frozenset[str]
    failed: frozenset[str]
    pending: frozenset[str]
    counts: Mapping[str, str]
    response_field: str | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    numeric_coordinates: tuple[str, ...] = ("job_id",)
    failure_code_field: str | None = None
    failure_message_field: str | None = None
    state_notes: Mapping[str, str] = field(default_factory=dict)
    choices: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    id_coordinate: str = "job_id"
    # Which counts say how many records landed, and which one is the total: the rest did not land (skipped,
    # failed or unprocessed), which is what ``max_failed_records`` counts. Unset: the kind cannot say.
    landed_counts: tuple[str, ...] = ()
    total_count: str | None = None
    # Where a count is read when its ``counts`` path holds nothing: Zoho's sources disagree on where some
    # fields live (Creator's ``record_details`` inside ``data`` in the docs, beside it in the OpenAPI file;
    # docs/zoho-api.md, "Job status lifecycles").
    count_fallbacks: Mapping[str, str] = field(default_factory=dict)
    # Where the job's own state is read when ``state_fields[0]`` holds nothing, for the same reason (Creator's
    # bulk read: ``details.status`` in its docs' samples, a top-level ``status`` in community code).
    state_fallbacks: tuple[str, ...] = ()
    # Where a finished job's result can be downloaded from (the read kinds), for the summary's ``download_url``.
    result_link_field: str | None = None

    def __post_init__(self) -> None:
        """Refuse a kind that contradicts itself, now rather than at the first poll of one of its jobs.

        :raises ValueError: naming every problem (see ``_kind_problems``).
        """
        if problems := _kind_problems(self):
            raise ValueError(f"JobKind {self.name!r}: " + "; ".join(problems))

    @property
    def optional_coordinates(self) -> tuple[str, ...]:
        """The coordinates sent as headers (``headers``' values): a sensor may leave them out."""
        return tuple(self.headers.values())

    @property
    def header_of(self) -> dict[str, str]:
        """The header each optional coordinate is sent in."""
        return {name: header for header, name in self.headers.items()}

    @property
    def coordinate_names(self) -> tuple[str, ...]:
        """Every coordinate a sensor of this kind takes, in the order it takes them."""
        return (*self.path_coordinates, *self.optional_coordinates)

    def url_path(self, coordinates: Mapping[str, str | None]) -> str:
        """Return the status path, each coordinate quoted into one segment.

        The hooks are public and take coordinates unchecked: whatever else a caller skipped, a '.' or '..'
        segment (which quoting leaves as is, and which would move the token's request to another path) is
        refused here.

        :param coordinates: the job's coordinates.
        :return: the path, to append to the service's base URL.
        """
        return quoted_path(self.path, {name: coordinates[name] for name in self.path_coordinates}, self.label)

    def request_headers(self, coordinates: Mapping[str, str | None]) -> dict[str, str]:
        """Return the headers a status request carries: each optional coordinate given, in its header.

        :param coordinates: the job's coordinates.
        :return: header name to value; a coordinate that is None or empty sends no header.
        """
        return {header: str(value) for header, name in self.headers.items() if (value := coordinates.get(name))}

    def not_landed(self, counts: Mapping[str, int]) -> int | None:
        """Return the records of a finished job that did not land, or ``None`` when its answer lacks the counts.

        Those are ``total_count`` minus the ``landed_counts``, never below 0.

        :param counts: the job's counts (``JobStatus.counts``), or their sum over several jobs.
        :return: the records that did not land, or None (also for a kind without ``total_count``).
        """
        if self.total_count is None or self.total_count not in counts:
            return None
        return max(0, counts[self.total_count] - sum(counts.get(name, 0) for name in self.landed_counts))

    def job_id_of(self, coordinates: Mapping[str, object]) -> str:
        """Return the job's own id among its coordinates, as Zoho knows it (for logs, events and the summary).

        :param coordinates: the job's coordinates.
        :return: the value of ``id_coordinate``, as text.
        :raises ValueError: the coordinates lack it.
        """
        value = coordinates.get(self.id_coordinate)
        if value is None:
            raise ValueError(f"{self.label}: no {self.id_coordinate} among the coordinates {sorted(coordinates)}")
        return str(value)


def _kind_problems(kind: JobKind) -> list[str]:
    """Return what makes a kind unusable, found when it is created rather than at the first poll of a job."""
    problems: list[str] = []
    if not re.fullmatch(r"[a-z][a-z0-9_]*", kind.name):
        problems.append("name must be a lowercase identifier such as 'crm_bulk_read'")
    placeholders = [name for _, name, _, _ in string.Formatter().parse(kind.path) if name is not None]
    problems += [
        f"path uses {{{name}}}, which path_coordinates does not list"
        for name in placeholders
        if name not in kind.path_coordinates
    ]
    problems += [
        f"path_coordinates lists {name}, which path does not use"
        for name in kind.path_coordinates
        if name not in placeholders
    ]
    if kind.id_coordinate not in kind.path_coordinates:
        problems.append(f"id_coordinate {kind.id_coordinate!r} is not one of path_coordinates {kind.path_coordinates}")
    problems += [
        f"headers take {name}, which is already a path coordinate"
        for name in kind.optional_coordinates
        if name in kind.path_coordinates
    ]
    problems += [
        f"numeric_coordinates lists {name}, which is not a coordinate (it defaults to ('job_id',): set it)"
        for name in kind.numeric_coordinates
        if name not in kind.coordinate_names
    ]
    problems += [
        f"choices lists {name}, which is not a coordinate" for name in kind.choices if name not in kind.coordinate_names
    ]
    if not kind.state_fields:
        problems.append("state_fields must name at least the job's own state")
    problems += [
        f"landed_counts names {name}, which counts does not define"
        for name in (*kind.landed_counts, *filter(None, [kind.total_count]))
        if name not in kind.counts
    ]
    problems += [
        f"count_fallbacks names {name}, which counts does not define"
        for name in kind.count_fallbacks
        if name not in kind.counts
    ]
    return problems
