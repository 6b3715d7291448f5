"""What the sync and async Zoho hooks share: the connection they serve and a repr without secrets."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from urllib.parse import urlsplit

from airflow_provider_zoho.compat import BaseHook, Connection
from airflow_provider_zoho.connection_config import ZohoConnectionConfig
from airflow_provider_zoho.connection_form import CONN_TYPE, DEFAULT_CONN_ID, HOOK_NAME
from airflow_provider_zoho.data_centers import Service
from airflow_provider_zoho.hooks.token_cache import TOKEN_CACHE, TokenCache, TokenStore
from airflow_provider_zoho.hooks.token_sharing import shared_token_store
from airflow_provider_zoho.jobs import JobKind


class ZohoBaseHook(BaseHook):
    """What ``ZohoHook`` and ``ZohoAsyncHook`` share: the connection's id, the token cache and store, and messages.

    The class attributes register the ``zoho`` connection type with Airflow (its form is in
    ``connection_form``).
    """

    conn_name_attr = "zoho_conn_id"
    default_conn_name = DEFAULT_CONN_ID
    conn_type = CONN_TYPE
    hook_name = HOOK_NAME

    def __init__(self, zoho_conn_id: str = DEFAULT_CONN_ID, *, token_cache: TokenCache = TOKEN_CACHE) -> None:
        """Keep the connection's id; the connection itself is read later, when first needed.

        :param zoho_conn_id: the Airflow connection of type ``zoho`` to use.
        :param token_cache: where this process keeps access tokens; the shared ``TOKEN_CACHE`` unless a
            test isolates one.
        """
        super().__init__()
        self.zoho_conn_id = zoho_conn_id
        self._token_cache = token_cache

    @cached_property
    def token_store(self) -> TokenStore | None:
        """Return where this hook shares tokens with other processes and machines (see ``token_sharing``)."""
        return shared_token_store()

    def about_job(self, kind: JobKind, coordinates: Mapping[str, str | None]) -> str:
        """Name the job, its product and the connection: what every error about a poll starts with.

        :param kind: the job's kind (its product and API).
        :param coordinates: the job's coordinates, its id among them.
        :return: for example ``"Zoho CRM bulk write job 1 (connection 'zoho_default')"``.
        """
        return f"{kind.label} {kind.job_id_of(coordinates)} (connection {self.zoho_conn_id!r})"

    def about_token_request(self, config: ZohoConnectionConfig) -> str:
        """Name the token request and the connection: what every error about getting a token starts with.

        :param config: the connection's settings, whose accounts host is named.
        :return: for example ``"Token request to Zoho accounts at accounts.zoho.com (connection 'zoho_default')"``.
        """
        host = urlsplit(config.base_url(Service.ACCOUNTS)).netloc
        return f"Token request to Zoho accounts at {host} (connection {self.zoho_conn_id!r})"

    def __repr__(self) -> str:
        """Show the class and connection id only: no secret, and nothing read from the connection."""
        return f"{type(self).__name__}(zoho_conn_id={self.zoho_conn_id!r})"

    @staticmethod
    def _config_from(conn: Connection, extra: object) -> ZohoConnectionConfig:
        # ``extra`` is passed in: the sync hook reads ``extra_dejson``, the async one must not (it blocks).
        # Airflow types it as a dict but returns whatever the JSON held (a list, a string, None): checked there.
        return ZohoConnectionConfig.from_fields(
            conn.conn_id,
            login=conn.login,
            password=conn.password,
            host=conn.host,
            port=conn.port,
            schema=conn.schema,
            extra=extra,
        )
