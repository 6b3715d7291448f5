"""Apache Airflow provider for Zoho's bulk data APIs: wait for Analytics, CRM, Bigin and Creator bulk jobs."""

__version__ = "0.1.0"
