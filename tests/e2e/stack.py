"""The whole local stack, started by the stack runner (`picadaily up`) as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.servers import free_port, wait_until


class RunningStack:
    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        ports = {name: free_port() for name in
                 ("nats", "s3", "temporal", "ui", "vision", "metadata", "thumbnails", "collage")}
        self.env = dict(os.environ)
        self.env.update({
            "PICADAILY_HOME": str(home),
            "PICADAILY_PORT": str(self.port),
            "PICADAILY_NATS_URL": f"nats://127.0.0.1:{ports['nats']}",
            "PICADAILY_S3_ENDPOINT": f"http://127.0.0.1:{ports['s3']}",
            "PICADAILY_SQS_ENDPOINT": f"http://127.0.0.1:{ports['s3']}",
            "PICADAILY_TEMPORAL_ADDRESS": f"127.0.0.1:{ports['temporal']}",
            "PICADAILY_TEMPORAL_UI_URL": f"http://127.0.0.1:{ports['ui']}",
            "PICADAILY_FAULT_INJECTION": "true",
            **{f"PICADAILY_{n.upper()}_URL": f"http://127.0.0.1:{ports[n]}"
               for n in ("vision", "metadata", "thumbnails", "collage")},
            **(extra_env or {}),
        })
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = home.parent / f"stack-{self.port}.out"
        self.start_seconds = 0.0

    def start(self) -> RunningStack:
        t0 = time.monotonic()
        with self.output.open("ab") as out:
            self.proc = subprocess.Popen([sys.executable, "-m", "picadaily", "up"], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_until(self._up, timeout=120, what="the stack runner to print its URL")
        except TimeoutError:
            self.stop()
            raise AssertionError(f"the stack did not start:\n{self.output.read_text()}") from None
        self.start_seconds = time.monotonic() - t0
        return self

    def _up(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise AssertionError(f"the stack runner exited:\n{self.output.read_text()}")
        return "PicaDaily is up" in self.output.read_text() and \
            httpx.get(f"{self.url}/healthz").status_code == 200

    def stop(self) -> int:
        """Ctrl-C, as a person would; returns the runner's exit code."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(
                f"the stack did not stop on Ctrl-C:\n{self.output.read_text()}") from None
