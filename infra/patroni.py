"""The local PostgreSQL cluster (``picadaily up --cluster``): a primary and a synchronous standby,
failed over by Patroni (PyPI ``patroni[etcd3]``) on the cluster's three-member etcd
(``infra.etcd``), every node on a loopback address of its own (``Settings.node_hosts``).

Each PostgreSQL node is one process of the runner's: Patroni, and the PostgreSQL server it
runs, inside a user and PID namespace of their own (``unshare``): killing it -9 takes the whole
node (Patroni with its server, as a host going down does), and PostgreSQL, which refuses to
run as root, runs as an unprivileged user of that namespace while its files stay the runner
user's, under ``PICADAILY_HOME/database``. The metadata service connects as production does:
both nodes in one URL with ``target_session_attrs=read-write`` (psycopg then finds the primary,
whichever it is).

Patroni's timings are its smallest allowed: a leader key of 20 s (``ttl``, the validator's
minimum), a loop of 2 s, and ``synchronous_mode`` on, so a commit is on both nodes before it is
acknowledged and the standby may be promoted without losing one; with the standby gone, Patroni
drops it from ``synchronous_standby_names`` (``synchronous_mode_strict`` off) instead of
blocking every commit.

No door open on the machine: PostgreSQL takes this run's scram passwords only, and Patroni's
REST API (which says which node is primary, and can be told to switch) speaks mutual TLS with
certificates of a CA made for the run (``tls_dir``), on every endpoint.
"""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

import httpx

from infra import etcd, tls
from picadaily.settings import Settings

# On each database node's address, from the stack's base port (free there: our processes listen
# on the stack's host only): PostgreSQL, Patroni's REST API.
POSTGRES, REST = 1, 2
TTL_S, LOOP_WAIT_S, RETRY_TIMEOUT_S = 20, 2, 5
DATABASE = "picadaily"
# The user PostgreSQL runs as inside its namespace when the runner is root (any but 0).
NAMESPACE_UID = 1000


def node_name(number: int) -> str:
    """The runner's name for a PostgreSQL node: database, database-2."""
    return "database" if number == 1 else f"database-{number}"


@dataclass(frozen=True)
class DatabasePart:
    name: str
    argv: list[str]
    host: str
    port: int  # ready when it answers here
    binds: tuple[int, ...]


def tls_dir(settings: Settings) -> Path:
    """The CA of Patroni's REST API for this run: ``node`` (each node's server certificate,
    and the one it shows the other node's API), ``runner`` (the runner's and the harness's)."""
    return settings.secrets_dir() / "database-tls"


def make_tls(settings: Settings) -> None:
    tls.make_authority(tls_dir(settings), "picadaily database CA",
                       settings.node_hosts("database", settings.postgres_nodes),
                       ("node", "runner"))


def rest_get(settings: Settings, host: str, path: str, timeout: float = 1.0) -> httpx.Response:
    """``GET path`` of the Patroni REST API on ``host``, with the runner's certificate (the API
    answers no caller without one of this run's CA)."""
    import ssl

    certs = tls_dir(settings)
    context = ssl.create_default_context(cafile=str(certs / "ca.crt"))
    context.load_cert_chain(certs / "runner.crt", certs / "runner.key")
    return httpx.get(f"https://{host}:{settings.port + REST}{path}", timeout=timeout,
                     verify=context)


def passwords() -> dict[str, str]:
    """This run's: the superuser (our metadata service's user too), replication, rewind, and
    Patroni's REST API."""
    return {role: secrets.token_urlsafe(18) for role in ("superuser", "replication", "rewind",
                                                         "rest")}


def database_url(settings: Settings, secret: dict[str, str]) -> str:
    hosts = ",".join(f"{h}:{settings.port + POSTGRES}"
                     for h in settings.node_hosts("database", settings.postgres_nodes))
    return (f"postgresql://{DATABASE}:{secret['superuser']}@{hosts}/{DATABASE}"
            "?target_session_attrs=read-write&connect_timeout=3")


def parts(settings: Settings, secret: dict[str, str]) -> list[DatabasePart]:
    """The PostgreSQL nodes, in start order (etcd's members, ``infra.etcd``, start before)."""
    base = settings.port
    out = []
    for i, host in enumerate(settings.node_hosts("database", settings.postgres_nodes), start=1):
        config = settings.home / "database" / f"node-{i}" / "patroni.yml"
        out.append(DatabasePart(node_name(i), [*namespace(), *patroni_argv(config)],
                                host, base + POSTGRES, (base + POSTGRES, base + REST)))
    return out


def namespace() -> list[str]:
    """A user and PID namespace for one node: PostgreSQL as an unprivileged user there (the
    runner's own user, or NAMESPACE_UID when that is root), everything in it killed with it."""
    who = [f"--map-user={NAMESPACE_UID}", f"--map-group={NAMESPACE_UID}"] \
        if os.geteuid() == 0 else ["--map-current-user"]
    return ["unshare", "--user", *who, "--pid", "--fork", "--kill-child=SIGTERM", "--mount-proc"]


def patroni_argv(config: Path) -> list[str]:
    import sys

    return [str(Path(sys.executable).parent / "patroni"), str(config)]


def prepare(settings: Settings, secret: dict[str, str]) -> None:
    """Each node's folder and Patroni configuration (mode 600: it holds this run's
    passwords)."""
    folder = settings.home / "database"
    bin_dir = _postgres_bin()
    make_tls(settings)
    certs = tls_dir(settings)
    members = ",".join(etcd.endpoints(settings))
    for i, host in enumerate(settings.node_hosts("database", settings.postgres_nodes), start=1):
        node = folder / f"node-{i}"
        node.mkdir(parents=True, exist_ok=True, mode=0o700)
        node.chmod(0o700)
        config = {
            "scope": f"picadaily-{settings.port}", "name": f"db{i}",
            "log": {"level": "WARNING"},
            # Mutual TLS on every endpoint (reading ones too: the cluster's roles are nobody
            # else's business); the other node's Patroni calls with the ``ctl`` certificate.
            "restapi": {"listen": f"{host}:{settings.port + REST}",
                        "connect_address": f"{host}:{settings.port + REST}",
                        "certfile": str(certs / "node.crt"), "keyfile": str(certs / "node.key"),
                        "cafile": str(certs / "ca.crt"), "verify_client": "required",
                        "authentication": {"username": "patroni", "password": secret["rest"]}},
            "ctl": {"certfile": str(certs / "node.crt"), "keyfile": str(certs / "node.key"),
                    "cacert": str(certs / "ca.crt")},
            "etcd3": {"hosts": members, "protocol": "https",
                      "cacert": str(etcd.tls_dir(settings) / "ca.crt"),
                      "cert": str(etcd.tls_dir(settings) / "client.crt"),
                      "key": str(etcd.tls_dir(settings) / "client.key")},
            "bootstrap": {
                "dcs": {"ttl": TTL_S, "loop_wait": LOOP_WAIT_S,
                        "retry_timeout": RETRY_TIMEOUT_S, "synchronous_mode": True,
                        "synchronous_mode_strict": False,
                        "maximum_lag_on_failover": 1024 * 1024,
                        "postgresql": {"use_pg_rewind": True, "parameters": {
                            "wal_level": "replica", "hot_standby": "on", "wal_log_hints": "on",
                            "max_wal_senders": 5, "max_replication_slots": 5,
                            "max_connections": 100}}},
                "initdb": [{"encoding": "UTF8"}, {"auth": "scram-sha-256"}],
                # our database, once, on the first primary (psql is given its address last)
                "post_bootstrap": f"{bin_dir / 'psql'} -q -c 'CREATE DATABASE {DATABASE}'",
            },
            "postgresql": {
                "listen": f"{host}:{settings.port + POSTGRES}",
                "connect_address": f"{host}:{settings.port + POSTGRES}",
                "data_dir": str(node / "data"), "bin_dir": str(bin_dir),
                "pgpass": str(node / "pgpass"),
                # (a standby's copy must not wait for a spread checkpoint: measured 65 s)
                "basebackup": [{"checkpoint": "fast"}],
                "authentication": {
                    "superuser": {"username": DATABASE, "password": secret["superuser"]},
                    "replication": {"username": "replicator",
                                    "password": secret["replication"]},
                    "rewind": {"username": "rewinder", "password": secret["rewind"]}},
                "parameters": {"unix_socket_directories": str(node)},
                # every connection with this run's password (on loopback they all come from
                # 127.0.0.1: an unbound socket's address)
                "pg_hba": ["host replication replicator 127.0.0.0/8 scram-sha-256",
                           "host all all 127.0.0.0/8 scram-sha-256",
                           "local all all scram-sha-256"],
            },
        }
        path = node / "patroni.yml"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as out:
            json.dump(config, out, indent=1)  # (JSON is YAML)
        path.chmod(0o600)


def _postgres_bin() -> Path:
    bins = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not bins:
        raise FileNotFoundError("PostgreSQL's server is not installed: on Debian/Ubuntu run "
                                "'sudo apt-get install postgresql'")
    return bins[-1].parent
