"""``FileStamp``: a number beside a SQLite file, replaced whole and read without the database."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from eventeye.core.storage.engine import create_engine
from eventeye.core.storage.stamp import FileStamp


def test_reads_what_was_written_last(tmp_path: Path) -> None:
    stamp = FileStamp(tmp_path / "db-stamp")
    assert stamp.read() is None
    stamp.write(41)
    stamp.write(42)
    assert stamp.read() == 42
    assert FileStamp(tmp_path / "db-stamp").read() == 42  # another process's view: the file alone
    assert [p.name for p in tmp_path.iterdir()] == ["db-stamp"]  # no temporary file left behind


def test_an_unreadable_stamp_reads_as_none(tmp_path: Path) -> None:
    (tmp_path / "db-stamp").write_bytes(b"not a number")
    assert FileStamp(tmp_path / "db-stamp").read() is None


def test_removed_stamp_reads_as_none(tmp_path: Path) -> None:
    stamp = FileStamp(tmp_path / "db-stamp")
    stamp.write(3)
    stamp.remove()
    assert stamp.read() is None


def test_a_failed_write_removes_the_stamp(tmp_path: Path) -> None:
    stamp = FileStamp(tmp_path / "db-stamp")
    stamp.write(7)
    blocker = tmp_path / f"db-stamp.{os.getpid()}.tmp"
    blocker.mkdir()  # the temporary file cannot be written
    stamp.write(8)
    assert stamp.read() is None  # readers go to the database rather than trust 7


def test_a_write_that_cannot_happen_raises(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    stamp = FileStamp(tmp_path / "file" / "db-stamp")  # its directory is a file
    with pytest.raises(OSError):
        stamp.write(1)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("sqlite+aiosqlite:///{tmp}/eventeye.db", "{tmp}/eventeye.db-version"),
        ("sqlite+aiosqlite:///:memory:", None),
        ("postgresql+asyncpg://postgres@127.0.0.1/test", None),
    ],
)
def test_only_a_sqlite_file_has_a_stamp_beside_it(tmp_path: Path, url: str, expected: str | None) -> None:
    stamp = FileStamp.beside(create_engine(url.format(tmp=tmp_path)), "-version")
    assert (str(stamp.path) if stamp else None) == (expected.format(tmp=tmp_path) if expected else None)
