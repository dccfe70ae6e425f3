"""Child processes for the benchmark (each in its own process group) and their memory."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

KIB_PER_MIB = 1024


class Child:
    """A command run in its own session (its own process group), output to a log file."""

    def __init__(
        self, name: str, command: Sequence[str], *, env: Mapping[str, str], cwd: Path, log: Path
    ) -> None:
        self.name = name
        self.command = list(command)
        self.env = dict(env)
        self.cwd = cwd
        self.log = log
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.process is not None, f"{self.name} was not started"
        return self.process.pid

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.command,
                env=self.env,
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def check(self) -> None:
        """Raise, with the end of the log, when the process has exited."""
        if self.process is not None and self.process.poll() is not None:
            raise RuntimeError(
                f"{self.name} exited with status {self.process.returncode}:\n{self.tail()}"
            )

    def tail(self, lines: int = 40) -> str:
        try:
            text = self.log.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 20.0) -> None:
        """SIGTERM the process group, SIGKILL it when it lingers; stragglers are killed too."""
        if self.process is None:
            return
        pgid = self.process.pid  # start_new_session: the leader's pid is the group id
        if self.process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.process.wait(timeout=timeout)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGKILL)  # pool children left behind by their parent
        self.process.wait()


# --- memory, from /proc (no psutil)

_CHILDREN_FILES = Path(f"/proc/{os.getpid()}/task/{os.getpid()}/children").exists()


def children_of(pid: int) -> list[int]:
    """Direct children of a process: /proc/<pid>/task/*/children, else a scan of /proc."""
    if _CHILDREN_FILES:
        found: list[int] = []
        with contextlib.suppress(OSError):
            for task in os.listdir(f"/proc/{pid}/task"):
                with contextlib.suppress(OSError):
                    text = Path(f"/proc/{pid}/task/{task}/children").read_text()
                    found.extend(int(child) for child in text.split())
        return found
    kids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{entry}/stat").read_text()
                # the command name is in parentheses and may hold spaces: split after it
                if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                    kids.append(int(entry))
    return kids


def process_tree(pid: int) -> list[int]:
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo.extend(children_of(current))
    return tree


def _status_kib(pid: int, field_name: str) -> int | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(field_name + ":"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _pss_kib(pid: int) -> int | None:
    """Proportional set size: shared pages (a fork's copy-on-write) counted once overall."""
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Pss:"):
                return int(line.split()[1])
    except (OSError, ValueError):
        return None
    return None


def tree_rss_kib(root: int) -> dict[int, int]:
    """RSS now (KiB) of each process in the tree under ``root`` (the root first)."""
    found = {}
    for pid in process_tree(root):
        rss = _status_kib(pid, "VmRSS")
        if rss is not None:
            found[pid] = rss
    return found


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time a process has used so far (0 when it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime, stime


def machine_cpu() -> dict[str, float]:
    """The whole machine's CPU seconds since boot: busy, idle and waiting for I/O."""
    first = Path("/proc/stat").read_text().split("\n", 1)[0].split()
    user, nice, system, idle, iowait, irq, softirq, steal = (int(x) for x in first[1:9])
    return {
        "busy": (user + nice + system + irq + softirq + steal) / CLOCK_TICKS,
        "idle": idle / CLOCK_TICKS,
        "iowait": iowait / CLOCK_TICKS,
    }


def pids_named(name: str) -> list[int]:
    """Every process on the machine whose command name is ``name``."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{entry}/comm").read_text().strip() == name:
                    found.append(int(entry))
    return found


def cpu_usage(groups: Mapping[str, Callable[[], list[int]]]) -> dict[str, float]:
    """CPU seconds used so far by each group of processes (a snapshot; subtract two)."""
    return {name: sum(cpu_seconds(pid) for pid in pids()) for name, pids in groups.items()}


@dataclass
class TreePeaks:
    rss_total_kib: int = 0
    pss_total_kib: int = 0
    # pid -> (label, peak RSS in KiB)
    per_process: dict[int, tuple[str, int]] = field(default_factory=dict)
    by_phase: dict[str, int] = field(default_factory=dict)  # phase -> peak RSS total


class TreeSampler(threading.Thread):
    """Samples the RSS of process trees every ``interval`` seconds, and their PSS at each new
    RSS peak and every ``pss_every`` samples.

    PSS comes from ``/proc/PID/smaps_rollup``, which walks the process's page tables: about
    2 ms of CPU a process on a slow machine, every 0.2 s for six processes a twentieth of a
    core taken from what the benchmark measures. RSS (``/proc/PID/status``) is cheap.
    """

    def __init__(
        self, roots: Mapping[str, int], interval: float = 0.2, pss_every: int = 10
    ) -> None:
        super().__init__(name="rss-sampler", daemon=True)
        self.roots = dict(roots)
        self.interval = interval
        self.pss_every = pss_every
        self._samples = 0
        self.phase = "start-up"
        self.peaks = {name: TreePeaks() for name in roots}
        self._stop_event = threading.Event()
        self._lock = threading.Lock()

    def run(self) -> None:
        while not self._stop_event.is_set():
            self.sample()
            self._stop_event.wait(self.interval)

    def sample(self) -> None:
        self._samples += 1
        periodic = self._samples % self.pss_every == 1 or self.pss_every == 1
        for name, root in self.roots.items():
            rss_total = 0
            seen: list[tuple[int, int]] = []
            for pid in process_tree(root):
                rss = _status_kib(pid, "VmRSS")
                if rss is None:
                    continue
                rss_total += rss
                seen.append((pid, rss))
            pss_total = None
            if periodic or rss_total > self.peaks[name].rss_total_kib:
                pss_total = sum(_pss_kib(pid) or 0 for pid, _ in seen)
            with self._lock:
                peaks = self.peaks[name]
                peaks.rss_total_kib = max(peaks.rss_total_kib, rss_total)
                if pss_total is not None:
                    peaks.pss_total_kib = max(peaks.pss_total_kib, pss_total)
                peaks.by_phase[self.phase] = max(peaks.by_phase.get(self.phase, 0), rss_total)
                for pid, rss in seen:
                    label = "main" if pid == root else "child"
                    previous = peaks.per_process.get(pid, (label, 0))[1]
                    peaks.per_process[pid] = (label, max(previous, rss))

    def stop(self) -> None:
        self._stop_event.set()
        if self.is_alive():
            self.join(timeout=5)

    def snapshot(self, name: str) -> TreePeaks:
        with self._lock:
            peaks = self.peaks[name]
            return TreePeaks(
                peaks.rss_total_kib,
                peaks.pss_total_kib,
                dict(peaks.per_process),
                dict(peaks.by_phase),
            )


def wait_for(
    condition: Callable[[], object], timeout: float, what: str, interval: float = 0.1
) -> None:
    """Poll ``condition()`` until true; TimeoutError naming ``what`` otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
