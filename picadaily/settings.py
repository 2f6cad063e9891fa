"""Settings shared by every process: the stack runner, docker-compose and tests set the same names.

Every field is read from an environment variable ``PICADAILY_<FIELD>`` (upper case). There is no
module-level instance: each entry point calls ``Settings()`` (or receives one from a test).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal, get_args

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Mode = Literal["orchestration", "choreography"]
MODES: tuple[str, ...] = get_args(Mode)


# The local stack's ports, from the frontend's (``Settings.port``, 8080 by default) upwards: the
# frontend at +0, then each address below at its offset, then SeaweedFS's seven internal ports
# from +12 (``infra.seaweedfs``): 19 consecutive ports in all, 8080-8098 by default.
PORT_OFFSETS: dict[str, tuple[str, int]] = {
    "nats_url": ("nats://{host}:{port}", 1),
    "s3_endpoint": ("http://{host}:{port}", 2),
    "temporal_address": ("{host}:{port}", 3),
    "temporal_ui_url": ("http://{host}:{port}", 4),
    "lab_control_url": ("http://{host}:{port}", 5),
    "vision_url": ("http://{host}:{port}", 6),
    "metadata_url": ("http://{host}:{port}", 7),
    "thumbnails_url": ("http://{host}:{port}", 8),
    "collage_url": ("http://{host}:{port}", 9),
    "traces_url": ("http://{host}:{port}", 10),
    "exif_url": ("http://{host}:{port}", 11),
}
SEAWEEDFS_OFFSET = 12
PORTS_PER_STACK = SEAWEEDFS_OFFSET + 7


# The clustered tiers' servers: each on a loopback address of its own (Linux routes all of
# 127.0.0.0/8 to the loopback interface), so that each is a host that packet rules on its address
# can cut off; each tier's and each stack's apart (the stack's base port is in the address), so
# cutting a server off touches no other, of this stack or of another on the machine. The store's
# four kinds of server are four tiers: a master and a volume server on one address would be cut
# off together (the drill once cut the master leader so, and its volume server and S3 gateway
# with it).
CLUSTER_TIERS = {"nats": 0, "storage-master": 1, "database": 2, "etcd": 3, "storage-volume": 4,
                 "storage-filer": 5, "storage-s3": 6}
NODES_PER_TIER = 8


# `picadaily up --cluster`: the clustered tiers and two of each of our processes (the settings
# the runner's children read; a test's stack sets the same as environment variables).
CLUSTER: dict[str, int] = {"nats_servers": 3, "stream_replicas": 3, "storage_nodes": 3,
                           "postgres_nodes": 2, "replicas": 2}


def storage_gateways(nodes: int) -> int:
    """How many of a local store's nodes run an S3 gateway: two on a cluster (one may die), one
    on a single node."""
    return 1 if nodes == 1 else 2


def first_address(addresses: str) -> str:
    """The first of a comma-separated list of addresses (a cluster's: NATS, S3, the filer)."""
    return addresses.split(",", 1)[0].strip()


def address_list(addresses: str) -> list[str]:
    return [a.strip() for a in addresses.split(",") if a.strip()]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="PICADAILY_", extra="ignore")

    home: Path = Field(default=Path(".picadaily"), description="all local state lives here")
    host: str = "127.0.0.1"
    # The frontend's port, and the base every other port of the local stack derives from
    # (``PORT_OFFSETS``): two stacks with different ports and homes run side by side. A URL set
    # explicitly (compose, a remote server) wins over its derived default.
    port: int = Field(default=8080, ge=1, le=65535 - 19)

    # The servers the stack runner starts (or docker-compose provides).
    nats_url: str = ""  # derived defaults (``PORT_OFFSETS``): nats://127.0.0.1:<port + 1>, …
    # (a cluster's S3 gateways, the filers and NATS servers: comma-separated, tried in turn)
    s3_endpoint: str = ""
    s3_region: str = "us-east-1"
    s3_access_key: str = "picadaily"
    # A placeholder, not a secret: the local SeaweedFS runs without S3 identities and accepts any
    # key; set a real one for MinIO/S3.
    s3_secret_key: str = "local-store-accepts-any-key"
    # Where storage events come from (the trigger cannot tell them apart): "seaweedfs" (the local
    # store's filer log, followed by our event source), "sqs" (AWS S3 bucket notifications via
    # our bridge), "minio" (MinIO publishes to NATS itself: no process of ours).
    event_source: Literal["seaweedfs", "sqs", "minio"] = "seaweedfs"
    # MinIO's NATS notification target (defined by MinIO's MINIO_NOTIFY_NATS_*_PICADAILY env).
    minio_nats_arn: str = "arn:minio:sqs::PICADAILY:nats"
    # The local SeaweedFS (master, volume, filer and S3 gateway: ``infra.seaweedfs``): its S3 port
    # is the s3_endpoint's; its internal ports are seaweedfs_port_base + 0..6 (master, master
    # gRPC, volume, volume gRPC, filer, filer gRPC, S3 gRPC). The event source follows the filer
    # at seaweedfs_filer_grpc.
    seaweedfs_port_base: int = 0
    seaweedfs_filer_grpc: str = ""
    sqs_endpoint: str = ""
    sqs_queue: str = "picadaily-storage-events"
    temporal_address: str = ""
    temporal_namespace: str = "default"
    temporal_task_queue: str = "picadaily-pictures"
    temporal_ui_url: str = ""

    # Our own services (HTTP edges).
    vision_url: str = ""
    metadata_url: str = ""
    thumbnails_url: str = ""
    collage_url: str = ""
    exif_url: str = ""
    # Tracing: every process exports spans (OTLP/HTTP) to the trace store at traces_url, which the
    # picture page reads; the runner sets OTEL_EXPORTER_OTLP_ENDPOINT and OTEL_SERVICE_NAME for
    # its children when tracing is on. traces_forward_url: also pass every export on (Jaeger).
    traces_url: str = ""
    # Off unless asked for: always-on tracing costs 12-14 % more CPU per picture (make bench;
    # the bar for "on by default" was 5 %). `make demo` turns it on.
    tracing: bool = False
    traces_forward_url: str = ""
    trace_ui_url: str = ""  # a trace viewer the picture page links to (compose: Jaeger's UI)

    pictures_bucket: str = "pictures"
    thumbnails_bucket: str = "thumbnails"
    storage_stream: str = "STORAGE_EVENTS"
    # Domain events (choreography and garbage collection): subjects "<event_prefix>.picture.…".
    event_prefix: str = "picadaily"
    kv_bucket: str = Field(default="picadaily",
                           description="NATS KV bucket: the mode switch, event-source positions")
    events_stream: str = "PICADAILY_EVENTS"
    nats_servers: int = Field(
        default=1, ge=1, le=5, description="the local stack's NATS servers: 1, or a cluster "
        "(`picadaily up --cluster`: 3), each on a loopback address of its own (`node_hosts`), "
        "so one can be cut off as well as killed")
    storage_nodes: int = Field(
        default=1, ge=1, le=5, description="the local SeaweedFS: 1 node, or a cluster "
        "(`picadaily up --cluster`: 3 masters and 3 volume servers with replication 001, the "
        "filer, and an S3 gateway on two of them), each node on a loopback address of its own "
        "(`node_hosts`)")
    stream_replicas: int = Field(
        default=1, ge=1, le=5, description="each JetStream stream's and the KV bucket's "
        "replicas: 1 on one server; 3 on a cluster of three (a stream then survives one server)")
    dead_letter_stream: str = "PICADAILY_DEAD_LETTERS"
    # Retry budgets longer than a restart of any part (a service warming its models up, the
    # store, NATS): retryable errors (connection refused, 503) are retried for minutes, with a
    # capped back-off, in both modes; an error that can never succeed (422, 404) is not retried.
    event_max_deliver: int = Field(default=12, description="deliveries before a dead letter")
    event_backoff_s: list[float] = Field(
        default=[1.0, 2.0, 5.0, 10.0, 20.0, 30.0],
        description="redelivery delays after each failure (the last one repeats): ~3.6 min")
    step_retry_budget_s: float = Field(
        default=300.0, description="orchestration: how long a step's retryable errors are retried")
    local_first_steps: bool = Field(
        default=True, description="orchestration: each step's first attempts run as a local "
        "activity (no task-queue round trip); a step still failing becomes an ordinary activity")
    event_edges: bool = Field(default=True, description="services consume domain events")

    # Upload and decoding limits.
    max_upload_bytes: int = 30 * 1024 * 1024
    max_pixels: int = 60_000_000
    max_files_per_upload: int = 50
    max_request_bytes: int = Field(
        default=200 * 1024 * 1024, description="a whole upload request, refused before parsing")
    max_live_connections: int = Field(default=200, description="open /api/events streams")
    upload_bytes_in_flight: int = Field(
        default=256 * 1024 * 1024, ge=1024 * 1024,
        description="the bytes of all request bodies the frontend receives at once; a request "
                    "past it waits its turn (at most 30 s, then 503)")
    # What a reverse proxy would bound (``cli.http_protocol``), in every HTTP process of ours.
    max_connections: int = Field(default=1000, ge=10, description="connections one process "
                                 "holds at once; more are answered 503 and closed")
    header_timeout_s: float = Field(default=10.0, gt=0, description="to send a request's "
                                    "headers, from the connection or the previous response")
    body_idle_timeout_s: float = Field(default=15.0, gt=0, description="the longest pause "
                                       "within a request's body")
    header_checks_at_once: int = Field(
        default=2, description="uploads whose headers are inspected at the same time (threads)")
    thumbnail_size: int = 400
    decoded_bytes_at_once: int = Field(
        default=512 * 1024 * 1024, ge=16 * 1024 * 1024,
        description="decoded image bytes one vision or thumbnails process holds at once; "
                    "a decode past it waits its turn (``imaging.DecodeBudget``)")
    analyses_at_once: int = Field(
        default=2, ge=1, description="pictures one vision process decodes and judges at the "
                                     "same time; the others wait their turn")

    vision_backend: Literal["local", "google"] = Field(
        default="local", description="local: offline models; google: Google Cloud Vision")
    google_vision_endpoint: str = Field(
        default="", description="Cloud Vision API endpoint; empty: Google's own")
    google_vision_anonymous: bool = Field(
        default=False, description="no credentials (only for a local stand-in of the API)")

    # The reconciler: what no event can fix (an event lost with a store that died, a process
    # killed between two writes) is found by looking, every reconcile_every_s seconds, at what
    # has been waiting longer than reconcile_after_s.
    reconcile_every_s: float = 15.0
    reconcile_after_s: float = 120.0
    # An upload the frontend registered whose storage event has not reached the trigger (late or
    # lost in the store's event log; none of our queues holds it back): replayed after this long.
    reconcile_unseen_after_s: float = 15.0
    # The whole bucket against the whole metadata (a deletion whose event was lost, an object
    # nobody registered): it reads the whole library, so less often.
    reconcile_full_every_s: float = 600.0

    # The failure lab: people stop, start and kill processes and inject faults from /lab or
    # `picadaily lab`. Off unless asked for (`make demo` asks for it on loopback). The stack
    # runner answers the lab on lab_control_url (loopback only).
    lab: bool = False
    lab_control_url: str = ""

    # `picadaily up --replicas N`: N copies of every consumer, the worker and each service's HTTP
    # edge (behind one address). With N > 1 the metadata should be on PostgreSQL.
    replicas: int = Field(default=1, ge=1, le=8)
    replica_port: int | None = Field(
        default=None, description="set by the runner for a replica of an HTTP service: it "
        "listens on the service's port together with its other replicas (SO_REUSEPORT: the "
        "kernel spreads the connections) and on this port of its own (its health is asked there)")

    # The metadata's database: empty for the embedded SQLite file in home; a postgresql:// URL
    # for PostgreSQL (what replicas of the metadata service share).
    database_url: str = ""
    postgres_nodes: int = Field(
        default=0, ge=0, le=3, description="the local stack's own PostgreSQL: 0, none (the "
        "metadata on SQLite, or on database_url); 2 (`picadaily up --cluster`), a primary and "
        "a synchronous standby failed over by Patroni on a three-member etcd, each node on a "
        "loopback address of its own (`node_hosts`); the runner makes the URL")
    database_pool_size: int = 8

    # Admins: changing the system (mode flip, delete, redrive, the lab) needs a login with this
    # password (or its argon2 hash), or `Authorization: Bearer <admin_token>` for the API and
    # CLI. Empty: the stack runner makes one up and prints it once. Uploading and viewing are open.
    admin_password: str = ""
    admin_password_hash: str = ""
    admin_token: str = ""
    # The secret the stack's own processes call each other with (``picadaily.internal_auth``):
    # the services, the trace store and the runner's control endpoint refuse a caller without
    # it. Empty: the stack runner makes one for each run (compose: from .env).
    internal_token: str = ""
    session_hours: float = 12.0
    # Who may say, in X-Forwarded-For / -Proto, who the client is: the addresses of a reverse
    # proxy in front of the frontend (comma-separated; "*" trusts everyone). Empty: nobody
    # (uvicorn's own default trusts 127.0.0.1, so any local client could claim any address).
    forwarded_allow_ips: str = ""

    # Moderation: a borderline safety verdict (any judged category POSSIBLE) waits for a person
    # at /review; with no decision within review_timeout seconds the picture is rejected. The
    # local NSFW model calls a score in [low, high) POSSIBLE (safety_review_band).
    review_timeout: float = Field(default=24 * 3600.0, gt=0, le=6 * 24 * 3600.0,
                                  description="seconds (at most 6 days: the events stream's "
                                              "messages, scheduled timeouts too, live 7)")
    safety_review_band: tuple[float, float] = (0.35, 0.6)

    default_mode: Mode = "orchestration"
    fault_injection: bool = Field(
        default=False, description="services accept POST /admin/faults (demos and tests)"
    )

    @model_validator(mode="after")
    def _derive_ports(self) -> Settings:
        """Every address left empty derives from ``port`` (``PORT_OFFSETS``)."""
        host = "127.0.0.1" if self.host in ("0.0.0.0", "::", "") else self.host
        if not self.nats_url and self.nats_servers > 1:
            self.nats_url = ",".join(f"nats://{node}:{self.port + PORT_OFFSETS['nats_url'][1]}"
                                     for node in self.node_hosts("nats", self.nats_servers))
        if not self.s3_endpoint and self.storage_nodes > 1:
            gateways = self.node_hosts("storage-s3", storage_gateways(self.storage_nodes))
            port = self.port + PORT_OFFSETS["s3_endpoint"][1]
            self.s3_endpoint = ",".join(f"http://{node}:{port}" for node in gateways)
            if not self.seaweedfs_port_base:
                self.seaweedfs_port_base = self.port + SEAWEEDFS_OFFSET
            if not self.seaweedfs_filer_grpc:  # (the cluster's one filer: ``infra.seaweedfs``)
                filer = self.node_hosts("storage-filer", 1)[0]
                self.seaweedfs_filer_grpc = f"{filer}:{self.seaweedfs_port_base + 5}"
        for name, (template, offset) in PORT_OFFSETS.items():
            if not getattr(self, name):
                setattr(self, name, template.format(host=host, port=self.port + offset))
        if not self.seaweedfs_port_base:
            self.seaweedfs_port_base = self.port + SEAWEEDFS_OFFSET
        if not self.seaweedfs_filer_grpc:
            self.seaweedfs_filer_grpc = f"{host}:{self.seaweedfs_port_base + 5}"
        if not self.sqs_endpoint:
            self.sqs_endpoint = first_address(self.s3_endpoint)
        return self

    @field_validator("safety_review_band")
    @classmethod
    def _band_in_order(cls, band: tuple[float, float]) -> tuple[float, float]:
        low, high = band
        if not 0.0 <= low <= high <= 1.0:
            raise ValueError(f"safety_review_band {band}: need 0 <= low <= high <= 1")
        return band

    def http_port(self, process: str) -> int:
        """Where one of our HTTP processes listens: the front end on ``port``, a service where
        the others call it (its ``<name>_url``)."""
        if process == "frontend":
            return self.port
        return service_port(getattr(self, f"{process}_url"))

    def node_hosts(self, tier: str, nodes: int) -> list[str]:
        """Where a local cluster's servers of ``tier`` listen: 127.<16 + 8 * tier + node>.<the
        base port's two bytes>, e.g. 127.16.31.144 and 127.17.31.144 for NATS' first two
        servers of the stack on port 8080."""
        if nodes > NODES_PER_TIER:
            raise ValueError(f"at most {NODES_PER_TIER} servers of a tier")
        high, low = divmod(self.port, 256)
        return [f"127.{16 + NODES_PER_TIER * CLUSTER_TIERS[tier] + i}.{high}.{low}"
                for i in range(nodes)]

    def admin_token_path(self) -> Path:
        """Where the stack runner leaves the admin token it made up (readable by its user only),
        for the command line on the same machine."""
        return self.home / "admin-token"

    def secrets_dir(self) -> Path:
        """What the stack runner makes for one run and hands its children (mode 700): the
        store's S3 identities and gRPC TLS material."""
        return self.home / "secrets"

    def storage_tls_dir(self) -> Path:
        """The store's gRPC TLS material (``ca.crt``; ``client.crt``/``client.key``: what our
        filer client presents). Absent: the store speaks plain gRPC (a test's bare server)."""
        return self.secrets_dir() / "storage-tls"

    def storage_dir(self) -> Path:
        return self.home / "storage"

    def metadata_db_path(self) -> Path:
        return self.home / "metadata.sqlite3"

    def log_dir(self) -> Path:
        return self.home / "logs"


def service_port(url: str) -> int:
    """The port of one of our own service URLs (the process listens where others call it)."""
    from urllib.parse import urlsplit

    port = urlsplit(url).port
    if port is None:
        raise ValueError(f"service URL {url!r} has no port")
    return port
