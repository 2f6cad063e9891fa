"""Whether a TCP port accepts connections (a server's readiness, before it speaks)."""

from __future__ import annotations

import socket


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False
