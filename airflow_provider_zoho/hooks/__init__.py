"""Hooks that talk to Zoho: ``ZohoHook`` for workers (blocking), ``ZohoAsyncHook`` for the triggerer's event loop."""

from airflow_provider_zoho.hooks.zoho import ZohoHook
from airflow_provider_zoho.hooks.zoho_async import ZohoAsyncHook

__all__ = ["ZohoAsyncHook", "ZohoHook"]
