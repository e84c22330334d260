"""``eventeye activity ...``: bulk-loading detections from a file."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Annotated, BinaryIO, Literal

import typer
from tqdm import tqdm

from eventeye.activity import bulk
from eventeye.activity import repository as activity_repository
from eventeye.config import Settings
from eventeye.process import running

app = typer.Typer(help="The activity module: video detections.", no_args_is_help=True)

FormatOpt = Annotated[
    Literal["auto", "csv", "ndjson"], typer.Option("--format", help="Input format (auto: by extension or content).")
]
ChunkOpt = Annotated[int, typer.Option(min=1, max=1_000_000, help="Detections per transaction.")]


async def _load(
    settings: Settings, handle: BinaryIO, name: str, format: bulk.Format, chunk_size: int
) -> bulk.LoadReport:
    # No roles: no background tasks, but every enabled module's rules run on the detections.
    async with running(settings, set()) as registry:
        runtime = registry.runtime
        size = os.fstat(handle.fileno()).st_size
        with (
            io.TextIOWrapper(handle, encoding="utf-8", errors="replace", newline="") as text,
            tqdm(total=size, unit="B", unit_scale=True, desc=name, disable=None) as bar,
        ):

            def progress(report: bulk.LoadReport, position: int) -> None:
                bar.update(position - bar.n)
                bar.set_postfix(stored=report.stored, refused=report.rejected, refresh=False)

            report = await bulk.load(
                runtime.engine,
                bulk.file_reader(handle, text, format, bulk.latest_allowed(settings.clock_skew)),
                hooks=runtime.pipeline.processor.hooks,
                source=f"file:{name}"[:150],
                chunk_size=chunk_size,
                progress=progress,
            )
        async with runtime.engine.connect() as conn:
            await conn.execution_options(isolation_level="AUTOCOMMIT")
            await activity_repository.vacuum_analyze(conn)
        return report


@app.command()
def load(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, readable=True, help="CSV or NDJSON file.")],
    format: FormatOpt = "auto",
    chunk_size: ChunkOpt = bulk.CHUNK_SIZE,
) -> None:
    """Bulk-load detections: CSV `time,type[,camera_id]` (header optional) or NDJSON objects.

    Bad rows are reported, recorded in errors and skipped; the rest is stored.
    """
    from eventeye.cli import run_db  # the top-level CLI mounts this one

    chosen: bulk.Format = bulk.detect_format(file) if format == "auto" else format

    with file.open("rb") as handle:

        async def work(settings: Settings) -> bulk.LoadReport:
            return await _load(settings, handle, file.name, chosen, chunk_size)

        report = run_db(work)
    typer.echo(f"stored {report.stored} detections from {file.name}; refused {report.rejected}")
    for problem in report.problems:
        typer.echo(f"  refused {problem}", err=True)
    if report.rejected > len(report.problems):
        typer.echo(f"  ... and {report.rejected - len(report.problems)} more (see /v1/errors)", err=True)
