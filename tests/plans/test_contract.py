"""`/search` against its published OpenAPI contract, fuzzed by schemathesis against a real server.

Every built-in check runs except ``positive_data_acceptance``, which is replaced
by a stricter one: a schema-valid request is answered 200, unless its
``starts_at`` is after its ``ends_at`` (the one rule the schema cannot state),
which is answered 400.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from eventeye.plans.sync import Syncer
from tests.fixtures.server import ServerProcess, run_server, server_env
from tests.plans.feeds import DATA, SAMPLE
from tests.plans.provider import FakeProvider, Reply

pytestmark = pytest.mark.slow

schema = schemathesis.openapi.from_path(DATA / "plans-search.openapi.yaml")


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.upper().replace("Z", "+00:00").replace(":60", ":59"))


@schemathesis.check
def valid_ranges_are_accepted(
    ctx: schemathesis.CheckContext, response: schemathesis.Response, case: schemathesis.Case
) -> None:
    if case.meta is None or not case.meta.generation.mode.is_positive:
        return
    query = case.query or {}
    reversed_range = (
        "starts_at" in query and "ends_at" in query and _instant(query["starts_at"]) > _instant(query["ends_at"])
    )
    expected = 400 if reversed_range else 200
    assert response.status_code == expected, (
        f"expected {expected} for the valid query {query}, got {response.status_code}"
    )


@pytest.fixture
async def seeded(syncer: Syncer, provider: FakeProvider) -> None:
    provider.serve(Reply(SAMPLE))
    assert (await syncer.run(trigger="cli")) is not None


@pytest.fixture
def server(seeded: None, database_url: str, tmp_path: Path) -> Iterator[ServerProcess]:
    with run_server(server_env(database_url, tmp_path / "data"), tmp_path) as process:
        yield process


@schema.parametrize()
@settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
def test_search_honours_its_contract(case: schemathesis.Case, server: ServerProcess) -> None:
    case.call_and_validate(
        base_url=server.url, excluded_checks=[positive_data_acceptance], additional_checks=[valid_ranges_are_accepted]
    )
