"""A number shared through a small file beside a SQLite database, read without touching the database.

Reading a value from SQLite on every request looks free (microseconds, no
waiting for writers in WAL mode) until a writer runs at a low CPU priority:
SQLite readers briefly need locks in the shared WAL index that such a writer,
descheduled while holding them, keeps for tens of milliseconds. A reader in
an event loop then stalls every request of its process. A stamp file is
read with one open, read and close: no lock anyone else holds. Writers
replace it whole (write a temporary file, rename it), so a reader sees the
old number or the new one, never a mix.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from eventeye.core.storage.engine import sqlite_file

MAX_BYTES = 32


class FileStamp:
    """An integer in a file that writers replace atomically and any process on this host reads."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def beside(cls, engine: AsyncEngine, suffix: str) -> FileStamp | None:
        """The stamp ``<database file><suffix>`` of a SQLite file database; None for other databases."""
        database = sqlite_file(engine)
        return None if database is None else cls(Path(f"{database}{suffix}"))

    def read(self) -> int | None:
        """The number, or None when there is no stamp (or it cannot be read)."""
        try:
            fd = os.open(self.path, os.O_RDONLY)
        except OSError:
            return None
        try:
            return int(os.read(fd, MAX_BYTES))
        except (OSError, ValueError):
            return None
        finally:
            os.close(fd)

    def write(self, value: int) -> None:
        """Replace the number; when that fails, remove the stamp so readers fall back, else raise ``OSError``."""
        temporary = self.path.with_name(f"{self.path.name}.{os.getpid()}.tmp")
        try:
            temporary.write_bytes(str(value).encode())
            os.replace(temporary, self.path)
        except OSError:
            with contextlib.suppress(OSError):
                temporary.unlink(missing_ok=True)
            self.remove()

    def remove(self) -> None:
        """Remove the stamp (readers fall back to the database); ``OSError`` if it stays."""
        self.path.unlink(missing_ok=True)
