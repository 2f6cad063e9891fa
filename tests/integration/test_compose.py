"""docker-compose.yml cannot run here (no Docker engine): keep it honest by checking it against
the code: every command is a real component, every setting a real setting, every URL points at
the service that listens on it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from cli.components import COMPONENTS
from cli.main import main as cli_main
from picadaily.settings import Settings
from picadaily.storage_events import subject_for

ROOT = Path(__file__).resolve().parents[2]


class ComposeLoader(yaml.SafeLoader):
    """YAML with Compose's merge tags (``!reset``, ``!override``) read as plain values."""


for _tag in ("!reset", "!override"):
    ComposeLoader.add_constructor(_tag, lambda loader, node: (
        loader.construct_mapping(node) if isinstance(node, yaml.MappingNode)
        else loader.construct_sequence(node) if isinstance(node, yaml.SequenceNode)
        else loader.construct_scalar(node)))


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    return doc


@pytest.fixture(scope="module")
def seaweedfs_override() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.load((ROOT / "docker-compose.seaweedfs.yml").read_text(),
                                    Loader=ComposeLoader)
    return doc


def _env(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    return {k: str(v) for k, v in env.items()}


def _ours(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {name: svc for name, svc in compose["services"].items()
            if svc.get("image") == "picadaily:local"}


def test_every_command_is_a_component_and_every_component_but_the_event_sources_runs(
    compose: dict[str, Any],
) -> None:
    ran = set()
    for name, svc in _ours(compose).items():
        command = svc["command"]
        assert command[0] in {"run", "provision"}, name
        if command[0] == "run":
            assert command[1] in COMPONENTS, name
            assert command[1] == name, "a compose service is named after its component"
            ran.add(command[1])
    # MinIO publishes storage events to NATS itself; our SeaweedFS source runs only with
    # docker-compose.seaweedfs.yml (its profile); the SQS bridge is for AWS.
    assert ran == set(COMPONENTS) - {"bridge"}
    assert compose["services"]["source"]["profiles"] == ["seaweedfs"]


def test_every_setting_named_is_a_real_setting(compose: dict[str, Any]) -> None:
    fields = {f"PICADAILY_{name.upper()}" for name in Settings.model_fields}
    named = set()
    for svc in compose["services"].values():
        named |= {k for k in _env(svc) if k.startswith("PICADAILY_")}
    named |= set(re.findall(r"PICADAILY_[A-Z0-9_]+", (ROOT / ".env.example").read_text()))
    assert named - fields == set()


def _settings_of(service: dict[str, Any]) -> Settings:
    """The settings a container of this service runs with: the image's ENV, then compose's."""
    env = dict(re.findall(r"(PICADAILY_[A-Z_]+)=(\S+)", (ROOT / "Dockerfile").read_text()))
    env.update(_env(service))
    return Settings.model_validate({k.removeprefix("PICADAILY_").lower(): v
                                    for k, v in env.items() if "${" not in v})


def test_every_url_a_process_calls_is_where_that_service_really_listens(
    compose: dict[str, Any],
) -> None:
    """For every caller and every HTTP service it calls: the host is the service's compose name,
    the port is the one the service binds with its own container's settings, on all
    interfaces (a process bound to 127.0.0.1 in a container is unreachable)."""
    ours = _ours(compose)
    listening = {}
    for name, svc in ours.items():
        component = COMPONENTS[svc["command"][1]] if svc["command"][0] == "run" else None
        if component is not None and component.kind == "http":
            own = _settings_of(svc)
            listening[name] = component.bind(own)
    assert set(listening) == {"metadata", "vision", "thumbnails", "collage", "exif", "traces",
                               "frontend"}
    assert all(host == "0.0.0.0" for host, _ in listening.values()), listening
    for caller, svc in ours.items():
        settings = _settings_of(svc)
        for name, (_, port) in listening.items():
            if name == "frontend":
                continue
            url = urlsplit(getattr(settings, f"{name}_url"))
            assert (url.hostname, url.port) == (name, port), f"{caller} calls {name} at {url}"
    frontend_port = listening["frontend"][1]
    [published] = ours["frontend"]["ports"]
    assert published.endswith(f":{frontend_port}"), "the published port is the one it binds"


def test_the_provision_jobs_are_real_commands_and_minio_publishes_where_the_trigger_listens(
    compose: dict[str, Any],
) -> None:
    services = compose["services"]
    assert services["provision-streams"]["command"] == ["provision", "--streams"]
    assert services["provision-storage"]["command"] == ["provision", "--storage"]
    for job in ("provision-streams", "provision-storage"):
        with pytest.raises(SystemExit) as exit_info:
            cli_main([*services[job]["command"], "--help"])
        assert exit_info.value.code == 0
    minio = _env(services["minio"])
    assert minio["MINIO_NOTIFY_NATS_SUBJECT_PICADAILY"] == subject_for(Settings().pictures_bucket)
    assert minio["MINIO_NOTIFY_NATS_JETSTREAM_PICADAILY"] == "on"
    assert minio["MINIO_NOTIFY_NATS_QUEUE_DIR_PICADAILY"].startswith("/data/")
    storage = _settings_of(services["provision-storage"])
    assert storage.event_source == "minio"
    # the ARN our provisioning sets names the target MinIO's environment defines
    assert storage.minio_nats_arn == "arn:minio:sqs::PICADAILY:nats"


def test_every_image_can_still_be_pulled_and_is_pinned(compose: dict[str, Any]) -> None:
    import subprocess

    from cli.stack import binary

    images = {name: svc["image"] for name, svc in compose["services"].items()
              if svc.get("image") and svc["image"] != "picadaily:local"}
    for name, image in images.items():
        assert ":" in image and not image.endswith(":latest"), f"pin {image}"
        # gone from Docker Hub (September 2026), or deprecated by its makers
        assert not image.startswith(("minio/", "temporalio/auto-setup")), (name, image)
    assert images["minio"].startswith("quay.io/minio/minio:RELEASE.")
    assert images["temporal"].startswith("temporalio/server:")
    assert images["temporal-schema"] == images["temporal-namespace"] == \
        "temporalio/admin-tools:" + images["temporal"].split(":")[1]
    local = subprocess.run([binary("nats-server"), "--version"], capture_output=True,
                           text=True, check=True).stdout
    local_minor = re.search(r"v(\d+\.\d+)\.", local)
    assert local_minor is not None
    assert images["nats"].split(":")[1].startswith(local_minor.group(1) + "."), \
        f"NATS in compose {images['nats']} vs the local {local.strip()}"


def test_long_running_services_restart_report_health_and_publish_only_the_uis(
    compose: dict[str, Any],
) -> None:
    one_shots = {"provision-streams", "provision-storage", "temporal-schema",
                 "temporal-namespace"}
    no_http = {"worker", "trigger", "reconciler", "source", "jaeger", "temporal-ui"}
    for name, svc in compose["services"].items():
        if name in one_shots:
            assert svc["restart"] in ("no", "on-failure:6"), name
            continue
        assert svc["restart"] == "unless-stopped", name
        if name not in no_http:
            assert "healthcheck" in svc, name
            test = svc["healthcheck"]["test"]
            if test[:3] == ["CMD", "picadaily", "healthz"]:
                assert test[3] == name and COMPONENTS[name].kind == "http", name
        published = svc.get("ports", [])
        if published:
            # (Temporal's frontend and UI have no login: never published)
            assert name in {"frontend", "jaeger"}, f"{name} is published"
            for port in published:
                assert port.startswith(("127.0.0.1:", "${PICADAILY_PUBLISH:-127.0.0.1}:")), port

def test_every_process_exports_spans_to_the_trace_store_which_forwards_them_to_jaeger(
    compose: dict[str, Any],
) -> None:
    ours = _ours(compose)
    traces = _settings_of(ours["traces"])
    _, port = COMPONENTS["traces"].bind(traces)
    for name, svc in ours.items():
        env = _env(svc)
        endpoint = urlsplit(env["OTEL_EXPORTER_OTLP_ENDPOINT"])
        assert (endpoint.hostname, endpoint.port) == ("traces", port), name
        assert env["OTEL_EXPORTER_OTLP_PROTOCOL"] == "http/protobuf"  # what the store reads
        assert ("OTEL_SDK_DISABLED" in env) == (name == "traces"), name
    forward = urlsplit(traces.traces_forward_url)
    assert forward.hostname == "jaeger" and forward.path == "/v1/traces"
    assert compose["services"]["jaeger"]["image"].startswith("jaegertracing/jaeger:2.")


def test_admin_secrets_reach_only_the_frontend_and_the_examples_are_refused(
    compose: dict[str, Any],
) -> None:
    from frontend.admins import EXAMPLE_PASSWORDS, EXAMPLE_TOKENS

    for name, svc in _ours(compose).items():
        env = _env(svc)
        has = {"PICADAILY_ADMIN_PASSWORD", "PICADAILY_ADMIN_TOKEN"} & set(env)
        assert bool(has) == (name == "frontend"), name
    example = dict(re.findall(r"^(PICADAILY_ADMIN_[A-Z]+)=(\S+)$",
                              (ROOT / ".env.example").read_text(), re.MULTILINE))
    assert example["PICADAILY_ADMIN_PASSWORD"] in EXAMPLE_PASSWORDS
    assert example["PICADAILY_ADMIN_TOKEN"] in EXAMPLE_TOKENS


def test_the_metadata_lives_in_the_compose_postgresql(compose: dict[str, Any]) -> None:
    metadata = _settings_of(_ours(compose)["metadata"])
    url = urlsplit(metadata.database_url)
    postgres = _env(compose["services"]["postgres"])
    assert url.scheme == "postgresql" and url.hostname == "postgres"
    assert url.path.lstrip("/") == postgres["POSTGRES_DB"]
    assert (url.username, url.password) == (postgres["POSTGRES_USER"],
                                            postgres["POSTGRES_PASSWORD"])


def test_seaweedfs_is_one_setting_away_and_every_process_of_ours_follows_it(
    compose: dict[str, Any], seaweedfs_override: dict[str, Any],
) -> None:
    import subprocess

    from cli.stack import binary

    over = seaweedfs_override["services"]
    assert over["minio"]["profiles"] == ["minio"]  # off with this file
    assert over["source"]["profiles"] == []  # on with this file
    for name, svc in _ours(compose).items():
        merged = {**_env(svc), **{k: str(v) for k, v in over[name]["environment"].items()}}
        settings = Settings.model_validate({k.removeprefix("PICADAILY_").lower(): v
                                            for k, v in merged.items()
                                            if k.startswith("PICADAILY_") and "${" not in v})
        assert settings.event_source == "seaweedfs", name
        s3 = urlsplit(settings.s3_endpoint)
        assert (s3.hostname, s3.port) == ("seaweedfs", 8333), name
        assert settings.seaweedfs_filer_grpc == "seaweedfs:18888", name
    store = over["seaweedfs"]
    assert {"-s3.port=8333", "-filer.port.grpc=18888", "-ip.bind=0.0.0.0"} <= set(
        store["command"])
    assert list(over["provision-storage"]["depends_on"]) == ["seaweedfs"]
    local = subprocess.run([binary("weed"), "version"], capture_output=True, text=True,
                           check=True).stdout
    assert f" {store['image'].split(':')[1]} " in local, (store["image"], local)
