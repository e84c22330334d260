"""Bulk loads: ``eventeye activity load FILE`` (a real process) and the Python API."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.activity import aggregate_events, bulk, ingest_events
from eventeye.config import Settings
from eventeye.core.storage.tables import errors
from tests.activity.conftest import at, find, load_events
from tests.fixtures.cli import run_cli_async

CARS = ["18:30:30", "18:31:00", "18:31:30", "18:35:00", "18:35:30", "18:36:00", "18:37:30", "18:38:00"]
THREE_PERIODS = [(at("18:30:30"), at("18:31:30")), (at("18:35:00"), at("18:36:00")), (at("18:37:30"), at("18:38:00"))]


def cli_env(database_url: str, tmp_path: Path) -> dict[str, str]:
    return {
        "EVENTEYE_DATABASE_URL": database_url,
        "EVENTEYE_DATA_DIR": str(tmp_path / "data"),
        "EVENTEYE_SECRET_KEY": "test-secret-key-" + "x" * 32,
    }


async def recorded_errors(engine: AsyncEngine) -> list[tuple[str, str | None, str]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            select(errors.c.kind, errors.c.field, errors.c.reason).where(errors.c.module == "activity")
        )
        return sorted((row.kind, row.field, row.reason) for row in rows)


@pytest.mark.slow
class TestLoadCommand:
    async def test_a_csv_in_chunks_gives_the_periods_and_reports_bad_rows(
        self, engine: AsyncEngine, database_url: str, tmp_path: Path
    ) -> None:
        shuffled = [CARS[i] for i in (5, 0, 7, 2, 4, 1, 6, 3)]
        lines = ["time,type,camera_id"] + [f"2024-05-01T{clock}Z,car,lot" for clock in shuffled]
        lines[3:3] = ["2024-05-01T18:32:00Z,bus,lot", "not a time,van", "2024-05-01T18:33:00Z"]
        lines.append("2024-05-01T18:30:00Z,pedestrian")
        path = tmp_path / "detections.csv"
        path.write_text("\n".join(lines) + "\n")

        result = await run_cli_async(
            "activity", "load", str(path), "--chunk-size", "3", env=cli_env(database_url, tmp_path), cwd=tmp_path
        )

        assert result.returncode == 0, result.stderr
        assert "stored 9 detections from detections.csv; refused 3" in result.stdout
        assert "line 4: type: 'bus' is not one of" in result.stderr
        assert "line 5: time: 'not a time' is not an ISO 8601 time" in result.stderr
        assert "line 6: $: expected time,type[,camera_id]; got 1 column(s)" in result.stderr
        assert (await find(engine, camera_id="lot"))["vehicles"] == THREE_PERIODS
        assert await find(engine) == {"people": [(at("18:30:00"), at("18:30:00"))], "vehicles": []}
        kinds = [kind for kind, _, _ in await recorded_errors(engine)]
        assert kinds == ["invalid_timestamp", "malformed", "unknown_type"]

    async def test_ndjson_and_csv_without_header(self, engine: AsyncEngine, database_url: str, tmp_path: Path) -> None:
        ndjson = tmp_path / "cars.ndjson"
        ndjson.write_bytes(
            b"".join(orjson.dumps({"time": f"2024-05-01T{c}Z", "type": "car"}) + b"\n" for c in CARS[:4])
        )
        plain = tmp_path / "more.csv"
        plain.write_text("".join(f"2024-05-01T{c}Z,truck\n" for c in CARS[4:]))
        env = cli_env(database_url, tmp_path)
        for path in (ndjson, plain):
            result = await run_cli_async("activity", "load", str(path), env=env, cwd=tmp_path)
            assert result.returncode == 0, result.stderr
            assert "refused 0" in result.stdout
        assert (await find(engine))["vehicles"] == THREE_PERIODS

    async def test_a_missing_file_is_refused(self, database_url: str, tmp_path: Path) -> None:
        result = await run_cli_async(
            "activity", "load", str(tmp_path / "nope.csv"), env=cli_env(database_url, tmp_path), cwd=tmp_path
        )
        assert result.returncode == 2
        assert "does not exist" in result.stderr


class TestLoader:
    async def test_chunks_out_of_order_match_one_load(self, engine: AsyncEngine) -> None:
        events = [(f"2024-05-01T{CARS[i]}Z", "van") for i in (7, 6, 5, 4, 3, 2, 1, 0)]
        report = await load_events(engine, events, chunk_size=2)
        assert (report.stored, report.rejected) == (8, 0)
        assert (await find(engine))["vehicles"] == THREE_PERIODS

    async def test_mappings_tuples_and_datetimes_are_accepted(self, engine: AsyncEngine) -> None:
        events = [
            {"time": "2024-05-01T18:30:30Z", "type": "pedestrian", "camera_id": "door"},
            (at("18:31:00"), "bicycle", "door"),
            {"time": "2024-05-01T18:31:00Z", "type": "pedestrian", "camera": "door"},
            ("2024-05-01T18:31:10", "horse", "door"),
        ]
        report = await load_events(engine, events)
        assert (report.stored, report.rejected) == (2, 2)
        assert report.problems == [
            "line 3: camera: is not a field of a detection",
            "line 4: type: 'horse' is not one of pedestrian, bicycle, car, truck, van",
        ]
        assert (await find(engine, camera_id="door"))["people"] == [(at("18:30:30"), at("18:31:00"))]


async def load_path(engine: AsyncEngine, path: Path, format: bulk.Format) -> bulk.LoadReport:
    with path.open("rb") as handle, io.TextIOWrapper(handle, newline="") as text:
        reader = bulk.file_reader(handle, text, format, bulk.latest_allowed(timedelta(minutes=5)))
        return await bulk.load(engine, reader, chunk_size=2)


class TestUnreadableLines:
    async def test_a_csv_line_the_parser_refuses_is_one_bad_row(self, engine: AsyncEngine, tmp_path: Path) -> None:
        path = tmp_path / "big.csv"
        lines = [f"2024-05-01T{clock}Z,car" for clock in CARS]
        lines.insert(2, "x" * 200_000 + ",car")
        path.write_text("\n".join(lines) + "\n")
        report = await load_path(engine, path, "csv")
        assert (report.stored, report.rejected) == (len(CARS), 1)
        assert report.problems == ["line 3: $: not valid CSV: field larger than field limit (131072)"]
        assert (await find(engine))["vehicles"] == THREE_PERIODS

    async def test_an_ndjson_line_that_is_not_json_is_one_bad_row(self, engine: AsyncEngine, tmp_path: Path) -> None:
        path = tmp_path / "cars.ndjson"
        lines = [orjson.dumps({"time": f"2024-05-01T{c}Z", "type": "car"}).decode() for c in CARS]
        lines[4:4] = ['{"time": "2024-05-01T18:32:00Z", "type": ', "[1, 2]"]
        path.write_text("\n".join(lines) + "\n")
        report = await load_path(engine, path, "ndjson")
        assert (report.stored, report.rejected) == (len(CARS), 2)
        assert report.problems[0].startswith("line 5: $: not valid JSON: ")
        assert report.problems[1] == "line 6: $: must be a JSON object"
        kinds = [kind for kind, _, _ in await recorded_errors(engine)]
        assert kinds == ["malformed", "malformed"]


class TestPythonApi:
    async def test_ingest_then_aggregate(self, engine: AsyncEngine, settings: Settings) -> None:
        report = await ingest_events(
            ({"time": f"2024-05-01T{c}Z", "type": "car"} for c in CARS), settings=settings, engine=engine
        )
        assert report.stored == len(CARS)
        start = datetime(2024, 5, 1, 18, 35, tzinfo=UTC)
        found = await aggregate_events(start=start, settings=settings, engine=engine)
        assert found == {"people": [], "vehicles": THREE_PERIODS[1:]}
        assert await aggregate_events(settings=settings, gap_seconds=600) == {
            "people": [],
            "vehicles": [(at("18:30:30"), at("18:38:00"))],
        }
