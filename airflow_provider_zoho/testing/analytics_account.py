"""The Zoho Analytics account the emulator holds: workspaces, their tables, and each table's columns.

The import endpoints (``analytics_import``) check against it what Zoho checks (the workspace and the table
exist, a new table's name is free), and it serves the metadata APIs as Zoho's AnalyticsClient reads them:

- ``GET /restapi/v2/workspaces``: ``data.ownedWorkspaces[]`` and ``data.sharedWorkspaces[]``
  (https://www.zoho.com/analytics/api/v2/metadata-api/get-all-workspaces.html);
- ``GET /restapi/v2/workspaces/{ws}/views``: ``data.views[]`` of ``viewId``, ``viewName``, ``viewType``
  (https://www.zoho.com/analytics/api/v2/metadata-api/get-views.html);
- ``GET /restapi/v2/views/{view_id}``: ``data.views`` with ``columns[]`` of ``columnName``, ``dataType``...
  (https://www.zoho.com/analytics/api/v2/metadata-api/get-view-details.html).

The keys beyond those named are *unverified* (read from Zoho's samples, not from a schema), and so is where
the org header is required: the emulator asks for ``ZANALYTICS-ORGID`` on a workspace's views and on a
view's details, as AnalyticsClient's ``WorkspaceAPI`` and ``ViewAPI`` send it, not on the workspace list.
Errors come from https://zoho.com/analytics/api/v2/metadata-api/error-codes.html: 7103 an unknown
workspace, 7104 an unknown view.

The default account holds what the repository's tests, example DAGs and demo load: the workspace and table of
``tests/helpers.py`` (``WORKSPACE``, ``VIEW``) and the example DAG's Contacts table. Others are declared with
:meth:`AnalyticsAccount.add_workspace` / :meth:`AnalyticsAccount.add_table`, or over HTTP with
``POST /__emulator__/analytics_workspaces`` (the body of :meth:`AnalyticsAccount.declare`).

A table's rows are what the export endpoints (``analytics_export``) serve: rows given one by one, then any number
of synthetic rows generated from their index when read (:meth:`Table.row`), never stored, so a test can export a
million rows cheaply. They are seeded with :meth:`AnalyticsAccount.seed_rows` or ``POST
/__emulator__/analytics_rows`` (:data:`ROWS_ADMIN_PATH`). Imports do not add rows: the import side counts a
file's rows and keeps none of them.
"""

from __future__ import annotations

import datetime
import itertools
import json
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from airflow_provider_zoho.testing.dialects import EMULATED_PRODUCTS, Answer
from airflow_provider_zoho.testing.incoming import access_token

__all__ = ["ADMIN_PATH", "ROWS_ADMIN_PATH", "AnalyticsAccount", "Column", "Table", "Workspace", "synthetic_value"]

PRODUCT = EMULATED_PRODUCTS["analytics_import"]
#: The admin endpoint that declares workspaces and tables (under the server's ``ADMIN_PREFIX``).
ADMIN_PATH = "/__emulator__/analytics_workspaces"
#: The admin endpoint that seeds a table's rows (see :meth:`AnalyticsAccount.seed_rows`).
ROWS_ADMIN_PATH = "/__emulator__/analytics_rows"
WORKSPACES_PATH = "/restapi/v2/workspaces"
VIEWS_PATH = "/restapi/v2/workspaces/{workspace_id}/views"
VIEW_PATH = "/restapi/v2/views/{view_id}"
WORKSPACE_PATH = "/restapi/v2/workspaces/{workspace_id}"
ORG_HEADER = "ZANALYTICS-ORGID"
#: The data type a column gets when none is said (Zoho's name for text, as its samples spell it).
DEFAULT_TYPE = "Plain Text"


@dataclass(frozen=True, slots=True)
class Column:
    """A table's column: its name and Zoho's data type name ("Plain Text", "Number", "Date"...)."""

    name: str
    data_type: str = DEFAULT_TYPE


@dataclass(slots=True)
class Table:
    """A table (a view of type "Table") of a workspace."""

    view_id: str
    name: str
    columns: list[Column] = field(default_factory=list)
    #: rows seeded one by one, each a value per column in the columns' order.
    rows: list[tuple[str, ...]] = field(default_factory=list)
    #: synthetic rows after ``rows``, generated from their index when read (never stored).
    synthetic: int = 0

    def column_names(self) -> list[str]:
        """Return the columns' names, in order."""
        return [column.name for column in self.columns]

    def column(self, name: str) -> Column | None:
        """Return the column of that name (*unverified*: Zoho compares column names without case), or None."""
        folded = name.casefold()
        return next((column for column in self.columns if column.name.casefold() == folded), None)

    def row_count(self) -> int:
        """Return how many rows the table holds: the seeded ones plus the synthetic ones."""
        return len(self.rows) + self.synthetic

    def row(self, index: int) -> tuple[str, ...]:
        """Return row ``index`` (0-based): a seeded row, or past them a synthetic one made from its index.

        :param index: ``0 <= index < row_count()``.
        :return: a value per column, in the columns' order.
        """
        if index < len(self.rows):
            return self.rows[index]
        number = index - len(self.rows)
        return tuple(synthetic_value(column, number) for column in self.columns)


@dataclass(slots=True)
class Workspace:
    """A workspace; ``org_id`` None: reachable from any organization."""

    workspace_id: str
    name: str
    org_id: str | None = None
    tables: dict[str, Table] = field(default_factory=dict)  # by view id

    def table_named(self, name: str) -> Table | None:
        """Return the table of that name; *unverified*: Zoho compares table names without case."""
        folded = name.casefold()
        return next((table for table in self.tables.values() if table.name.casefold() == folded), None)


# The default account: what tests/helpers.py, example_dags/example_zoho_analytics.py and scripts/demo.py load.
_SALES_COLUMNS = (
    ("Date", "Date"),
    ("Region", DEFAULT_TYPE),
    ("Product Category", DEFAULT_TYPE),
    ("Product", DEFAULT_TYPE),
    ("Customer Name", DEFAULT_TYPE),
    ("Last_Name", DEFAULT_TYPE),
    ("Email", "E-Mail"),
    ("Sales", "Currency"),
    ("Cost", "Currency"),
)
_CONTACTS_COLUMNS = (("Last_Name", DEFAULT_TYPE), ("First_Name", DEFAULT_TYPE), ("Email", "E-Mail"))
DEFAULT_WORKSPACES: tuple[tuple[str, str, str, str, tuple[tuple[str, str], ...]], ...] = (
    ("35130000001055707", "Sales Analytics", "35130000001234567", "Sales", _SALES_COLUMNS),
    ("1767024000003145002", "Marketing", "1767024000003145010", "Contacts", _CONTACTS_COLUMNS),
)


class AnalyticsAccount:
    """The workspaces and tables, thread-safe (tests change them while the server's loop reads them)."""

    def __init__(self, *, defaults: bool = True) -> None:
        """Start with the default account, or an empty one.

        :param defaults: hold ``DEFAULT_WORKSPACES``.
        """
        self.lock = threading.RLock()
        self.workspaces: dict[str, Workspace] = {}
        self._ids = itertools.count(1)
        if defaults:
            for workspace_id, name, view_id, table, columns in DEFAULT_WORKSPACES:
                self.add_workspace(workspace_id, name)
                self.add_table(workspace_id, table, columns, view_id=view_id)

    # -- declaring ------------------------------------------------------------------------------------------
    def add_workspace(self, workspace_id: str, name: str, org_id: str | None = None) -> Workspace:
        """Add a workspace (or replace one of that id, with no tables).

        :param workspace_id: its id (digits, as Zoho's).
        :param name: its name.
        :param org_id: the organization it belongs to; None: any.
        :return: the workspace.
        """
        workspace = Workspace(str(workspace_id), name, None if org_id is None else str(org_id))
        with self.lock:
            self.workspaces[workspace.workspace_id] = workspace
        return workspace

    def add_table(
        self,
        workspace_id: str,
        name: str,
        columns: Iterable[str | tuple[str, str] | Column],
        view_id: str | None = None,
    ) -> Table:
        """Add a table to a workspace.

        :param workspace_id: a workspace already added.
        :param name: the table's name.
        :param columns: its columns: names, ``(name, data type)`` pairs or :class:`Column`.
        :param view_id: its id; default a new one.
        :return: the table.
        :raises KeyError: no such workspace.
        :raises ValueError: the workspace already has a table of that name.
        """
        with self.lock:
            workspace = self.workspaces[str(workspace_id)]
            if workspace.table_named(name) is not None:
                raise ValueError(f"workspace {workspace_id} already has a table named {name!r}")
            table = Table(view_id or self.new_view_id(), name, [_column(column) for column in columns])
            workspace.tables[table.view_id] = table
        return table

    def new_view_id(self) -> str:
        """Return an id no view has yet."""
        with self.lock:
            return str(35_130_000_005_000_000 + next(self._ids))

    def declare(self, payload: Any) -> dict[str, Any]:
        """Add a workspace and its tables from the admin API's form.

        ``{"workspace_id": "1", "name": "Ops", "org_id": "55", "tables": [{"name": "T", "view_id": "2",
        "columns": ["A", {"name": "B", "type": "Number"}]}]}`` (``org_id``, ``view_id``, ``type`` optional).

        :param payload: the decoded JSON object.
        :return: ``{"view_ids": {table name: view id}}``.
        :raises ValueError: an unknown key, or a value of the wrong type.
        """
        if not isinstance(payload, dict):
            raise ValueError("expected a JSON object")
        if unknown := set(payload) - {"workspace_id", "name", "org_id", "tables"}:
            raise ValueError(f"a workspace takes workspace_id, name, org_id and tables, not {sorted(unknown)}")
        tables = payload.get("tables") or []
        if not isinstance(tables, list) or not all(isinstance(t, dict) and t.get("name") for t in tables):
            raise ValueError("tables must be a list of objects with a name")
        workspace_id = str(payload["workspace_id"])
        with self.lock:
            self.add_workspace(workspace_id, str(payload.get("name") or workspace_id), payload.get("org_id"))
            ids = {}
            for table in tables:
                columns = [
                    (str(c["name"]), str(c.get("type") or DEFAULT_TYPE)) if isinstance(c, dict) else str(c)
                    for c in table.get("columns") or []
                ]
                view_id = None if table.get("view_id") is None else str(table["view_id"])
                ids[str(table["name"])] = self.add_table(workspace_id, str(table["name"]), columns, view_id).view_id
        return {"view_ids": ids}

    def seed_rows(
        self,
        workspace_id: str,
        view_id: str,
        rows: Iterable[Sequence[Any] | Mapping[str, Any]] = (),
        count: int = 0,
        *,
        replace: bool = False,
    ) -> int:
        """Give a table rows for the export endpoints to serve.

        :param workspace_id: the table's workspace.
        :param view_id: the table's id.
        :param rows: rows to add, each a value per column (in order) or ``{column name: value}``.
        :param count: synthetic rows to add after them, generated from their index when read (never stored).
        :param replace: drop the table's rows first.
        :return: the table's row count afterwards.
        :raises KeyError: no such workspace or table.
        :raises ValueError: a row with more values than columns, a name no column has, or a negative count.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be a whole number >= 0, got {count!r}")
        with self.lock:
            table = self.table(str(workspace_id), str(view_id))
            if table is None:
                raise KeyError(f"workspace {workspace_id} has no table {view_id}")
            names = table.column_names()
            added = [_row_values(names, row) for row in rows]
            if replace:
                table.rows, table.synthetic = [], 0
            table.rows.extend(added)
            table.synthetic += count
            return table.row_count()

    # -- reading ----------------------------------------------------------------------------------------------
    def workspace(self, workspace_id: str) -> Workspace | None:
        """Return the workspace, or None."""
        with self.lock:
            return self.workspaces.get(workspace_id)

    def table(self, workspace_id: str, view_id: str) -> Table | None:
        """Return the workspace's table ``view_id``, or None."""
        with self.lock:
            workspace = self.workspaces.get(workspace_id)
            return None if workspace is None else workspace.tables.get(view_id)

    def find_view(self, view_id: str) -> tuple[Workspace, Table] | None:
        """Return the table ``view_id`` and its workspace, whichever workspace holds it."""
        with self.lock:
            for workspace in self.workspaces.values():
                if view_id in workspace.tables:
                    return workspace, workspace.tables[view_id]
        return None

    # -- serving ----------------------------------------------------------------------------------------------
    def add_routes(self, app: web.Application, token_valid: Callable[[str | None], bool]) -> None:
        """Route the metadata GETs and the admin POST to this object.

        :param app: the emulator's application.
        :param token_valid: whether an access token is one the emulator issued and still honours.
        """

        def guarded(handler: Callable[[web.Request], web.StreamResponse], *, org: bool) -> Callable[[web.Request], Any]:
            async def serve(request: web.Request) -> web.StreamResponse:
                if not token_valid(access_token(request)):
                    return _response(PRODUCT.invalid_token())
                if org and not request.headers.get(ORG_HEADER):
                    return _response(PRODUCT.error(8083))
                return handler(request)

            return serve

        app.router.add_get(WORKSPACES_PATH, guarded(self._workspaces, org=False))
        app.router.add_get(VIEWS_PATH, guarded(self._views, org=True))
        # Zoho's AnalyticsClient.py 2.1.0 (zoho-analytics-connector 1.5.3) sends its get_view_details and
        # get_workspace_details without the org header: a view or workspace id names it alone (the header's
        # need on these two calls is *unverified* on Zoho's pages).
        app.router.add_get(VIEW_PATH, guarded(self._view, org=False))
        app.router.add_get(WORKSPACE_PATH, guarded(self._workspace, org=False))
        app.router.add_post(ADMIN_PATH, self._admin)
        app.router.add_post(ROWS_ADMIN_PATH, self._admin_rows)

    def _visible(self, workspace: Workspace, org_id: str | None) -> bool:
        return workspace.org_id is None or org_id is None or workspace.org_id == org_id

    def _workspaces(self, request: web.Request) -> web.StreamResponse:
        org_id = request.headers.get(ORG_HEADER)
        with self.lock:
            owned = [
                {"workspaceId": w.workspace_id, "workspaceName": w.name, "orgId": w.org_id or org_id or ""}
                for w in self.workspaces.values()
                if self._visible(w, org_id)
            ]
        data = {"ownedWorkspaces": owned, "sharedWorkspaces": []}
        return web.json_response({"status": "success", "summary": "Get all workspaces", "data": data})

    def _workspace(self, request: web.Request) -> web.StreamResponse:
        """Serve a workspace's details, ``data.workspaces`` an object (where AnalyticsClient 2.1.0 reads it).

        Keys beyond the id, name and org id are *unverified* (Zoho's "Get Workspace Details" sample).
        """
        workspace = self.workspace(request.match_info["workspace_id"])
        if workspace is None:
            return _response(PRODUCT.error(7103))
        details = {
            "workspaceId": workspace.workspace_id,
            "workspaceName": workspace.name,
            "orgId": workspace.org_id or request.headers.get(ORG_HEADER) or "",
            "isDefault": False,
        }
        summary = "Get workspace details"
        return web.json_response({"status": "success", "summary": summary, "data": {"workspaces": details}})

    def _views(self, request: web.Request) -> web.StreamResponse:
        workspace = self.workspace(request.match_info["workspace_id"])
        if workspace is None:
            return _response(PRODUCT.error(7103))
        if not self._visible(workspace, request.headers.get(ORG_HEADER)):
            return _response(PRODUCT.error(7387))
        with self.lock:
            views = [
                {"viewId": t.view_id, "viewName": t.name, "viewType": "Table", "workspaceId": workspace.workspace_id}
                for t in workspace.tables.values()
            ]
        return web.json_response({"status": "success", "summary": "Get views", "data": {"views": views}})

    def _view(self, request: web.Request) -> web.StreamResponse:
        found = self.find_view(request.match_info["view_id"])
        if found is None:
            return _response(PRODUCT.error(7104))
        workspace, table = found
        with self.lock:
            columns = [
                {
                    "columnId": f"{table.view_id}{index:03d}",
                    "columnName": column.name,
                    "dataType": column.data_type,
                    "columnIndex": index,
                }
                for index, column in enumerate(table.columns, 1)
            ]
        view = {
            "viewId": table.view_id,
            "viewName": table.name,
            "viewType": "Table",
            "workspaceId": workspace.workspace_id,
            "columns": columns,
        }
        return web.json_response({"status": "success", "summary": "Get view details", "data": {"views": view}})

    async def _admin(self, request: web.Request) -> web.Response:
        try:
            result = self.declare(await request.json())
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True, **result})

    async def _admin_rows(self, request: web.Request) -> web.Response:
        """Serve ``POST /__emulator__/analytics_rows``: :meth:`seed_rows` from its JSON form.

        ``{"workspace_id", "view_id", "rows"?: [[...] or {...}], "count"?: N, "replace"?: false}``.
        """
        try:
            payload = await request.json()
            if not isinstance(payload, dict):
                raise ValueError("expected a JSON object")
            if unknown := set(payload) - {"workspace_id", "view_id", "rows", "count", "replace"}:
                raise ValueError(f"rows take workspace_id, view_id, rows, count and replace, not {sorted(unknown)}")
            rows = payload.get("rows") or []
            if not isinstance(rows, list):
                raise ValueError("rows must be a list")
            total = self.seed_rows(
                str(payload["workspace_id"]),
                str(payload["view_id"]),
                rows,
                payload.get("count") or 0,
                replace=bool(payload.get("replace")),
            )
        except (ValueError, TypeError, KeyError) as exc:
            return web.json_response({"ok": False, "error": f"{type(exc).__name__}: {exc}"}, status=400)
        return web.json_response({"ok": True, "row_count": total})


def synthetic_value(column: Column, number: int) -> str:
    """Return synthetic row ``number``'s value in ``column``, from its data type (the same every time).

    :param column: the column.
    :param number: the synthetic row's index among the synthetic rows.
    :return: the value as exported text: a number, a date, an e-mail or ``"<column> <number>"``.
    """
    kind = column.data_type.casefold()
    if kind in ("number", "positive number", "decimal number", "currency", "percent", "auto number"):
        return str(number + 1)
    if kind in ("date", "date time"):
        return (_EPOCH + datetime.timedelta(days=number % 3650)).isoformat()
    if kind == "e-mail":
        return f"user{number + 1}@example.com"
    return f"{column.name} {number + 1}"


_EPOCH = datetime.date(2024, 1, 1)


def _row_values(names: list[str], row: Sequence[Any] | Mapping[str, Any]) -> tuple[str, ...]:
    if isinstance(row, Mapping):
        unknown = set(row) - set(names)
        if unknown:
            raise ValueError(f"no column named {sorted(unknown)}; the table has {names}")
        return tuple("" if row.get(name) is None else str(row[name]) for name in names)
    if isinstance(row, str | bytes) or not isinstance(row, Sequence):
        raise ValueError(f"a row is a list of values or an object, got {row!r}")
    if len(row) > len(names):
        raise ValueError(f"a row holds at most {len(names)} values (the table's columns), got {len(row)}")
    values = ["" if value is None else str(value) for value in row]
    return tuple(values + [""] * (len(names) - len(values)))


def _column(column: str | tuple[str, str] | Column) -> Column:
    if isinstance(column, Column):
        return column
    if isinstance(column, str):
        return Column(column)
    return Column(str(column[0]), str(column[1]))


def _response(answer: Answer) -> web.Response:
    return web.Response(
        status=answer.status, body=json.dumps(answer.body).encode(), content_type="application/json", charset="utf-8"
    )
