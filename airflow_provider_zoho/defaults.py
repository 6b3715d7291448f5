"""The waiting defaults every sensor, operator and the trigger share, written once.

The default connection id is ``connection_form.DEFAULT_CONN_ID``, and the redirects a status poll may follow
``hooks.transport.MAX_REDIRECTS``.
"""

from __future__ import annotations

#: Seconds between two status polls of a job.
DEFAULT_POLL_INTERVAL = 30.0
#: Seconds an operator's wait may take before the task fails: a week, the default timeout of Airflow's sensors.
DEFAULT_TIMEOUT_SECONDS = 7 * 24 * 3600.0
#: How long past its own deadline a deferred task waits for its trigger before Airflow times it out.
DEFERRAL_GRACE_SECONDS = 300.0
