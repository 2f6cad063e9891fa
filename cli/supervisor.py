"""Supervision of the stack's child processes: restart whatever dies, with back-off.

A process that exits while the stack is running (any exit, kill -9 included) is restarted after
1 s, then 2, 4, … up to 30 s for each further crash; the delay resets once it has run healthy for
60 s. After ``MAX_RAPID_CRASHES`` crashes without such a healthy minute in between it is marked
failed and left down, and the terminal says so (the rest of the stack keeps running).

Children die with the runner: each is started with ``PR_SET_PDEATHSIG`` (Linux), so even a kill -9
of the runner leaves no orphan holding a port.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

FIRST_DELAY_S = 1.0
MAX_DELAY_S = 30.0
HEALTHY_AFTER_S = 60.0
MAX_RAPID_CRASHES = 6
PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child, before exec: be killed when the runner dies, however it dies."""
    if not sys.platform.startswith("linux"):
        return
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)


@dataclass
class Proc:
    name: str
    argv: list[str]
    port: int | None
    ready: Callable[[Proc], bool]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    host: str = ""  # the address its port is on, when not the stack's (a cluster's node)
    binds: tuple[int, ...] = ()  # every port it listens on at ``host`` (a cluster's node)
    # A namespace's wrapper (``unshare --fork``) ignores SIGTERM while it waits for its child:
    # a stop is asked of that child (the wrapper exits with it).
    stop_its_child: bool = False
    stop_grace_s: float = 10.0
    cwd: Path | None = None
    popen: subprocess.Popen[bytes] | None = None
    log_file: IO[bytes] | None = None
    started_s: float = 0.0
    log_offset: int = 0  # the log is appended to across restarts: read only this run's part
    # supervision
    state: str = "starting"  # starting, running, restarting, failed, stopped
    crashes: int = 0  # crashes since it last ran healthy for HEALTHY_AFTER_S
    restarts: int = 0
    restart_at: float = 0.0
    last_exit: int | None = None

    def spawn(self, env: dict[str, str]) -> None:
        self.log_file = self.log_path.open("ab")
        self.log_offset = self.log_file.tell()
        self.popen = subprocess.Popen(
            self.argv, stdout=self.log_file, stderr=subprocess.STDOUT, env={**env, **self.env},
            stdin=subprocess.DEVNULL, start_new_session=True,  # Ctrl-C reaches the runner only
            preexec_fn=die_with_parent, cwd=self.cwd,
        )
        self.started_s = time.monotonic()
        self.state = "starting"

    def ask_to_stop(self) -> None:
        """SIGTERM, to it (or to its child: ``stop_its_child``)."""
        assert self.popen is not None
        pid = self.popen.pid
        if self.stop_its_child:
            try:
                children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
            except OSError:
                children = []
            pid = int(children[0]) if children else pid
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGTERM)

    def exited(self) -> bool:
        return self.popen is not None and self.popen.poll() is not None

    def log_tail(self, lines: int = 15) -> str:
        try:
            text = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no log)"
        return "\n".join("    " + line for line in text[-lines:])

    def log_contains(self, needle: str) -> bool:
        try:
            with self.log_path.open("rb") as log:
                log.seek(self.log_offset)
                return needle.encode() in log.read()
        except OSError:
            return False

    def close_log(self) -> None:
        if self.log_file:
            self.log_file.close()
            self.log_file = None

    # --- supervision decisions (no I/O: unit-tested) ----------------------------------------

    def crashed(self, now: float, code: int | None) -> float | None:
        """It exited on its own: when to restart it (None: it is marked failed)."""
        self.last_exit = code
        if now - self.started_s >= HEALTHY_AFTER_S:
            self.crashes = 0
        self.crashes += 1
        if self.crashes >= MAX_RAPID_CRASHES:
            self.state = "failed"
            return None
        delay = min(FIRST_DELAY_S * 2 ** (self.crashes - 1), MAX_DELAY_S)
        self.state = "restarting"
        self.restart_at = now + delay
        return delay
