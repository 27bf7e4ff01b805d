"""What a benchmark runs on (CPU model, cores, memory) and how busy the machine was meanwhile (Stopwatch).

Figures are only comparable with the machine beside them, and on a small shared machine other work alone can
double a timing: every benchmark prints these, so the reader can tell a slow change from a busy machine.
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path


def cpu_model() -> str:
    """The CPU's model name (/proc/cpuinfo); elsewhere what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def usable_cpus() -> int:
    """CPUs this process may run on (`nproc`), which a container can set below os.cpu_count()."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def memory() -> str:
    """Total memory (/proc/meminfo) as "23.5 GiB", "unknown" where it cannot be read."""
    try:
        kib = next(
            int(line.split()[1])
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal:")
        )
    except (OSError, StopIteration):
        return "unknown"
    return f"{kib / 1024**2:.1f} GiB"


def describe_machine() -> str:
    """One line for a benchmark's header: CPU model, CPUs (and those usable), memory, Python."""
    return (
        f"{cpu_model()}, {os.cpu_count()} CPUs (nproc {usable_cpus()}), {memory()}, Python {platform.python_version()}"
    )


def _machine_busy_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy since boot (all processes), None where /proc/stat is absent."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = (int(value) for value in fields[1:9])
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


# processes outside this one's tree that work for the benchmark (a local Postgres server it started): their CPU
# counts as the benchmark's own, not as other work (see count_as_own)
_OWN_PIDS: set[int] = set()


def count_as_own(pid: int) -> None:
    """Count process `pid` (and its finished children: a Postgres server's backends) as the benchmark's own work."""
    _OWN_PIDS.add(pid)


def _process_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime of a process (/proc/<pid>/stat), 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(value) for value in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def _own_cpu_seconds() -> float:
    """CPU seconds of this process (DuckDB's threads included), of its finished children (dbt) and of the
    processes registered with count_as_own."""
    times = os.times()
    own = times.user + times.system + times.children_user + times.children_system
    return own + sum(_process_cpu_seconds(pid) for pid in _OWN_PIDS)


class Stopwatch:
    """Wall time of a block, and the share of the machine that other processes used meanwhile.

    The benchmark may share its machine with other work (a test suite, another build); on a small machine that
    alone can double a timing. The share is busy CPU time from /proc/stat minus this process's and its
    children's, over wall time x CPUs, so a contended figure can be told from a clean one.
    """

    seconds: float = float("nan")
    foreign: float | None = None  # 0.0 = the machine was ours alone; 0.5 = half of it was busy elsewhere

    def __enter__(self) -> "Stopwatch":
        self._busy, self._own, self._start = _machine_busy_seconds(), _own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.seconds = time.perf_counter() - self._start
        busy, own = _machine_busy_seconds(), _own_cpu_seconds()
        # /proc/stat counts in clock ticks (10 ms): below a second the share would be mostly rounding
        if busy is not None and self._busy is not None and self.seconds >= 1.0:
            other = (busy - self._busy) - (own - self._own)
            self.foreign = min(1.0, max(0.0, other / (self.seconds * (os.cpu_count() or 1))))


def share(foreign: float | None) -> str:
    """A Stopwatch's `foreign` share as printed: "12%", or "n/a" when it could not be measured."""
    return "n/a" if foreign is None else f"{100 * foreign:.0f}%"
