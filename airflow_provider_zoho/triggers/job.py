"""One trigger that polls any Zoho job kind in the triggerer until it finishes or its deadline passes."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any

from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, wait_exponential_jitter

from airflow_provider_zoho.compat import AirflowNotFoundException, BaseTrigger, TriggerEvent
from airflow_provider_zoho.connection_config import ZohoConnectionError
from airflow_provider_zoho.connection_form import DEFAULT_CONN_ID
from airflow_provider_zoho.events import JobEvent, error_event, finished_event, timeout_event
from airflow_provider_zoho.exceptions import ZohoError, ZohoTransientError
from airflow_provider_zoho.hooks.zoho_async import ZohoAsyncHook
from airflow_provider_zoho.jobs import JobStatus, Phase, get_job_kind

# Each wait is stretched or shrunk by up to this fraction, so that triggers deferred together (a mapped
# sensor, a backfill) spread their polls instead of hitting Zoho in lockstep.
POLL_JITTER = 0.1
DEFAULT_MAX_BACKOFF_SECONDS = 300.0


class ZohoJobTrigger(BaseTrigger):
    """Polls a Zoho bulk job with :class:`ZohoAsyncHook` until it ends, then yields one event.

    Its serialized form holds the connection id, the job kind and coordinates, and timing only, so it can be
    stored in the database and resumed by any triggerer. ``end_time`` is an absolute wall-clock deadline
    (epoch seconds): a triggerer restart resumes the same deadline instead of starting a new one.
    Transient trouble (throttling, 5xx, network) is retried with exponential backoff that honours
    ``Retry-After``; it never pushes the wait past ``end_time``.
    """

    def __init__(
        self,
        *,
        kind: str,
        coordinates: Mapping[str, str | None],
        end_time: float,
        zoho_conn_id: str = DEFAULT_CONN_ID,
        poll_interval: float = 30.0,
        max_backoff: float = DEFAULT_MAX_BACKOFF_SECONDS,
    ) -> None:
        super().__init__()
        self.kind = get_job_kind(kind)
        self.coordinates = dict(coordinates)
        self.end_time = float(end_time)
        self.zoho_conn_id = zoho_conn_id
        self.poll_interval = float(poll_interval)
        self.max_backoff = float(max_backoff)

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(kind={self.kind.name!r}, job_id={self.coordinates.get('job_id')!r}, "
            f"zoho_conn_id={self.zoho_conn_id!r})"
        )

    def serialize(self) -> tuple[str, dict[str, Any]]:
        return (
            f"{type(self).__module__}.{type(self).__qualname__}",
            {
                "kind": self.kind.name,
                "coordinates": self.coordinates,
                "end_time": self.end_time,
                "zoho_conn_id": self.zoho_conn_id,
                "poll_interval": self.poll_interval,
                "max_backoff": self.max_backoff,
            },
        )

    @property
    def description(self) -> str:
        return f"{self.kind.label} {self.coordinates.get('job_id')}"

    async def run(self) -> AsyncIterator[TriggerEvent]:
        event = await self.wait_for_job(ZohoAsyncHook(self.zoho_conn_id))
        yield TriggerEvent(event.to_payload())

    async def wait_for_job(self, hook: ZohoAsyncHook) -> JobEvent:
        """Poll until the job ends, Zoho refuses for good, or the deadline passes."""
        # The sensor polled on the worker just before deferring, so the first poll here waits one interval.
        await self._pause(hook, self.poll_interval)
        while True:
            try:
                job = await self._poll(hook)
            except ZohoTransientError as error:  # retried until the deadline, still failing
                return timeout_event(self.description, error)
            except (ZohoError, ZohoConnectionError, AirflowNotFoundException) as error:
                self.log.error("Stopping: %s", error)
                return error_event(error)
            if job.phase is not Phase.PENDING:
                return finished_event(job)
            job.log_progress(self.log)
            if time.time() >= self.end_time:
                return timeout_event(self.description + f" (last state {job.state or 'unknown'})", None)
            await self._pause(hook, self.poll_interval)

    async def _poll(self, hook: ZohoAsyncHook) -> JobStatus:
        backoff = wait_exponential_jitter(
            initial=self.poll_interval, max=self.max_backoff, jitter=self.poll_interval * POLL_JITTER
        )

        def wait(retry_state: RetryCallState) -> float:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            retry_after = getattr(error, "retry_after", None) or 0.0
            return self._until_deadline(max(backoff(retry_state), retry_after, hook.throttle_remaining()))

        def log_retry(retry_state: RetryCallState) -> None:
            error = retry_state.outcome.exception() if retry_state.outcome else None
            delay = retry_state.next_action.sleep if retry_state.next_action else 0.0
            self.log.warning("%s: %s; polling again in %.1f s", self.description, error, delay)

        retrying = AsyncRetrying(
            retry=retry_if_exception_type(ZohoTransientError),
            wait=wait,
            stop=lambda _: time.time() >= self.end_time,
            before_sleep=log_retry,
            reraise=True,
        )
        job: JobStatus = await retrying(hook.get_job_status, self.kind, self.coordinates)
        return job

    def _until_deadline(self, seconds: float) -> float:
        return max(0.0, min(seconds, self.end_time - time.time()))

    async def _pause(self, hook: ZohoAsyncHook, seconds: float) -> None:
        jittered = seconds * random.uniform(1 - POLL_JITTER, 1 + POLL_JITTER)
        await asyncio.sleep(self._until_deadline(max(jittered, hook.throttle_remaining())))
