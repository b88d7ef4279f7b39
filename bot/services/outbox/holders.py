"""Which process holds an outbox job, and whether that process is known to be dead.

A claim records its process as ``host:pid:start``. When a process starts, the jobs still
held by a process *of the same host* that no longer runs (its pid is gone, or it had this
very pid and an earlier start: a restarted container) were held by a dead predecessor, and
are released at once instead of after their lease. A holder on another host, or whose pid
is alive, is left to its lease: a live process is never robbed. This assumes that replicas
on one pid namespace do not share a hostname (as with containers and machines by default).
"""

from __future__ import annotations

import os
import socket
from datetime import UTC, datetime
from functools import cache


@cache
def this_process() -> str:
    """``host:pid:start`` of the running process (one value for the process's lifetime)."""
    started = datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
    return f"{socket.gethostname()}:{os.getpid()}:{started}"


def known_dead(holder: str, me: str) -> bool:
    """Is ``holder`` a process of ``me``'s host that is certainly not running any more?"""
    try:
        host, pid_text, started = holder.rsplit(":", 2)
        my_host, my_pid, my_start = me.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != my_host or holder == me:
        return False
    if pid_text == my_pid:  # this pid is this process: the holder was an earlier one
        return started < my_start
    return not _running(pid)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True
