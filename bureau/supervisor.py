"""`bureau run`: web, worker and beat as child processes, their output labelled, stopped
together on Ctrl-C or SIGTERM (or when one of them dies)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from types import FrameType
from typing import IO, TextIO

STOP_TIMEOUT = 15.0


class Supervisor:
    def __init__(
        self,
        commands: Mapping[str, Sequence[str]],
        *,
        env: Mapping[str, str] | None = None,
        out: TextIO = sys.stdout,
    ) -> None:
        self.commands = commands
        self.env = dict(env or os.environ)
        self.out = out
        self.children: dict[str, subprocess.Popen[str]] = {}
        self._stopping = threading.Event()
        self._print_lock = threading.Lock()
        self._width = max(len(name) for name in commands)

    def say(self, name: str, line: str) -> None:
        with self._print_lock:
            self.out.write(f"{name:<{self._width}} | {line.rstrip()}\n")
            self.out.flush()

    def _pump(self, name: str, stream: IO[str]) -> None:
        for line in stream:
            self.say(name, line)
        stream.close()

    def start(self) -> None:
        for name, command in self.commands.items():
            # Own session: the terminal's Ctrl-C reaches only us; we stop the children in order.
            child = subprocess.Popen(  # noqa: S603 - commands built by bureau run
                list(command),
                env=self.env,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                bufsize=1,
                start_new_session=True,
            )
            self.children[name] = child
            assert child.stdout is not None
            threading.Thread(target=self._pump, args=(name, child.stdout), daemon=True).start()

    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        self._stopping.set()

    def run(self) -> int:
        """Start everything and wait; returns the exit status for the command."""
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        status = 0
        try:
            self.start()
            while not self._stopping.wait(0.5):
                dead = [name for name, child in self.children.items() if child.poll() is not None]
                if dead:
                    for name in dead:
                        self.say(name, f"exited with status {self.children[name].returncode}")
                    status = 1
                    break
        finally:
            self.stop()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        return status

    def stop(self) -> None:
        for child in self.children.values():
            if child.poll() is None:
                child.terminate()
        deadline = time.monotonic() + STOP_TIMEOUT
        for name, child in self.children.items():
            try:
                child.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self.say(name, "did not stop in time; killed")
                os.killpg(child.pid, signal.SIGKILL)
                child.wait()
