"""The stack runner's plan: the ports it gives replicas."""

from __future__ import annotations

from pathlib import Path

import pytest

import cli.ports
from cli.stack import Stack
from picadaily.settings import Settings


def test_a_replicas_port_is_never_one_the_settings_name(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A service's address is bound only when its proxy starts, so a free port picked for a
    replica could be it (seen: metadata's replica on vision's address, and the stack failed)."""
    stack = Stack(Settings(home=tmp_path, replicas=2))
    named = set(stack.named_ports())
    # the picker's first random choices are exactly the named ports, then ports nobody names
    choices = iter([*sorted(named), *range(20500, 20600)])
    monkeypatch.setattr(cli.ports.random, "randrange", lambda _low, _high: next(choices))
    stack.plan()
    replica_ports = {port for _, _, backends in stack.proxy_plan for port in backends}
    assert len(replica_ports) == 2 * len(stack.proxy_plan) > 0
    assert not replica_ports & named
