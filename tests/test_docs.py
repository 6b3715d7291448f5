"""The docs' reference lists every public name of the four packages users import from."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

REFERENCE = Path(__file__).resolve().parents[1] / "docs" / "reference.rst"


@pytest.mark.parametrize("package", ["operators", "sensors", "hooks", "triggers", "testing"])
def test_every_exported_name_is_in_the_reference(package: str) -> None:
    module = importlib.import_module(f"airflow_provider_zoho.{package}")
    text = REFERENCE.read_text(encoding="utf-8")
    exported = list(module.__all__)
    assert exported, f"airflow_provider_zoho.{package} exports nothing"
    missing = [name for name in exported if f"airflow_provider_zoho.{package}.{name}" not in text]
    assert not missing, f"docs/reference.rst lacks {missing}"
