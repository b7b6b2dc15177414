"""This machine during a run: CPU of processes and cores, UDP drops, to judge the figures.

- ``ProcessCpu``: CPU time (user + system, all threads) a set of processes used since
  the last reading: the bot processes (are the bots keeping up?), or a spawned server
  and its Redis.
- ``CoreLoad``: how busy a set of cores was, and how much of that the watched processes
  did not account for: other programs on the server's core make its figures noisy
  (this machine is shared), and the report says so.
- ``udp_counters``: datagrams the kernel dropped because a socket's buffer was full.
"""

from __future__ import annotations

import contextlib
import time

import psutil


class ProcessCpu:
    def __init__(self, pids: list[int] | None = None) -> None:
        self._procs: dict[int, tuple[psutil.Process, float]] = {}
        for pid in pids or []:
            self.add(pid)

    @staticmethod
    def _seconds(process: psutil.Process) -> float:
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            return float(times.user + times.system)
        return 0.0

    def add(self, pid: int) -> None:
        with contextlib.suppress(psutil.Error):
            process = psutil.Process(pid)
            self._procs[pid] = (process, self._seconds(process))

    def take(self) -> float:
        """CPU seconds used by every watched process since the last ``take``."""
        used = 0.0
        for pid, (process, before) in list(self._procs.items()):
            now = self._seconds(process)
            used += max(0.0, now - before)
            self._procs[pid] = (process, now)
        return used


def busy_seconds(cpus: frozenset[int]) -> tuple[float, float]:
    """Busy and total CPU seconds so far, summed over ``cpus``."""
    per_cpu = psutil.cpu_times(percpu=True)
    chosen = [per_cpu[i] for i in sorted(cpus) if i < len(per_cpu)]
    total = sum(sum(t) - getattr(t, "guest", 0) - getattr(t, "guest_nice", 0) for t in chosen)
    idle = sum(t.idle + getattr(t, "iowait", 0) for t in chosen)
    return total - idle, total


class CoreLoad:
    """Cores busy (in cores) on ``cpus``, split into the watched processes and the rest."""

    def __init__(self, cpus: frozenset[int], pids: list[int]) -> None:
        self.cpus = cpus
        self.procs = ProcessCpu(pids)
        self._busy = busy_seconds(cpus)
        self._at = time.monotonic()

    def take(self) -> tuple[float, float]:
        """(watched processes, everything else), in cores, since the last ``take``."""
        busy = busy_seconds(self.cpus)
        now = time.monotonic()
        own = self.procs.take()
        elapsed = now - self._at
        total = busy[1] - self._busy[1]
        share = (busy[0] - self._busy[0]) / total * len(self.cpus) if total > 0 else 0.0
        self._busy, self._at = busy, now
        if elapsed <= 0:
            return 0.0, 0.0
        mine = own / elapsed
        return mine, max(0.0, share - mine)


UDP_FIELDS = ("InDatagrams", "OutDatagrams", "InErrors", "RcvbufErrors", "SndbufErrors")


def udp_counters() -> dict[str, int]:
    """This machine's (network namespace's) UDP counters from ``/proc/net/snmp``.

    ``RcvbufErrors`` counts datagrams dropped because a socket's receive buffer was full:
    media lost on this machine because a process (bots, or a local server) fell behind,
    not on the network.
    """
    try:
        with open("/proc/net/snmp") as snmp:
            lines = [line.split() for line in snmp if line.startswith("Udp:")]
    except OSError:
        return {}
    if len(lines) < 2:
        return {}
    values = dict(zip(lines[0][1:], lines[1][1:], strict=False))
    return {name: int(values[name]) for name in UDP_FIELDS if name in values}
