"""Loopback ports: whether one is free, and free ones handed out once each."""

from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


_handed_out: set[int] = set()


def free_port() -> int:
    """A free loopback port, never the same one twice in this process."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port: int = sock.getsockname()[1]
        if port not in _handed_out:
            _handed_out.add(port)
            return port


def free_port_block(size: int) -> int:
    """The first of ``size`` consecutive free loopback ports (none handed out before)."""
    while True:
        base = free_port()
        block = range(base, base + size)
        if base + size > 65535 or any(p in _handed_out for p in block[1:]):
            continue
        if all(port_is_free("127.0.0.1", p) for p in block[1:]):
            _handed_out.update(block)
            return base
