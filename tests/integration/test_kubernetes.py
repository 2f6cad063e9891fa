"""The Kubernetes base (``infra/kubernetes/base``) checked offline, as ``test_compose.py`` checks
compose: every object against the Kubernetes schemas (``kubernetes-validate``, strict: no unknown
field), and against the code — the processes compose runs, their commands, ports, settings,
NATS users, probes, image, and the objects that point at each other. The files are what
``infra/k8s.py`` writes (``make kubernetes``)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from cli.components import COMPONENTS
from infra import k8s
from picadaily.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "infra" / "kubernetes" / "base"
KUBERNETES = "1.30"  # the oldest release still supported upstream when this was written


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((BASE / "kustomization.yaml").read_text())
    return data


def rendered() -> list[dict[str, Any]]:
    """What ``kubectl kustomize`` renders, for this base's features (resources, one
    ConfigMap from an env file): the objects, without kustomize's name suffix and labels."""
    objects = [doc for name in kustomization()["resources"]
               for doc in yaml.safe_load_all((BASE / name).read_text()) if doc]
    for generator in kustomization()["configMapGenerator"]:
        data = {}
        for env_file in generator["envs"]:
            for line in (BASE / env_file).read_text().splitlines():
                if line and not line.startswith("#"):
                    key, _, value = line.partition("=")
                    data[key] = value
        objects.append({"apiVersion": "v1", "kind": "ConfigMap",
                        "metadata": {"name": generator["name"]}, "data": data})
    return objects


def of_kind(kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in rendered() if o["kind"] == kind}


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    [only] = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def test_the_files_are_what_the_table_writes() -> None:
    written = k8s.files(k8s.project_version())
    on_disk = {p.name: p.read_text() for p in BASE.iterdir()}
    assert on_disk == written, "run `make kubernetes` and commit infra/kubernetes/base"


@pytest.mark.parametrize("obj", rendered(), ids=lambda o: f"{o['kind']}/{o['metadata']['name']}")
def test_every_object_is_valid_kubernetes(obj: dict[str, Any]) -> None:
    kubernetes_validate.validate(obj, KUBERNETES, strict=True)


def test_the_processes_are_compose_s() -> None:
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"]
    ours = {name for name, s in compose.items()
            if s.get("image") == "picadaily:local" and not s.get("profiles")
            and s.get("command", [None])[0] == "run"}
    assert set(of_kind("Deployment")) == ours
    for name, service in compose.items():
        url = (service.get("environment") or {}).get("PICADAILY_NATS_URL")
        if name in ours and url:  # the same NATS user as compose gives it
            user = re.match(r"nats://([^:]+):", url)
            assert user is not None
            env = {e["name"]: e for e in container(of_kind("Deployment")[name])["env"]}
            assert env["PICADAILY_NATS_URL"]["value"].startswith(f"nats://{user[1]}:"), name


def test_each_process_runs_its_component_on_its_port_with_its_probes() -> None:
    settings_env = of_kind("ConfigMap")["picadaily-settings"]["data"]
    settings = Settings.model_validate({k.removeprefix("PICADAILY_").lower(): v
                                        for k, v in settings_env.items()
                                        if k.startswith("PICADAILY_")})
    version = k8s.project_version()
    for name, deployment in of_kind("Deployment").items():
        box = container(deployment)
        assert box["args"] == ["run", name] and name in COMPONENTS
        assert box["image"] == f"{k8s.IMAGE}:{version}"
        port = COMPONENTS[name].port(settings)
        if port is None:
            assert "ports" not in box and "readinessProbe" not in box, name
            continue
        assert box["ports"] == [{"name": "http", "containerPort": port}], name
        for probe in ("readinessProbe", "livenessProbe"):
            assert box[probe]["httpGet"] == {"path": "/healthz", "port": "http"}, (name, probe)


def test_every_setting_is_one_the_code_reads_and_secrets_are_referenced_not_written() -> None:
    fields = {f"PICADAILY_{f.upper()}" for f in Settings.model_fields}
    names = set(of_kind("ConfigMap")["picadaily-settings"]["data"])
    for deployment in of_kind("Deployment").values():
        for env in container(deployment)["env"]:
            names.add(env["name"])
            if "valueFrom" in env:
                assert env["valueFrom"]["secretKeyRef"]["name"] == k8s.SECRET
            if re.search(r"PASSWORD|TOKEN|SECRET|_KEY$|DATABASE_URL", env["name"]):
                assert "valueFrom" in env, env  # from the secret, never a value here
    unknown = {n for n in names if n.startswith("PICADAILY_") and n not in fields}
    assert unknown == set()
    assert not any(o["kind"] == "Secret" for o in rendered())
    readme = (ROOT / "infra" / "kubernetes" / "README.md").read_text()
    secrets = {name: set(re.findall(r"--from-(?:literal|file)=([\w.-]+)", command))
               for name, command in re.findall(
                   r"kubectl create secret generic ([\w-]+)((?:.*\\\n)*.*)", readme)}
    documented = secrets[k8s.SECRET]
    # the MinIO chart's: its root user, and the environment file its extraSecret carries
    minio = engine("minio.values.yaml")
    assert secrets[minio["existingSecret"]] == {"rootUser", "rootPassword"}
    assert secrets[minio["extraSecret"]] == {"config.env"}
    assert "MINIO_NOTIFY_NATS_PASSWORD_PICADAILY" in readme
    used = {e["valueFrom"]["secretKeyRef"]["key"] for d in of_kind("Deployment").values()
            for e in container(d)["env"] if "valueFrom" in e}
    used |= {e["valueFrom"]["secretKeyRef"]["key"]
             for e in engine("nats.values.yaml")["container"]["env"].values()}
    assert used == documented, "the README's `kubectl create secret` names every key used"


def test_every_pod_runs_as_nobody_in_particular_on_a_read_only_root() -> None:
    for name, deployment in of_kind("Deployment").items():
        pod = deployment["spec"]["template"]["spec"]
        assert pod["securityContext"]["runAsNonRoot"] is True and \
            pod["securityContext"]["runAsUser"] != 0, name
        box = container(deployment)["securityContext"]
        assert box == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                       "capabilities": {"drop": ["ALL"]}}, name
        assert pod["automountServiceAccountToken"] is False


def test_services_budgets_and_autoscalers_point_at_what_exists() -> None:
    deployments = of_kind("Deployment")

    def labels(name: str) -> dict[str, str]:
        return dict(deployments[name]["spec"]["template"]["metadata"]["labels"])

    for name, service in of_kind("Service").items():
        assert service["spec"]["selector"] == labels(name)
        [port] = service["spec"]["ports"]
        assert port["port"] == container(deployments[name])["ports"][0]["containerPort"]
    for name, budget in of_kind("PodDisruptionBudget").items():
        assert budget["spec"]["selector"]["matchLabels"] == labels(name)
        assert deployments[name]["spec"]["replicas"] > budget["spec"]["minAvailable"]
    for name, scaler in of_kind("HorizontalPodAutoscaler").items():
        assert scaler["spec"]["scaleTargetRef"]["name"] == name in deployments
        assert "resources" in container(deployments[name])  # (CPU utilisation needs requests)
    # every Service a setting names exists, at the port the setting says
    settings_env = of_kind("ConfigMap")["picadaily-settings"]["data"]
    for key, value in settings_env.items():
        hit = re.fullmatch(r"http://([a-z]+):(\d+)", value)
        if hit and hit[1] in deployments:
            assert of_kind("Service")[hit[1]]["spec"]["ports"][0]["port"] == int(hit[2]), key


ENGINES = ROOT / "infra" / "kubernetes" / "engines"


def engine(name: str) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ENGINES / name).read_text())
    return data


def test_the_engines_give_what_the_base_expects() -> None:
    settings_env = of_kind("ConfigMap")["picadaily-settings"]["data"]
    nats = engine("nats.values.yaml")["config"]
    # three servers, streams on files at three replicas: a stream survives one server
    assert nats["cluster"]["enabled"] and nats["cluster"]["replicas"] == 3
    assert nats["jetstream"]["enabled"] and nats["jetstream"]["fileStore"]["enabled"]
    assert int(settings_env["PICADAILY_STREAM_REPLICAS"]) == nats["cluster"]["replicas"]
    # Temporal's shards chosen (and explained: they can never change) on our PostgreSQL
    temporal_text = (ENGINES / "temporal.values.yaml").read_text()
    persistence = engine("temporal.values.yaml")["server"]["config"]["persistence"]
    assert persistence["numHistoryShards"] == 512 and "can never change" in temporal_text
    postgres = engine("postgres.yaml")
    primary = f"{postgres['metadata']['name']}-rw:5432"
    assert primary == k8s.ENGINES["postgres"]
    for store in persistence["datastores"].values():
        assert store["sql"]["connectAddr"] == primary and store["sql"]["pluginName"] == "postgres12"
    assert f"temporal-frontend:{7233}" == settings_env["PICADAILY_TEMPORAL_ADDRESS"]
    assert postgres["spec"]["instances"] >= 3 and postgres["spec"]["postgresql"][
        "synchronous"]["number"] >= 1
    # MinIO distributed, publishing the pictures bucket's events where compose's MinIO does
    minio = engine("minio.values.yaml")
    assert minio["mode"] == "distributed" and minio["replicas"] >= 4
    compose_minio = yaml.safe_load((ROOT / "docker-compose.yml").read_text())["services"][
        "minio"]["environment"]
    for key in ("SUBJECT", "JETSTREAM", "USERNAME"):
        name = f"MINIO_NOTIFY_NATS_{key}_PICADAILY"
        assert minio["environment"][name] == compose_minio[name], name
    assert minio["environment"]["MINIO_NOTIFY_NATS_ADDRESS_PICADAILY"] == k8s.ENGINES["nats"]
    assert settings_env["PICADAILY_S3_ENDPOINT"] == "http://minio:9000"


def test_the_nats_servers_carry_our_users_and_their_config_is_valid(tmp_path: Path) -> None:
    """The users' file the chart includes is infra/nats/picadaily.conf (less what the chart
    writes itself), every password it names comes from the secret, and nats-server accepts a
    config that includes it as the chart's does."""
    from cli.stack import binary
    from infra import nats_users

    values = engine("nats.values.yaml")
    assert values == k8s.nats_values(), "run `make kubernetes`"
    included = values["configMap"]["merge"]["data"]["picadaily-users.conf"]
    assert values["config"]["merge"] == {"00$include": "picadaily-users.conf"}
    named = set(re.findall(r"\$(NATS_[A-Z]+_PASSWORD)", included))
    assert named == set(values["container"]["env"]) == {
        f"NATS_{role}_PASSWORD" for role in nats_users.ROLES}
    (tmp_path / "picadaily-users.conf").write_text(included)
    (tmp_path / "nats.conf").write_text(
        'include picadaily-users.conf;\n"port": 4222,\n"jetstream": {"store_dir": "/data"}\n')
    env = {name: "a-password" for name in named}
    check = subprocess.run([binary("nats-server"), "-t", "-c", str(tmp_path / "nats.conf")],
                           env=env, capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr + check.stdout
