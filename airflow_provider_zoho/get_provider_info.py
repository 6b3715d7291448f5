"""What ``airflow providers list`` and the connection UI learn about this package, without importing it."""

from __future__ import annotations

from typing import Any

from airflow_provider_zoho import __version__
from airflow_provider_zoho.connection_form import CONN_FIELDS, CONN_TYPE, HOOK_NAME, UI_FIELD_BEHAVIOUR

INTEGRATION = "Zoho"


def get_provider_info() -> dict[str, Any]:
    """Return the provider's metadata, the ``apache_airflow_provider`` entry point's answer.

    Airflow reads it without importing the hooks: the connection form (3.2+), the ``[zoho]`` settings and
    the modules ``airflow providers`` lists.

    :return: the provider info dict, in the schema Airflow's ``provider_info.schema.json`` defines.
    """
    return {
        "package-name": "airflow-provider-zoho",
        "name": "Zoho",
        "description": "Operators that load files into Zoho CRM, Bigin, Analytics and Creator and export from them to any storage, and sensors and async triggers for Zoho Analytics, CRM, Bigin and Creator bulk jobs.",
        "versions": [__version__],
        "integrations": [
            {
                "integration-name": INTEGRATION,
                "external-doc-url": "https://www.zoho.com/developer/",
                "tags": ["service"],
            }
        ],
        "hooks": [
            {
                "integration-name": INTEGRATION,
                "python-modules": ["airflow_provider_zoho.hooks.zoho", "airflow_provider_zoho.hooks.zoho_async"],
            }
        ],
        "sensors": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_zoho.sensors.analytics",
                    "airflow_provider_zoho.sensors.crm",
                    "airflow_provider_zoho.sensors.bigin",
                    "airflow_provider_zoho.sensors.creator",
                ],
            }
        ],
        "operators": [
            {
                "integration-name": INTEGRATION,
                "python-modules": [
                    "airflow_provider_zoho.operators.bulk_write",
                    "airflow_provider_zoho.operators.analytics",
                    "airflow_provider_zoho.operators.creator",
                    "airflow_provider_zoho.operators.bulk_read",
                    "airflow_provider_zoho.operators.creator_read",
                    "airflow_provider_zoho.operators.analytics_export",
                ],
            }
        ],
        "triggers": [{"integration-name": INTEGRATION, "python-modules": ["airflow_provider_zoho.triggers.job"]}],
        "config": {
            "zoho": {
                "description": "Settings of the Zoho provider.",
                "options": {
                    "token_cache_dir": {
                        "description": (
                            "The folder where the processes of one machine share Zoho access tokens (one 0600 "
                            "file per connection in a 0700 folder, holding only the token and its expiry), "
                            "refreshing under a lock so that they make one token request between them. Empty: "
                            "$AIRFLOW_HOME/zoho_tokens. 'off': tokens are cached per process only. Zoho allows "
                            "10 token requests per 10 minutes per refresh token."
                        ),
                        "version_added": "0.1.0",
                        "type": "string",
                        "example": "/var/lib/airflow/zoho-tokens",
                        "default": "",
                    },
                    "share_tokens_through_variables": {
                        "description": (
                            "Share Zoho access tokens between machines (Celery or Kubernetes workers, several "
                            "triggerers) through one Airflow Variable per connection, named zoho_access_token_<key>, "
                            "holding only the access token and its expiry (masked wherever Airflow shows "
                            "Variables). Default: on for Airflow 3, where tasks and triggers reach Variables "
                            "through the API server; off for Airflow 2."
                        ),
                        "version_added": "0.1.0",
                        "type": "boolean",
                        "example": "False",
                        "default": None,
                    },
                },
            }
        },
        # The "Zoho" button of every operator and sensor (links.py).
        "extra-links": ["airflow_provider_zoho.links.ZohoLink"],
        "connection-types": [
            {
                "hook-class-name": "airflow_provider_zoho.hooks.zoho.ZohoHook",
                "hook-name": HOOK_NAME,
                "connection-type": CONN_TYPE,
                "conn-fields": CONN_FIELDS,
                "ui-field-behaviour": UI_FIELD_BEHAVIOUR,
            }
        ],
    }
