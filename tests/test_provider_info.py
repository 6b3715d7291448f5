"""The package as Airflow discovers it: entry point, connection type, form, config option."""

from __future__ import annotations

import warnings
from importlib.metadata import entry_points

import pytest

from airflow_provider_zoho.connection_form import CONN_FIELDS, UI_FIELD_BEHAVIOUR
from airflow_provider_zoho.data_centers import DATA_CENTERS
from airflow_provider_zoho.get_provider_info import get_provider_info
from airflow_provider_zoho.hooks import ZohoHook


def test_entry_point_points_at_get_provider_info() -> None:
    [entry_point] = [
        ep for ep in entry_points(group="apache_airflow_provider") if ep.value.startswith("airflow_provider_zoho")
    ]
    assert entry_point.load() is get_provider_info


def test_every_listed_module_imports() -> None:
    import importlib

    info = get_provider_info()
    modules = [
        module
        for section in ("hooks", "sensors", "operators", "triggers")
        for entry in info[section]
        for module in entry["python-modules"]
    ]
    for module in modules:
        importlib.import_module(module)
    hook_class = info["connection-types"][0]["hook-class-name"]
    module_name, _, class_name = hook_class.rpartition(".")
    assert getattr(importlib.import_module(module_name), class_name) is ZohoHook


def test_providers_manager_sees_the_connection_type_and_form() -> None:
    from airflow.providers_manager import ProvidersManager

    manager = ProvidersManager()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hook = manager.hooks["zoho"]
    assert hook is not None
    assert hook.hook_class_name == "airflow_provider_zoho.hooks.zoho.ZohoHook"
    assert {f"extra__zoho__{name}" for name in CONN_FIELDS} <= set(manager.connection_form_widgets)
    behaviour = manager.field_behaviours["zoho"]
    assert behaviour["relabeling"] == {"login": "Client ID", "password": "Client Secret", "host": "Base URL override"}
    assert {"schema", "port"} <= set(behaviour["hidden_fields"])
    assert manager.connection_form_widgets["extra__zoho__refresh_token"].is_sensitive


def test_form_offers_every_data_center_and_hides_the_same_fields_both_ways() -> None:
    assert CONN_FIELDS["data_center"]["schema"]["enum"] == list(DATA_CENTERS)
    behaviour = ZohoHook.get_ui_field_behaviour()
    assert behaviour["hidden_fields"] == UI_FIELD_BEHAVIOUR["hidden-fields"]
    assert behaviour["relabeling"] == UI_FIELD_BEHAVIOUR["relabeling"]


def test_wtforms_widgets_for_airflow_2_ui() -> None:
    pytest.importorskip("flask_appbuilder", reason="Airflow 3 has no Flask-AppBuilder UI; the 2.11 CI run covers this")
    widgets = ZohoHook.get_connection_form_widgets()
    assert set(widgets) == set(CONN_FIELDS)


def test_the_token_sharing_options_are_declared() -> None:
    options = get_provider_info()["config"]["zoho"]["options"]
    assert options["token_cache_dir"]["default"] == ""
    assert "$AIRFLOW_HOME/zoho_tokens" in options["token_cache_dir"]["description"]
    assert options["share_tokens_through_variables"]["type"] == "boolean"
    assert "Airflow 3" in options["share_tokens_through_variables"]["description"]
