"""Loopback ports: whether one is free, and free ones handed out once each.

Ports are picked *below* the kernel's ephemeral range: a port the kernel hands out for port 0 is
one it may also give any outgoing connection a moment later, and a server started on it then
fails to bind (seen: SeaweedFS's S3 port taken by a client socket of another test's stack).
"""

from __future__ import annotations

import random
import socket
from collections.abc import Iterable
from pathlib import Path

LOWEST = 20000


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def _ephemeral_start() -> int:
    try:
        start = int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        start = 32768  # Linux's default; elsewhere, a range that is rarely ephemeral
    return start if start > LOWEST + 1000 else 65535


_handed_out: set[int] = set()


def reserve(ports: Iterable[int]) -> None:
    """Never hand these out: ports named for something that is not listening yet (a free port
    picked later must not be one of them just because nothing has bound it so far)."""
    _handed_out.update(ports)


def free_port() -> int:
    """A free loopback port outside the ephemeral range, never the same one twice in this
    process."""
    return free_port_block(1)


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free loopback ports (none handed out before)."""
    top = _ephemeral_start() - size
    while True:
        base = random.randrange(LOWEST, top)
        block = range(base, base + size)
        if any(p in _handed_out for p in block):
            continue
        if all(port_is_free("127.0.0.1", p) for p in block):
            _handed_out.update(block)
            return base
