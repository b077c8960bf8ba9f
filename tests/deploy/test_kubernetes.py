"""The Kubernetes sidecar example: it parses, it has the native sidecar's shape, its probes
ask the path and port shipper serves, and its embedded config loads with the real loader
once the Secret's variables are set.

No cluster is needed: the manifests are read as data.
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import pytest

from shipper.config.model import Config
from shipper.ops.server import HEALTH_PATH, LIVE_PATH, is_loopback
from tests.deploy.files import (
    KUBERNETES,
    dockerfile_env,
    embedded_toml,
    find,
    kubernetes_documents,
    read_dockerfile,
    variables_in,
)
from tests.support.config import load_config

CONFIG_MAP = "shipper-config"
SECRET = "shipper-webhooks"


@pytest.fixture(scope="module")
def documents() -> list[dict[str, Any]]:
    return kubernetes_documents()


@pytest.fixture(scope="module")
def pod(documents: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = find(documents, "Deployment", "example-app")
    spec = deployment["spec"]["template"]["spec"]
    assert isinstance(spec, dict)
    return spec


@pytest.fixture(scope="module")
def sidecar(pod: dict[str, Any]) -> dict[str, Any]:
    found = [c for c in pod.get("initContainers", []) if c["name"] == "shipper"]
    assert len(found) == 1
    container = found[0]
    assert isinstance(container, dict)
    return container


@pytest.fixture(scope="module")
def config_text(documents: list[dict[str, Any]]) -> str:
    return embedded_toml(find(documents, "ConfigMap", CONFIG_MAP), "config.toml")[0]


def secret_variables(container: dict[str, Any]) -> set[str]:
    """The environment variables the container takes from the webhook Secret."""
    names = set()
    for entry in container.get("env", []):
        ref = entry.get("valueFrom", {}).get("secretKeyRef")
        if ref is not None:
            assert ref["name"] == SECRET
            names.add(entry["name"])
    return names


@pytest.fixture(scope="module")
def loaded(
    config_text: str, sidecar: dict[str, Any], tmp_path_factory: pytest.TempPathFactory
) -> Config:
    """The ConfigMap's config through the real loader, the Secret's variables set to dummies."""
    path = tmp_path_factory.mktemp("k8s") / "config.toml"
    path.write_text(config_text, encoding="utf-8")
    environ = {name: f"https://hooks.example.invalid/{name}" for name in secret_variables(sidecar)}
    return load_config(path, environ)


def test_every_manifest_parses_into_named_objects(documents: list[dict[str, Any]]) -> None:
    assert len(list(KUBERNETES.glob("*.yaml"))) >= 2
    kinds = {d["kind"] for d in documents}
    assert {"ConfigMap", "Deployment"} <= kinds
    for document in documents:
        assert document["apiVersion"]
        assert document["metadata"]["name"]


def test_shipper_is_a_native_sidecar_reading_the_apps_log_volume(
    pod: dict[str, Any], sidecar: dict[str, Any], loaded: Config
) -> None:
    assert sidecar["restartPolicy"] == "Always"
    assert "shipper" not in [c["name"] for c in pod["containers"]]
    assert loaded.source.path is not None
    log_dir = str(PurePosixPath(loaded.source.path).parent)

    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    log_mount = mounts[log_dir]
    assert log_mount["readOnly"] is True
    assert "emptyDir" in volumes[log_mount["name"]]
    # Some app container writes the same volume at the same place.
    writers = [
        m
        for c in pod["containers"]
        for m in c.get("volumeMounts", [])
        if m["name"] == log_mount["name"]
    ]
    assert writers
    assert all(m["mountPath"] == log_dir and not m.get("readOnly", False) for m in writers)


def test_the_liveness_probe_asks_the_live_path_on_the_metrics_port(
    sidecar: dict[str, Any], loaded: Config
) -> None:
    assert loaded.metrics_listen == ("0.0.0.0", 9816)
    port = loaded.metrics_listen[1]
    named = {p["name"]: p["containerPort"] for p in sidecar["ports"] if "name" in p}
    assert port in [p["containerPort"] for p in sidecar["ports"]]
    get = sidecar["livenessProbe"]["httpGet"]
    assert get["path"] == LIVE_PATH
    assert named.get(get["port"], get["port"]) == port


def test_no_probe_lets_delivery_health_gate_the_app(
    sidecar: dict[str, Any], pod: dict[str, Any]
) -> None:
    # A sidecar's readiness is the Pod's (a Slack outage would take the app out of its
    # Services), and a native sidecar's startup probe holds back the app's start: a sidecar
    # must never gate its app, so shipper has neither, and no probe anywhere asks /healthz.
    assert "readinessProbe" not in sidecar
    assert "startupProbe" not in sidecar
    for container in [*pod.get("initContainers", []), *pod["containers"]]:
        for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
            path = container.get(probe, {}).get("httpGet", {}).get("path")
            assert path != HEALTH_PATH, (container["name"], probe)


def test_the_args_start_with_the_command_the_image_runs(sidecar: dict[str, Any]) -> None:
    # The image's ENTRYPOINT is `shipper` and its CMD `run`: args replace CMD.
    (entrypoint,) = [i.exec_form() for i in read_dockerfile() if i.name == "ENTRYPOINT"]
    assert entrypoint == ["shipper"]
    assert sidecar["args"][0] == "run"


def test_listening_on_every_interface_says_why(config_text: str, loaded: Config) -> None:
    assert loaded.metrics_listen is not None
    assert not is_loopback(loaded.metrics_listen[0])
    lines = [line.strip() for line in config_text.splitlines()]
    at = next(n for n, line in enumerate(lines) if line.startswith("listen ="))
    comment: list[str] = []
    while lines[at - 1 - len(comment)].startswith("#"):
        comment.append(lines[at - 1 - len(comment)])
    why = " ".join(comment)
    assert "kubelet" in why and "pod's IP" in why
    assert "NetworkPolicy" in why


def test_the_config_is_mounted_where_the_image_looks_for_it(
    documents: list[dict[str, Any]], pod: dict[str, Any], sidecar: dict[str, Any]
) -> None:
    expected = PurePosixPath(dockerfile_env(read_dockerfile())["SHIPPER_CONFIG"])
    volumes = {v["name"]: v for v in pod["volumes"]}
    mounts = {m["mountPath"]: m for m in sidecar["volumeMounts"]}
    mount = mounts[str(expected.parent)]
    assert volumes[mount["name"]]["configMap"]["name"] == CONFIG_MAP
    assert expected.name in find(documents, "ConfigMap", CONFIG_MAP)["data"]
    # Mounted as a directory, not with subPath, so a changed ConfigMap reaches the file.
    assert "subPath" not in mount


def test_the_state_dir_is_its_own_writable_volume(
    pod: dict[str, Any], sidecar: dict[str, Any], loaded: Config
) -> None:
    # A directory of shipper's own in the volume: the root of an emptyDir is mode 0777,
    # which shipper refuses as a state directory.
    state_dir = loaded.source.state_dir
    assert state_dir == Path("/var/lib/shipper/state")
    volumes = {v["name"]: v for v in pod["volumes"]}
    mount = {m["mountPath"]: m for m in sidecar["volumeMounts"]}[str(state_dir.parent)]
    assert not mount.get("readOnly", False)
    assert "emptyDir" in volumes[mount["name"]] or "persistentVolumeClaim" in volumes[mount["name"]]
    # The app cannot see it.
    assert all(
        m["name"] != mount["name"] for c in pod["containers"] for m in c.get("volumeMounts", [])
    )


def test_every_config_variable_comes_from_the_secret_and_no_url_is_inline(
    config_text: str, sidecar: dict[str, Any], documents: list[dict[str, Any]]
) -> None:
    assert variables_in(config_text) == secret_variables(sidecar)
    for entry in sidecar.get("env", []):
        assert "://" not in str(entry.get("value", "")), entry["name"]
    assert not [d for d in documents if d["kind"] == "Secret"], "the Secret is made by hand"


def test_the_embedded_config_is_valid_and_drains_within_the_grace_period(
    pod: dict[str, Any], loaded: Config
) -> None:
    assert loaded.source.path == "/var/log/app/audit.jsonl"
    # The file is new with the pod: lines written before shipper opened it must be read.
    assert loaded.source.start_at == "beginning"
    assert [c.name for c in loaded.channels] == ["security", "infrastructure"]
    assert all(c.url is not None for c in loaded.channels)
    assert loaded.delivery.drain_timeout < pod["terminationGracePeriodSeconds"]


def test_the_sidecar_runs_locked_down(pod: dict[str, Any], sidecar: dict[str, Any]) -> None:
    context = sidecar["securityContext"]
    assert context["runAsNonRoot"] is True
    assert context["readOnlyRootFilesystem"] is True
    assert context["allowPrivilegeEscalation"] is False
    assert context["capabilities"]["drop"] == ["ALL"]
    seccomp = context.get("seccompProfile") or pod["securityContext"]["seccompProfile"]
    assert seccomp["type"] == "RuntimeDefault"
    # The image's numeric USER, so runAsNonRoot can check it.
    user = next(i.args for i in read_dockerfile() if i.name == "USER")
    assert str(context["runAsUser"]) == user.split(":")[0]
    limits = sidecar["resources"]["limits"]
    assert limits["memory"] == "128Mi"
    assert sidecar["resources"]["requests"]["memory"]


def test_the_config_map_config_has_no_secret(config_text: str) -> None:
    assert "https://" not in config_text
    assert Path(KUBERNETES / "README.md").is_file()
