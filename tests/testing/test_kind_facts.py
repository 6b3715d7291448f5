"""Every job kind has its row of test facts and an emulated product, and the row agrees with the provider.

Adding a kind to the package is one ``JobKind`` entry plus one row in ``airflow_provider_zoho/testing/kinds.py``
(and the emulator's model of it in ``testing/dialects.py``): this module fails until both exist, so a new kind
cannot join with no test. The rows are written from Zoho's docs, apart from the provider's ``JobKind``; the
checks below are where the two meet.
"""

from __future__ import annotations

import pytest

from airflow_provider_zoho.jobs import JOB_KINDS, normalize_state
from airflow_provider_zoho.testing.dialects import EMULATED_KINDS
from airflow_provider_zoho.testing.kinds import KIND_FACTS
from tests.helpers import SENSORS


def test_every_job_kind_has_test_facts_and_an_emulated_product() -> None:
    no_row = sorted(set(JOB_KINDS) - set(KIND_FACTS))
    assert not no_row, f"add a KindFacts row to airflow_provider_zoho/testing/kinds.py for {no_row}"
    not_emulated = sorted(set(JOB_KINDS) - set(EMULATED_KINDS))
    assert not not_emulated, f"add an EmulatedProduct to airflow_provider_zoho/testing/dialects.py for {not_emulated}"
    untested = sorted(set(EMULATED_KINDS) - set(KIND_FACTS))
    assert not untested, f"the emulator serves {untested} but no KindFacts row says how to test them"


@pytest.mark.parametrize("kind", sorted(JOB_KINDS))
def test_a_kinds_facts_agree_with_its_job_kind_and_emulated_product(kind: str) -> None:
    facts, job_kind = KIND_FACTS[kind], JOB_KINDS[kind]
    assert (facts.kind, facts.product.kind) == (kind, kind)
    assert SENSORS[kind].job_kind is job_kind, f"{facts.sensor} is not the sensor of {kind}"
    assert {*facts.coordinates, *facts.unset_coordinates, "job_id"} == set(job_kind.coordinate_names)
    assert facts.path == job_kind.path
    assert dict(facts.headers) == dict(job_kind.headers)
    assert normalize_state(facts.pending) in job_kind.pending
    assert normalize_state(facts.succeeded) in job_kind.succeeded
    assert normalize_state(facts.failed) in job_kind.failed
    assert {normalize_state(state) for state in facts.states} == job_kind.pending | job_kind.succeeded | job_kind.failed
    for state in facts.states:
        facts.product.canonical_state(state)  # the emulator can script every state the product reports
