"""A local Sphinx extension: the tables generated from the package at build time.

* ``zoho-error-table``: ``airflow_provider_zoho.errors.markdown_table()`` renders ``ERROR_RULES``, the rules
  the hooks classify with.
* ``zoho-task-scopes``: the OAuth scopes each operator and sensor needs, from ``airflow_provider_zoho.auth``'s
  ``TASK_CALLS`` (which calls each makes) and ``airflow_provider_zoho.products`` (which scopes each call
  needs), the very source of ``zoho-airflow-auth --scopes-for``.
* ``zoho-call-scopes``: the scopes of every call of every product, from ``PRODUCTS``.

So the pages cannot drift from the code and no copy of a table is checked in. The directives are meant for
MyST pages: their text is parsed as markdown there.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


def _codes(scopes: tuple[str, ...]) -> str:
    return ", ".join(f"`{scope}`" for scope in scopes) or "none"


def task_scopes_table() -> str:
    """Render the scopes of each operator and sensor as a markdown table."""
    from airflow_provider_zoho.auth import TASK_CALLS

    lines = [
        "| operator or sensor | scopes it needs | scopes of its checks before spending |",
        "|---|---|---|",
    ]
    for name, task in TASK_CALLS.items():
        needed = task.scopes(task.calls)
        checks = tuple(scope for scope in task.scopes(task.checks) if scope not in needed)
        lines.append(f"| `{name}` | {_codes(needed)} | {_codes(checks)} |")
    return "\n".join(lines)


def call_scopes_table() -> str:
    """Render the scopes of every call of every product as a markdown table."""
    from airflow_provider_zoho.products import PRODUCTS

    lines = ["| product | call | scopes |", "|---|---|---|"]
    for product in PRODUCTS.values():
        for call, scopes in product.scopes.items():
            lines.append(f"| {product.label} | `{call}` | {_codes(scopes)} |")
    return "\n".join(lines)


class _MarkdownTable(SphinxDirective):
    """A table rendered by a function of the package, parsed as the page's markdown."""

    has_content = False
    css_class = ""

    def markdown(self) -> str:
        raise NotImplementedError

    def run(self) -> list[nodes.Node]:
        container = nodes.container(classes=[self.css_class])
        source, _line = self.get_source_info()
        self.state.nested_parse(StringList(self.markdown().splitlines(), source=source), self.content_offset, container)
        return [container]


class ZohoErrorTable(_MarkdownTable):
    """Every rule of ``ERROR_RULES``: source, code, what it means, outcome."""

    css_class = "zoho-error-table"

    def markdown(self) -> str:
        from airflow_provider_zoho.errors import markdown_table

        return markdown_table()


class ZohoTaskScopes(_MarkdownTable):
    """The scopes of each operator and sensor."""

    css_class = "zoho-task-scopes"

    def markdown(self) -> str:
        return task_scopes_table()


class ZohoCallScopes(_MarkdownTable):
    """The scopes of every call of every product."""

    css_class = "zoho-call-scopes"

    def markdown(self) -> str:
        return call_scopes_table()


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("zoho-error-table", ZohoErrorTable)
    app.add_directive("zoho-task-scopes", ZohoTaskScopes)
    app.add_directive("zoho-call-scopes", ZohoCallScopes)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
