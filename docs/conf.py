"""Sphinx configuration of the airflow-provider-zoho docs (``make docs`` builds them, warnings as errors).

The pages are MyST markdown, the reference is reStructuredText for autodoc. Nothing here reaches the
network: no intersphinx, so references to Airflow's and Python's own objects stay plain text (see
``nitpick_ignore_regex``), while every reference to this package, and every link between pages, must
resolve (``make docs`` runs ``sphinx-build -n -W``).
"""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
# The package itself is installed in the docs virtualenv (`make docs` installs the checkout, editable).
sys.path.insert(0, str(DOCS / "_ext"))

import airflow_provider_zoho  # noqa: E402

project = "airflow-provider-zoho"
author = "airflow-provider-zoho developers"
copyright = "airflow-provider-zoho developers, Apache-2.0"
release = airflow_provider_zoho.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    # The error table of "What happens when Zoho fails", generated from ERROR_RULES at build time.
    "zoho_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", ".gitignore"]

myst_enable_extensions = ["colon_fence", "deflist"]
# Headings get anchors (#getting-credentials), as on GitHub, so that pages can link to each other's sections.
myst_heading_anchors = 4

html_theme = "furo"
html_title = f"airflow-provider-zoho {release}"
html_static_path: list[str] = []

autodoc_member_order = "bysource"
autodoc_default_options = {"members": True}
# Signatures without annotations: the parameters are described by each docstring's :param: fields, and the
# annotations name Airflow's and the standard library's types, which have no target without intersphinx.
autodoc_typehints = "none"
autoclass_content = "both"

nitpicky = True
# Only objects outside this package: Airflow's, Python's and third-party libraries' (no intersphinx offline).
nitpick_ignore_regex = [
    (r"py:.*", r"(airflow|pendulum|aiohttp|requests|urllib3|typing|collections|datetime|enum|pathlib)(\..*)?"),
    (r"py:.*", r"(str|int|float|bool|bytes|dict|list|tuple|set|frozenset|object|None|Any|Exception)"),
    # Airflow's exceptions, named bare in ``:raises:`` fields (AirflowFailException, AirflowSensorTimeout...).
    (r"py:exc", r"Airflow\w+"),
]
