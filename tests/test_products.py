"""Each Zoho product's facts are written once: in its record in ``products.py``, read everywhere else.

The scan reads the package's code (not its docstrings or comments) for Zoho API paths and header names. The
emulator under ``testing/`` is left out on purpose: it writes Zoho's facts independently of the code it tests.
"""

from __future__ import annotations

import ast
from collections import Counter
from pathlib import Path

import pytest

from airflow_provider_zoho.errors import ERROR_RULES, Outcome
from airflow_provider_zoho.products import ANALYTICS, CREATOR, CRM, PRODUCTS, quoted_path

PACKAGE = Path(__file__).resolve().parents[1] / "airflow_provider_zoho"
# The roots every Zoho API path of this provider starts with; the accounts server's token path is not a
# product's, and is written once in hooks/exchange.py.
PATH_ROOTS = ("/crm/", "/bigin/", "/restapi/", "/creator/", "/oauth/")


def _code_strings(path: Path) -> list[str]:
    """Every string constant of a module's code, f-string parts included, docstrings left out."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def _modules() -> dict[str, list[str]]:
    return {
        str(path.relative_to(PACKAGE)): _code_strings(path)
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.relative_to(PACKAGE).parts[0] != "testing"
    }


def test_zoho_paths_are_written_in_one_module_each() -> None:
    where: dict[str, set[str]] = {}
    for module, strings in _modules().items():
        for text in strings:
            for root in PATH_ROOTS:
                if root in text:
                    where.setdefault(root, set()).add(module)
    assert where["/oauth/"] == {"hooks/exchange.py"}
    for root in ("/crm/", "/bigin/", "/restapi/", "/creator/"):
        assert where[root] == {"products.py"}, f"{root} paths are written outside products.py: {where[root]}"


def test_distinct_header_names_are_written_only_in_the_records() -> None:
    # "environment" and "feature" are also ordinary coordinate and role names, so only the names that are
    # Zoho's alone are scanned for.
    distinct = {name for product in PRODUCTS.values() for name in product.headers.values() if not name.islower()}
    assert distinct == {"X-CRM-ORG", "ZANALYTICS-ORGID"}
    found = Counter(
        (name, module)
        for module, strings in _modules().items()
        for text in strings
        for name in distinct
        if name in text
    )
    assert {module for _, module in found} == {"products.py"}
    assert found[("X-CRM-ORG", "products.py")] == 1
    assert found[("ZANALYTICS-ORGID", "products.py")] == 1


def test_busy_codes_are_rows_of_the_error_table() -> None:
    busy = {(rule.dialect, rule.code): rule for rule in ERROR_RULES if rule.outcome is Outcome.KEEP_POLLING}
    for product in PRODUCTS.values():
        for code, meaning in product.busy_codes.items():
            assert busy[(product.dialect, code)].meaning == meaning
    assert {"8134", "8132"} <= set(ANALYTICS.busy_codes)
    assert set(CREATOR.busy_codes) == {"11110"}


def test_paths_quote_each_value_into_one_segment() -> None:
    assert CRM.path("bulk_write_job", job_id="a/b?c") == "/crm/bulk/v8/write/a%2Fb%3Fc"
    assert (
        CREATOR.path("bulk_insert_job", account_owner_name="o", app_link_name="a", form_link_name="f", job_id="1")
        == "/creator/v2.1/bulk/o/a/form/f/insert/1"
    )
    with pytest.raises(ValueError, match=r"job_id must be a name, not '\.' or '\.\.'"):
        quoted_path("/x/{job_id}", {"job_id": ".."}, "a test path")


def test_scopes_are_listed_once_per_product() -> None:
    assert CREATOR.scope_list()[:3] == ("ZohoCreator.bulk.CREATE", "ZohoCreator.bulk.UPDATE", "ZohoCreator.bulk.READ")
    assert CRM.scope_list()[:2] == ("ZohoCRM.bulk.CREATE", "ZohoCRM.modules.{module}.ALL")
    assert len(set(CRM.scope_list())) == len(CRM.scope_list())
