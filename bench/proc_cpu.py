"""CPU time of benchmark processes, read from Linux ``/proc`` (user + system, in seconds)."""

from __future__ import annotations

import os
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")


def _stat_fields(stat: str) -> list[str]:
    """The fields of a ``/proc/<pid>/stat`` line after the command name (which may hold spaces)."""
    return stat.rsplit(")", 1)[1].split()


def cpu_seconds(pid: int) -> float:
    """CPU time a process has used so far; 0.0 once it is gone."""
    try:
        fields = _stat_fields(Path(f"/proc/{pid}/stat").read_text())
    except FileNotFoundError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def group_cpu_seconds(pgid: int) -> float:
    """CPU time the live processes of a process group (a server and its workers) have used so far."""
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = _stat_fields(stat.read_text())
        except OSError:  # gone meanwhile
            continue
        if int(fields[2]) == pgid:
            total += int(fields[11]) + int(fields[12])
    return total / TICK
