"""What every long-running process shares: its log format and the readiness mark the stack
runner waits for."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)
READY_MARK = "READY"
NOISY_LOGGERS = ("httpx", "httpcore", "botocore", "urllib3")


def configure_logging(name: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=level,
        format=f"%(asctime)s %(levelname)s {name} %(name)s: %(message)s",
    )
    for noisy in NOISY_LOGGERS:
        logging.getLogger(noisy).setLevel(logging.WARNING)


def announce_ready(what: str) -> None:
    """Event components log this once connected; the stack runner waits for it."""
    log.info("%s %s", READY_MARK, what)
