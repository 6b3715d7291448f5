"""A local Sphinx extension: ``zoho-error-table``, the error table generated from the package at build time.

``airflow_provider_zoho.errors.markdown_table()`` renders ``ERROR_RULES``, the rules the hooks classify
with, so the page cannot drift from the code and no copy of the table is checked in. The directive is
meant for MyST pages: its text is parsed as markdown there.
"""

from __future__ import annotations

from typing import Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.application import Sphinx
from sphinx.util.docutils import SphinxDirective


class ZohoErrorTable(SphinxDirective):
    """Every rule of ``ERROR_RULES``: source, code, what it means, outcome."""

    has_content = False

    def run(self) -> list[nodes.Node]:
        from airflow_provider_zoho.errors import markdown_table

        container = nodes.container(classes=["zoho-error-table"])
        source, _line = self.get_source_info()
        self.state.nested_parse(
            StringList(markdown_table().splitlines(), source=source), self.content_offset, container
        )
        return [container]


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_directive("zoho-error-table", ZohoErrorTable)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
