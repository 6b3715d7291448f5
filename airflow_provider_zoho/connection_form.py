"""The ``zoho`` connection form, declared once.

Airflow 3.2+ builds the form from ``conn-fields``/``ui-field-behaviour`` in the provider info without
importing the hook; Airflow 2.11's UI asks the hook for wtforms widgets. Both read these two dicts.
"""

from __future__ import annotations

from typing import Any

from airflow_provider_zoho.connection_config import (
    CREATOR_ENVIRONMENTS,
    DEFAULT_MAX_CONCURRENT_REQUESTS,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_REQUEST_TIMEOUT,
)
from airflow_provider_zoho.data_centers import DATA_CENTERS, DEFAULT_DATA_CENTER
from airflow_provider_zoho.products import ANALYTICS, CREATOR, CRM

CONN_TYPE = "zoho"
DEFAULT_CONN_ID = "zoho_default"
HOOK_NAME = "Zoho"

CONN_FIELDS: dict[str, dict[str, Any]] = {
    "refresh_token": {
        "label": "Refresh Token",
        "schema": {"type": ["string", "null"], "format": "password"},
        "description": "Zoho OAuth refresh token (grant with the bulk/read scopes your sensors need).",
    },
    "data_center": {
        "label": "Data Center",
        "schema": {"type": ["string", "null"], "default": DEFAULT_DATA_CENTER, "enum": list(DATA_CENTERS)},
        "description": "Where your Zoho account lives: " + ", ".join(DATA_CENTERS) + ".",
    },
    "analytics_org_id": {
        "label": "Analytics Org ID",
        "schema": {"type": ["string", "null"]},
        "description": f"Sent as the {ANALYTICS.headers['org']} header; a sensor's org_id overrides it.",
    },
    "creator_environment": {
        "label": "Creator Environment",
        "schema": {"type": ["string", "null"], "enum": [None, *CREATOR_ENVIRONMENTS]},
        "description": f"Sent as the {CREATOR.headers['environment']} header for Creator; leave empty for production.",
    },
    "crm_org_id": {
        "label": "CRM/Bigin Org ID (zgid)",
        "schema": {"type": ["string", "null"]},
        "description": f"Sent as the {CRM.headers['org']} header of bulk write uploads; empty: looked up once from the "
        "org API.",
    },
    "upload_host": {
        "label": "Upload Host",
        "schema": {"type": ["string", "null"]},
        "description": "Base URL bulk write files are uploaded to; empty: the data center's (content.zohoapis.com...).",
    },
    "timeout": {
        "label": "Request Timeout (seconds)",
        "schema": {"type": ["number", "null"], "default": DEFAULT_REQUEST_TIMEOUT},
        "description": "How long one HTTP request to Zoho may take, whole.",
    },
    "max_response_bytes": {
        "label": "Max Answer Size (bytes)",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_RESPONSE_BYTES},
        "description": "The most bytes of one answer the hooks read (after decompression); larger is refused.",
    },
    "max_concurrent_requests": {
        "label": "Max Concurrent Requests",
        "schema": {"type": ["integer", "null"], "default": DEFAULT_MAX_CONCURRENT_REQUESTS},
        "description": "Requests of this connection in flight at once per process; keep below your edition's limit.",
    },
}

UI_FIELD_BEHAVIOUR: dict[str, Any] = {
    "hidden-fields": ["schema", "port", "extra"],
    "relabeling": {"login": "Client ID", "password": "Client Secret", "host": "Base URL override"},
    "placeholders": {
        "login": "1000.XXXXXXXXXXXXXXXXXXXXXXXXXXXXXX",
        "host": "leave empty for Zoho; set for a proxy or the local emulator (http://127.0.0.1:PORT)",
        "data_center": DEFAULT_DATA_CENTER,
    },
}


def hook_field_behaviour() -> dict[str, Any]:
    """Return ``UI_FIELD_BEHAVIOUR`` with the snake_case keys ``BaseHook.get_ui_field_behaviour`` returns."""
    return {key.replace("-", "_"): value for key, value in UI_FIELD_BEHAVIOUR.items()}


def wtforms_widgets() -> dict[str, Any]:
    """Build Airflow 2.11's UI form fields; imported lazily because Airflow 3 has no Flask-AppBuilder.

    Airflow 2.11 accepts only string, password, integer and boolean fields, so a choice is a text field whose
    description lists the choices; the connection config rejects anything else with a clear message.

    :return: one wtforms field per entry of ``CONN_FIELDS``, by name.
    """
    from flask_appbuilder.fieldwidgets import BS3PasswordFieldWidget, BS3TextFieldWidget
    from flask_babel import lazy_gettext
    from wtforms import PasswordField, StringField

    widgets: dict[str, Any] = {}
    for name, spec in CONN_FIELDS.items():
        schema = spec["schema"]
        if schema.get("format") == "password":
            field_class, widget = PasswordField, BS3PasswordFieldWidget()
        else:
            field_class, widget = StringField, BS3TextFieldWidget()
        widgets[name] = field_class(
            lazy_gettext(spec["label"]), widget=widget, description=spec["description"], default=schema.get("default")
        )
    return widgets
