"""CPU time of processes from ``/proc/<pid>/stat`` (utime + stime), in milliseconds.

The benchmark reads it for the app's process tree (uvicorn and its workers) and for the
PostgreSQL backends serving the benchmark's database, at the start and the end of a
measured window. A process that starts inside the window counts from zero; one that ends
inside it is missed (pools keep their connections, so that does not happen in practice).
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")


def cpu_ms(pid: int) -> float | None:
    """User + system CPU of one process so far; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name may hold spaces and parentheses: fields count from the last ")".
    fields = stat[stat.rindex(")") + 2 :].split()
    utime, stime = int(fields[11]), int(fields[12])
    return (utime + stime) * 1000 / TICKS_PER_S


def parent_of(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    return int(stat[stat.rindex(")") + 2 :].split()[1])


def process_tree(root: int) -> list[int]:
    """``root`` and all its descendants (uvicorn's supervisor and its worker processes)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            parent = parent_of(int(entry.name))
            if parent is not None:
                children.setdefault(parent, []).append(int(entry.name))
    found, todo = [], [root]
    while todo:
        pid = todo.pop()
        found.append(pid)
        todo += children.get(pid, [])
    return found


def snapshot(pids: Iterable[int]) -> dict[int, float]:
    taken = {}
    for pid in pids:
        value = cpu_ms(pid)
        if value is not None:
            taken[pid] = value
    return taken


def spent_ms(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU spent between two snapshots; processes new in ``after`` count from zero."""
    return sum(value - before.get(pid, 0.0) for pid, value in after.items())
