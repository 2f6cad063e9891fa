"""Cutting one node of a local cluster off the network, and letting it back: what a pulled cable
or a partition does, as opposed to a kill.

A cluster's node listens on a loopback address of its own (``Settings.node_hosts``),
but what it sends leaves from 127.0.0.1 like everything else on the machine (an unbound socket
takes the loopback's first address), so an address alone names only what comes *to* the node.
The process is therefore moved into a cgroup (v2) of its own as well, and packet rules drop
everything addressed to the node or sent from its address, everything it sends on a socket it
opens from then on, and both directions of every connection it holds already (a socket keeps
the cgroup it was made in: the cgroup rule alone left the node's open connections working, and
a master leader "cut off" so went on leading)::

    iptables -I INPUT  -d <node address>                 -j DROP
    iptables -I INPUT  -s <node address>                 -j DROP
    iptables -I OUTPUT -m cgroup --path <its cgroup>     -j DROP
    iptables -I INPUT  -p tcp -s <local> --sport <port> -d <remote> --dport <port> -j DROP
                                              (and back, for each connection it holds)

Its connections are not closed: they stall, as over a dead link, and carry on (TCP retransmits)
once the rules go. Needs root, ``iptables`` (Debian's package; ``.ci/run`` installs it) and a
cgroup v2 hierarchy; ``unavailable()`` says which is missing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

from harness.proctree import descendants


def _cgroup2_root() -> Path | None:
    with contextlib.suppress(OSError):
        for line in Path("/proc/mounts").read_text().splitlines():
            fields = line.split()
            if len(fields) > 2 and fields[2] == "cgroup2":
                return Path(fields[1])
    return None


def unavailable() -> str | None:
    """Why nodes cannot be cut off here (None: they can)."""
    if os.geteuid() != 0:
        return "cutting a node off takes packet rules: run as root"
    if shutil.which("iptables") is None:
        return "iptables not found: apt-get install iptables"
    if _cgroup2_root() is None:
        return "no cgroup v2 hierarchy mounted (the rule on what a node sends needs one)"
    return None


def _connections(pids: list[int]) -> set[tuple[tuple[str, str], tuple[str, str]]]:
    """The established TCP connections (IPv4) of these processes: (local, remote) addresses."""
    inodes: set[str] = set()
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in Path(f"/proc/{pid}/fd").iterdir():
                with contextlib.suppress(OSError):
                    target = os.readlink(fd)
                    if target.startswith("socket:["):
                        inodes.add(target[8:-1])
    out = set()
    for line in Path(f"/proc/{pids[0]}/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[3] == "01" and fields[9] in inodes:  # ESTABLISHED
            out.add((_address(fields[1]), _address(fields[2])))
    return out


def _address(hex_address: str) -> tuple[str, str]:
    ip, port = hex_address.split(":")
    return ".".join(str(b) for b in reversed(bytes.fromhex(ip))), str(int(port, 16))


def _restore(rules: list[tuple[str, ...]]) -> None:
    """All the rules at once (``iptables-restore --noflush``: one call, not one a rule)."""
    text = "*filter\n" + "".join(" ".join(rule) + "\n" for rule in rules) + "COMMIT\n"
    subprocess.run(["iptables-restore", "--noflush", "-w"], input=text.encode(), check=True,
                   capture_output=True, timeout=30)


class CutOff:
    """One node cut off: ``pid`` (its server process) and ``address`` (where it listens)."""

    def __init__(self, pid: int, address: str) -> None:
        root = _cgroup2_root()
        if root is None or (why := unavailable()):
            raise RuntimeError(why or "no cgroup v2")
        self.pid, self.address = pid, address
        self._root = root
        self._group = root / f"picadaily-cut-{pid}"
        self._rules: list[tuple[str, ...]] = [
            ("INPUT", "-d", address, "-j", "DROP"), ("INPUT", "-s", address, "-j", "DROP"),
            ("OUTPUT", "-m", "cgroup", "--path", self._group.name, "-j", "DROP")]
        self._was_in = Path(f"/proc/{pid}/cgroup").read_text().strip().split("::", 1)[-1]

    def start(self) -> None:
        self._group.mkdir(exist_ok=True)
        pids = descendants(self.pid)  # (a node's processes: all of them)
        for pid in pids:
            with contextlib.suppress(OSError):
                (self._group / "cgroup.procs").write_text(str(pid))
        for (local, lport), (remote, rport) in _connections(pids):
            self._rules += [
                ("INPUT", "-p", "tcp", "-s", local, "--sport", lport, "-d", remote,
                 "--dport", rport, "-j", "DROP"),
                ("INPUT", "-p", "tcp", "-s", remote, "--sport", rport, "-d", local,
                 "--dport", lport, "-j", "DROP")]
        _restore([("-I", *rule) for rule in self._rules])

    def end(self) -> None:
        """The rules gone, the process (if it still lives) back where it was."""
        with contextlib.suppress(subprocess.CalledProcessError):
            _restore([("-D", *rule) for rule in self._rules])
        home = self._root / self._was_in.lstrip("/")
        with contextlib.suppress(OSError):  # (it may have died meanwhile)
            for pid in (self._group / "cgroup.procs").read_text().split():
                (home / "cgroup.procs").write_text(pid)
        with contextlib.suppress(OSError):
            self._group.rmdir()


@contextlib.contextmanager
def cut_off(pid: int, address: str) -> Iterator[CutOff]:
    cut = CutOff(pid, address)
    cut.start()
    try:
        yield cut
    finally:
        cut.end()
