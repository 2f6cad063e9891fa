"""PicaDaily's own processes on Kubernetes: the kustomize base in ``infra/kubernetes/base``,
written from this table (``make kubernetes``; ``tests/integration/test_kubernetes.py`` fails
when the files differ from what this writes, or from the code, or from the Kubernetes schemas).

The engines come from their official charts and an operator, with the values in
``infra/kubernetes/engines`` (NATS, Temporal, MinIO, PostgreSQL by CloudNativePG); this base
expects their services under the names below. Storage events: MinIO publishes them to NATS
itself, as in compose, so no event source of ours runs here.

    python -m infra.k8s [DIR]   # write the base (default: infra/kubernetes/base)
"""

from __future__ import annotations

import functools
import logging
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from picadaily.settings import Settings

log = logging.getLogger(__name__)
BASE = Path(__file__).resolve().parent / "kubernetes" / "base"
IMAGE = "picadaily"  # the image the Dockerfile builds; kustomize's `images:` names the registry
SECRET = "picadaily"  # created by the user (kubectl create secret …), referenced, never written
UID = 10001
HEADER = ("# Written by `make kubernetes` (infra/k8s.py) from its table of processes; "
          "edit that, not this.\n")

# Where the engines' charts put their services (release names as in engines/README.md).
ENGINES = {
    "PICADAILY_S3_ENDPOINT": "http://minio:9000",
    "PICADAILY_TEMPORAL_ADDRESS": "temporal-frontend:7233",
    "nats": "nats:4222",
    "postgres": "picadaily-db-rw:5432",
}


@dataclass(frozen=True)
class Process:
    name: str
    http: bool  # serves HTTP (its /healthz is its probe)
    replicas: int  # at least; HPA may add (``scaled``)
    nats_user: str | None  # its NATS user (infra/nats/picadaily.conf); None: no NATS
    nats_password: str | None  # the secret's key for that user's password
    scaled: bool = False  # stateless: a HorizontalPodAutoscaler adds replicas under load
    database: bool = False  # reads PICADAILY_DATABASE_URL from the secret
    admin: bool = False  # holds the admins' credentials
    volume: str | None = None  # a PersistentVolumeClaim for PICADAILY_HOME (else an emptyDir)
    env: tuple[tuple[str, str], ...] = ()


PROCESSES: tuple[Process, ...] = (
    Process("metadata", True, 2, "metadata", "nats-metadata-password", database=True),
    Process("vision", True, 2, "vision", "nats-service-password", scaled=True),
    Process("thumbnails", True, 2, "thumbnails", "nats-service-password", scaled=True),
    Process("collage", True, 2, "collage", "nats-service-password"),
    Process("exif", True, 2, "exif", "nats-service-password", scaled=True),
    # The trace store keeps its spans in SQLite: one replica, on a volume of its own.
    Process("traces", True, 1, None, None, volume="traces-data",
            env=(("OTEL_SDK_DISABLED", "true"),)),
    Process("worker", False, 2, None, None, scaled=True),
    Process("trigger", False, 2, "trigger", "nats-trigger-password"),
    # One scan at a time (each would repair the same pictures).
    Process("reconciler", False, 1, "reconciler", "nats-reconciler-password"),
    Process("frontend", True, 2, "frontend", "nats-frontend-password", scaled=True, admin=True),
)


def settings_env() -> dict[str, str]:
    """The ConfigMap: every process's non-secret settings (compose's x-picadaily-env, with the
    engines at their charts' service names)."""
    return {
        "PICADAILY_HOST": "0.0.0.0",
        "PICADAILY_HOME": "/data",
        "PICADAILY_PORT": "8080",
        "PICADAILY_S3_ENDPOINT": ENGINES["PICADAILY_S3_ENDPOINT"],
        "PICADAILY_EVENT_SOURCE": "minio",
        "PICADAILY_MINIO_NATS_ARN": "arn:minio:sqs::PICADAILY:nats",
        "PICADAILY_TEMPORAL_ADDRESS": ENGINES["PICADAILY_TEMPORAL_ADDRESS"],
        "PICADAILY_VISION_URL": "http://vision:8101",
        "PICADAILY_METADATA_URL": "http://metadata:8102",
        "PICADAILY_THUMBNAILS_URL": "http://thumbnails:8103",
        "PICADAILY_COLLAGE_URL": "http://collage:8104",
        "PICADAILY_TRACES_URL": "http://traces:8105",
        "PICADAILY_EXIF_URL": "http://exif:8106",
        "PICADAILY_TRACING": "true",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://traces:8105",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
        "OTEL_TRACES_SAMPLER": "parentbased_traceidratio",
        "OTEL_TRACES_SAMPLER_ARG": "0.1",
        # NATS runs as three servers (engines/nats.values.yaml): every stream and the KV bucket
        # on all three, so losing one loses nothing.
        "PICADAILY_STREAM_REPLICAS": "3",
        "PICADAILY_DEFAULT_MODE": "orchestration",
        "PICADAILY_FAULT_INJECTION": "false",
    }


def port_of(process: Process) -> int | None:
    """The port it serves HTTP on, as the settings above say (None: it serves none)."""
    if not process.http:
        return None
    return _settings().http_port(process.name)


@functools.cache
def _settings() -> Settings:
    """The settings every process reads from the ConfigMap (built once)."""
    return Settings.model_validate({k.removeprefix("PICADAILY_").lower(): v
                                    for k, v in settings_env().items()
                                    if k.startswith("PICADAILY_")})


def _secret(name: str, key: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"secretKeyRef": {"name": SECRET, "key": key}}}


def _env(process: Process) -> list[dict[str, Any]]:
    env = [_secret("PICADAILY_S3_ACCESS_KEY", "s3-access-key"),
           _secret("PICADAILY_S3_SECRET_KEY", "s3-secret-key"),
           _secret("PICADAILY_INTERNAL_TOKEN", "internal-token"),
           # (Kubernetes expands $(NAME) of the variables above it)
           {"name": "OTEL_EXPORTER_OTLP_HEADERS",
            "value": "x-picadaily-internal-token=$(PICADAILY_INTERNAL_TOKEN)"}]
    if process.nats_user is not None:
        assert process.nats_password is not None
        env += [_secret("NATS_PASSWORD", process.nats_password),
                {"name": "PICADAILY_NATS_URL",
                 "value": f"nats://{process.nats_user}:$(NATS_PASSWORD)@{ENGINES['nats']}"}]
    if process.database:
        env.append(_secret("PICADAILY_DATABASE_URL", "database-url"))
    if process.admin:
        env += [_secret("PICADAILY_ADMIN_PASSWORD", "admin-password"),
                _secret("PICADAILY_ADMIN_TOKEN", "admin-token")]
    env += [{"name": "OTEL_SERVICE_NAME", "value": f"picadaily-{process.name}"},
            # (a user without a home of its own, on a read-only root: caches go to /tmp)
            {"name": "HOME", "value": "/tmp"}]
    env += [{"name": k, "value": v} for k, v in process.env]
    return env


def _labels(process: Process) -> dict[str, str]:
    return {"app.kubernetes.io/name": "picadaily", "app.kubernetes.io/component": process.name}


def deployment(process: Process, version: str) -> dict[str, Any]:
    port = port_of(process)
    container: dict[str, Any] = {
        "name": process.name,
        "image": f"{IMAGE}:{version}",
        "args": ["run", process.name],
        "envFrom": [{"configMapRef": {"name": "picadaily-settings"}}],
        "env": _env(process),
        "resources": {"requests": {"cpu": "100m", "memory": "256Mi"},
                      "limits": {"memory": "1Gi"}},
        "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                            "capabilities": {"drop": ["ALL"]}},
        "volumeMounts": [{"name": "data", "mountPath": "/data"},
                         {"name": "tmp", "mountPath": "/tmp"}],
    }
    if port is not None:
        probe = {"httpGet": {"path": "/healthz", "port": "http"}, "periodSeconds": 10}
        container["ports"] = [{"name": "http", "containerPort": port}]
        container["readinessProbe"] = {**probe, "failureThreshold": 3}
        # (liveness: only a process that stopped answering for a minute is restarted)
        container["livenessProbe"] = {**probe, "failureThreshold": 6,
                                      "initialDelaySeconds": 30}
    data: dict[str, Any] = {"name": "data", "emptyDir": {}}
    if process.volume:
        data = {"name": "data", "persistentVolumeClaim": {"claimName": process.volume}}
    spec: dict[str, Any] = {
        "replicas": process.replicas,
        "selector": {"matchLabels": _labels(process)},
        "template": {
            "metadata": {"labels": _labels(process)},
            "spec": {
                "securityContext": {"runAsNonRoot": True, "runAsUser": UID, "runAsGroup": UID,
                                    "fsGroup": UID, "seccompProfile": {"type": "RuntimeDefault"}},
                "automountServiceAccountToken": False,
                "terminationGracePeriodSeconds": 30,
                "containers": [container],
                "volumes": [data, {"name": "tmp", "emptyDir": {}}],
            },
        },
    }
    if process.volume:
        spec["strategy"] = {"type": "Recreate"}  # (one writer of its volume at a time)
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": process.name, "labels": _labels(process)}, "spec": spec}


def service(process: Process) -> dict[str, Any] | None:
    port = port_of(process)
    if port is None:
        return None
    return {"apiVersion": "v1", "kind": "Service",
            "metadata": {"name": process.name, "labels": _labels(process)},
            "spec": {"selector": _labels(process),
                     "ports": [{"name": "http", "port": port, "targetPort": "http"}]}}


def disruption_budget(process: Process) -> dict[str, Any] | None:
    if process.replicas < 2:
        return None
    return {"apiVersion": "policy/v1", "kind": "PodDisruptionBudget",
            "metadata": {"name": process.name, "labels": _labels(process)},
            "spec": {"minAvailable": 1, "selector": {"matchLabels": _labels(process)}}}


def autoscaler(process: Process) -> dict[str, Any] | None:
    if not process.scaled:
        return None
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": process.name, "labels": _labels(process)},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment",
                                        "name": process.name},
                     "minReplicas": process.replicas, "maxReplicas": 8,
                     "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization",
                                                   "averageUtilization": 70}}}]}}


def volume_claim(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "picadaily"}},
            "spec": {"accessModes": ["ReadWriteOnce"],
                     "resources": {"requests": {"storage": "5Gi"}}}}


def files(version: str) -> dict[str, str]:
    """File name -> its text: one file per process (all its objects), the volume claims, the
    settings and the kustomization."""
    out: dict[str, str] = {}
    for process in PROCESSES:
        docs = [d for d in (deployment(process, version), service(process),
                            disruption_budget(process), autoscaler(process)) if d is not None]
        out[f"{process.name}.yaml"] = HEADER + yaml.safe_dump_all(docs, sort_keys=False)
    claims = sorted({p.volume for p in PROCESSES if p.volume})
    out["volumes.yaml"] = HEADER + yaml.safe_dump_all([volume_claim(c) for c in claims],
                                                      sort_keys=False)
    out["settings.env"] = HEADER + "".join(f"{k}={v}\n" for k, v in settings_env().items())
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "labels": [{"pairs": {"app.kubernetes.io/part-of": "picadaily"}}],
        "resources": ["volumes.yaml", *(f"{p.name}.yaml" for p in PROCESSES)],
        "configMapGenerator": [{"name": "picadaily-settings", "envs": ["settings.env"]}],
        "images": [{"name": IMAGE, "newTag": version}],
    }
    out["kustomization.yaml"] = HEADER + yaml.safe_dump(kustomization, sort_keys=False)
    return out


NATS_HEADER = """\
# NATS for PicaDaily: `helm repo add nats https://nats-io.github.io/k8s/helm/charts/`, then
# `helm install nats nats/nats -f infra/kubernetes/engines/nats.values.yaml` (chart 2.x).
# Written by `make kubernetes` (infra/k8s.py): three servers with JetStream on files (with
# PICADAILY_STREAM_REPLICAS=3 every stream and the KV bucket lives on all three and survives the
# loss of one), and the users of infra/nats/picadaily.conf — one per component, who may
# publish what — included as they are, their passwords from the same secret as our processes'.
"""


def nats_values() -> dict[str, Any]:
    """The NATS chart's values: the cluster, and our users' file included in its config (the
    chart writes ``port`` and ``jetstream`` itself; everything else of the file is kept)."""
    from infra import nats_users

    users = "".join(line for line in nats_users.CONFIG.read_text().splitlines(keepends=True)
                    if not line.startswith(("port:", "jetstream:")))
    env = {f"NATS_{role}_PASSWORD": {"valueFrom": {"secretKeyRef": {
        "name": SECRET, "key": f"nats-{role.lower()}-password"}}} for role in nats_users.ROLES}
    return {
        "config": {
            "cluster": {"enabled": True, "replicas": 3},
            "jetstream": {"enabled": True,
                          "fileStore": {"enabled": True, "pvc": {"enabled": True,
                                                                 "size": "20Gi"}}},
            "merge": {"00$include": "picadaily-users.conf"},
        },
        "configMap": {"merge": {"data": {"picadaily-users.conf": users}}},
        "container": {"env": env},
        "podDisruptionBudget": {"enabled": True},
    }


class _Dumper(yaml.SafeDumper):
    """Multi-line strings (an included file) as literal blocks, readable as the file is."""


_Dumper.add_representer(str, lambda dumper, text: dumper.represent_scalar(
    "tag:yaml.org,2002:str", text, style="|" if "\n" in text else None))


def project_version() -> str:
    import importlib.metadata

    return importlib.metadata.version("picadaily")


def write(folder: Path = BASE) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files(project_version()).items():
        (folder / name).write_text(text, encoding="utf-8")
    engines = folder.parent / "engines"
    (engines / "nats.values.yaml").write_text(
        NATS_HEADER + yaml.dump(nats_values(), Dumper=_Dumper, sort_keys=False), encoding="utf-8")
    log.info("wrote the kustomize base in %s and %s", folder, engines / "nats.values.yaml")


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    write(Path(sys.argv[1]) if len(sys.argv) > 1 else BASE)
