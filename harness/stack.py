"""The whole local stack in a child process (`picadaily up` on free ports, its own home), as a
user would start it: used by the end-to-end tests and the bench."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import httpx

from cli.ports import free_port_block
from cli.supervisor import die_with_parent
from picadaily.settings import PORTS_PER_STACK, Settings


def wait_until(check: Callable[[], bool], timeout: float = 30, what: str = "condition",
               tolerate: tuple[type[Exception], ...] = ()) -> None:
    """Poll ``check`` until it is true; exceptions of the ``tolerate`` types count as false."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except tolerate:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"{what} not reached within {timeout} s")


class RunningStack:
    def __init__(self, home: Path, extra_env: dict[str, str] | None = None) -> None:
        self.home = home
        self.port = free_port_block(PORTS_PER_STACK)
        # Known admin credentials for whoever drives this stack (tests, the bench).
        self.admin_password = secrets.token_urlsafe(12)
        self.admin_token = secrets.token_urlsafe(24)
        # and the internal one, for a test that calls a service's own routes
        self.internal_token = secrets.token_urlsafe(24)
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = dict(os.environ)
        # Every port of the stack derives from its frontend's (``PORT_OFFSETS``): one block.
        self.env.update({
            "PICADAILY_HOME": str(home),
            "PICADAILY_PORT": str(self.port),
            "PICADAILY_FAULT_INJECTION": "true",
            "PICADAILY_ADMIN_PASSWORD": self.admin_password,
            "PICADAILY_ADMIN_TOKEN": self.admin_token,
            "PICADAILY_INTERNAL_TOKEN": self.internal_token,
            **(extra_env or {}),
        })
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = home.parent / f"stack-{self.port}.out"
        self.start_seconds = 0.0
        self._offset = 0

    def settings(self) -> Settings:
        """The stack's settings as its processes see them, with the provisioning's credentials
        (what a test or the bench needs to look at the store and the streams directly)."""
        values = {k[len("PICADAILY_"):].lower(): json.loads(v) if v[:1] in "[{" else v
                  for k, v in self.env.items() if k.startswith("PICADAILY_")}
        settings = Settings.model_validate(values)
        nats_url = settings.secrets_dir() / "nats-provision-url"
        if nats_url.exists():
            settings.nats_url = nats_url.read_text().strip()
        identities = settings.secrets_dir() / "s3-identities.json"
        if identities.exists():
            for identity in json.loads(identities.read_text())["identities"]:
                if identity["name"] == "provision":
                    key = identity["credentials"][0]
                    settings.s3_access_key = key["accessKey"]
                    settings.s3_secret_key = key["secretKey"]
        return settings

    def processes(self) -> dict[str, int]:
        """The runner's processes that are running now, by its names for them (nats-2,
        storage-master-3, …), from its control endpoint: their pids."""
        from picadaily.control_api import PROCESSES
        from picadaily.internal_auth import HEADER

        settings = self.settings()
        resp = httpx.get(settings.lab_control_url + PROCESSES, timeout=10,
                         headers={HEADER: self.internal_token})
        resp.raise_for_status()
        return {p["name"]: p["pid"] for p in resp.json() if p["pid"] is not None}

    def client(self, timeout: float | None = 30) -> httpx.Client:
        """An HTTP client of the stack's public API, signed in as admin (bearer token)."""
        return httpx.Client(base_url=self.url, timeout=timeout,
                            headers={"Authorization": f"Bearer {self.admin_token}"})

    def start(self) -> RunningStack:
        t0 = time.monotonic()
        self._offset = self.output.stat().st_size if self.output.exists() else 0
        with self.output.open("ab") as out:
            # The runner dies with whoever started it (a test run killed half way leaves no stack).
            self.proc = subprocess.Popen([sys.executable, "-m", "cli", "up"], env=self.env,
                                         stdout=out, stderr=subprocess.STDOUT,
                                         preexec_fn=die_with_parent)
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
        return "PicaDaily is up" in self.output.read_text()[self._offset:] and \
            httpx.get(f"{self.url}/healthz").status_code == 200

    def discard(self) -> None:
        """kill -9 the runner; every child of it dies with it (``die_with_parent``). For a stack
        whose home is thrown away: a stop waits 5 s for the store to flush its event log
        (``infra.seaweedfs.STOP_GRACE_S``), which a discarded home does not need."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait()

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
