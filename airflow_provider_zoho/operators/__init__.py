"""Operators that load files into Zoho CRM, Bigin, Analytics or Creator with bulk jobs, or export from them."""

from airflow_provider_zoho.operators.analytics import ZohoAnalyticsImportOperator
from airflow_provider_zoho.operators.analytics_export import ZohoAnalyticsExportOperator
from airflow_provider_zoho.operators.base import ZohoJobOperator
from airflow_provider_zoho.operators.bulk_read import (
    ZohoBiginBulkReadOperator,
    ZohoBulkReadOperator,
    ZohoCRMBulkReadOperator,
)
from airflow_provider_zoho.operators.bulk_write import (
    ZohoBiginBulkWriteOperator,
    ZohoBulkWriteOperator,
    ZohoCRMBulkWriteOperator,
)
from airflow_provider_zoho.operators.creator import ZohoCreatorBulkInsertOperator
from airflow_provider_zoho.operators.creator_read import ZohoCreatorBulkReadOperator
from airflow_provider_zoho.operators.extract import ZohoExtractOperator

__all__ = [
    "ZohoAnalyticsExportOperator",
    "ZohoAnalyticsImportOperator",
    "ZohoBiginBulkReadOperator",
    "ZohoBiginBulkWriteOperator",
    "ZohoBulkReadOperator",
    "ZohoBulkWriteOperator",
    "ZohoCRMBulkReadOperator",
    "ZohoCRMBulkWriteOperator",
    "ZohoCreatorBulkInsertOperator",
    "ZohoCreatorBulkReadOperator",
    "ZohoExtractOperator",
    "ZohoJobOperator",
]
