"""deploy/kubernetes: schema-valid offline (kubernetes-validate bundles the API schemas), wired
to the image (user, port, probes that exist), keys only from a Secret, a grace period that
covers the drain, and the pod's security settings run the real image (podman).

No cluster and no kustomize here: the kustomizations are read by this test, which builds what
they generate (the ConfigMap, the autoscale overlay's Deployment) and validates that too.
"""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]
import openai
import pytest
import yaml

from aoa_proxy.app import create_app
from aoa_proxy.config import ENV_VARS, load_settings
from tests.gated import GatedUpstream
from tests.packaging import podman
from tests.packaging.conftest import ROOT, Build
from tests.packaging.dockerfile import parse
from tests.support import free_port, get_json, wait_for

K8S = ROOT / "deploy" / "kubernetes"
VERSIONS = ("1.29.0", kubernetes_validate.latest_version())  # oldest supported, newest bundled
SECRET_VARS = {v.name for v in ENV_VARS if v.secret}
KNOWN_VARS = {v.name for v in ENV_VARS if v.name.isupper() and " " not in v.name}
FINAL = parse(ROOT / "Dockerfile")[1][-1]


def _yaml(path: Path) -> dict[str, Any]:
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


def _env_file(path: Path) -> dict[str, str]:
    lines = path.read_text(encoding="utf-8").splitlines()
    pairs = [ln.split("=", 1) for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    return {k.strip(): v.strip() for k, v in pairs}


def _config_map() -> dict[str, Any]:
    """What the base kustomization's configMapGenerator makes (minus the name's hash)."""
    (gen,) = _yaml(K8S / "kustomization.yaml")["configMapGenerator"]
    data: dict[str, str] = {}
    for env in gen["envs"]:
        data.update(_env_file(K8S / env))
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": gen["name"]},
        "data": data,
    }


def _deployment() -> dict[str, Any]:
    return _yaml(K8S / "deployment.yaml")


def _container() -> dict[str, Any]:
    (container,) = _deployment()["spec"]["template"]["spec"]["containers"]
    assert isinstance(container, dict)
    return container


def _autoscaled_deployment() -> dict[str, Any]:
    """The autoscale overlay's Deployment: the base with its JSON patch applied."""
    (patch,) = _yaml(K8S / "autoscale" / "kustomization.yaml")["patches"]
    assert patch["target"] == {"kind": "Deployment", "name": "aoa"}
    deployment = copy.deepcopy(_deployment())
    for op in yaml.safe_load(patch["patch"]):
        assert op["op"] == "remove"  # the only operation the overlay needs
        *parents, leaf = op["path"].strip("/").split("/")
        node = deployment
        for part in parents:
            node = node[part]
        del node[leaf]
    return deployment


def _all_resources() -> list[dict[str, Any]]:
    base = [_yaml(K8S / name) for name in _yaml(K8S / "kustomization.yaml")["resources"]]
    overlay = [
        _yaml(K8S / "autoscale" / name)
        for name in _yaml(K8S / "autoscale" / "kustomization.yaml")["resources"]
        if name != ".."
    ]
    return [*base, _config_map(), *overlay, _autoscaled_deployment()]


@pytest.mark.parametrize("version", VERSIONS)
@pytest.mark.parametrize(
    "resource", _all_resources(), ids=lambda r: f"{r['kind']}-{len(r.get('spec', {}))}"
)
def test_resource_is_valid_for_kubernetes(resource: dict[str, Any], version: str) -> None:
    kubernetes_validate.validate(resource, version, strict=True)  # raises on any error


def test_validation_catches_a_broken_deployment() -> None:
    # guards the check above against schemas that accept anything
    broken = copy.deepcopy(_deployment())
    broken["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, VERSIONS[-1], strict=True)


def test_kustomizations_list_every_manifest_and_only_existing_ones() -> None:
    for folder in (K8S, K8S / "autoscale"):
        listed = {r for r in _yaml(folder / "kustomization.yaml")["resources"] if r != ".."}
        on_disk = {p.name for p in folder.glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == on_disk, folder
    images = _yaml(K8S / "kustomization.yaml")["images"]
    assert [i["name"] for i in images] == [_container()["image"]]


def test_pod_runs_as_the_images_user_without_privileges() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    user, _, group = FINAL.all("USER")[-1].partition(":")
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert str(pod["securityContext"]["runAsUser"]) == user
    assert str(pod["securityContext"]["runAsGroup"]) == group
    sc = _container()["securityContext"]
    assert sc["readOnlyRootFilesystem"] is True
    assert sc["allowPrivilegeEscalation"] is False
    assert sc["capabilities"]["drop"] == ["ALL"]
    resources = _container()["resources"]
    assert set(resources["requests"]) == set(resources["limits"]) == {"cpu", "memory"}


def test_probes_and_port_match_the_gateway() -> None:
    container = _container()
    (port,) = container["ports"]
    assert str(port["containerPort"]) == FINAL.env()["AOA_PORT"]
    ready, live = container["readinessProbe"]["httpGet"], container["livenessProbe"]["httpGet"]
    assert (ready["path"], live["path"]) == ("/ready", "/health")
    assert ready["port"] == live["port"] == port["name"]
    routes = {r.canonical for r in create_app(load_settings({})).router.resources()}
    assert {ready["path"], live["path"]} <= routes
    service = _yaml(K8S / "service.yaml")
    assert service["spec"]["ports"][0]["targetPort"] == port["name"]
    labels = _deployment()["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()


def test_grace_period_covers_the_pre_stop_sleep_and_the_drain() -> None:
    pod = _deployment()["spec"]["template"]["spec"]
    sleep = _container()["lifecycle"]["preStop"]["exec"]["command"]
    assert sleep[0] == "sleep"
    drain = float(_config_map()["data"]["AOA_SHUTDOWN_GRACE"])
    # aoa needs about 2 s after the drain to close (cli.py's shutdown_timeout, twice)
    assert pod["terminationGracePeriodSeconds"] >= int(sleep[1]) + drain + 5


def test_keys_come_only_from_the_secret() -> None:
    env_from = _container()["envFrom"]
    assert {"secretRef": {"name": "aoa-keys"}} in env_from
    assert "env" not in _container()  # no literal values beside the ConfigMap and Secret
    config = _config_map()["data"]
    assert not SECRET_VARS & set(config), "a key or token in config.env"
    for resource in _all_resources():
        assert resource["kind"] != "Secret"
        assert not _secret_values(resource), resource["kind"]


def _secret_values(node: Any) -> list[str]:
    """Secret variables given a value anywhere in `node` (as a key, or as env name/value)."""
    found: list[str] = []
    if isinstance(node, dict):
        found += [k for k in node if k in SECRET_VARS]
        if node.get("name") in SECRET_VARS and "value" in node:
            found.append(node["name"])
        for value in node.values():
            found += _secret_values(value)
    elif isinstance(node, list):
        for value in node:
            found += _secret_values(value)
    return found


def test_secret_check_catches_a_literal_key() -> None:
    leaky = copy.deepcopy(_deployment())
    container = leaky["spec"]["template"]["spec"]["containers"][0]
    container["env"] = [{"name": "AZURE_API_KEY", "value": "sk-literal"}]
    assert _secret_values(leaky) == ["AZURE_API_KEY"]


def test_config_env_settings_load() -> None:
    config = _config_map()["data"]
    assert set(config) <= KNOWN_VARS, set(config) - KNOWN_VARS  # no typos aoa would ignore
    image_env = FINAL.env()
    settings = load_settings({**image_env, **config, "AZURE_API_KEY": "from-the-secret"})
    assert settings.provider == config["AOA_TYPE"]
    assert settings.host == "0.0.0.0"  # the image's: reachable from the Service
    assert settings.shutdown_grace == float(config["AOA_SHUTDOWN_GRACE"])


def _podman_flags(container: dict[str, Any], pod: dict[str, Any]) -> list[str]:
    """The pod's security settings as `podman run` flags (what a kubelet would enforce)."""
    sc, psc = container["securityContext"], pod["securityContext"]
    flags = [f"--user={psc['runAsUser']}:{psc['runAsGroup']}"]
    if sc["readOnlyRootFilesystem"]:
        flags.append("--read-only")
    if not sc["allowPrivilegeEscalation"]:
        flags.append("--security-opt=no-new-privileges")
    flags += [f"--cap-drop={cap}" for cap in sc["capabilities"]["drop"]]
    for mount in container["volumeMounts"]:
        flags.append(f"--tmpfs={mount['mountPath']}")  # the emptyDir volumes
    return flags


def _answers_200(port: int, path: str) -> bool:
    return (get_json(port, path) or (0,))[0] == 200


def test_the_image_runs_under_the_pods_security_settings(image: Build) -> None:
    container = _container()
    pod = _deployment()["spec"]["template"]["spec"]
    port = free_port()
    name = f"aoa-k8s-{port}"
    upstream = GatedUpstream()
    env = {
        "AOA_HOST": "127.0.0.1",
        "AOA_PORT": str(port),
        "AOA_TYPE": "openai",
        "OPENAI_ENDPOINT": f"{upstream.url}/v1",
        "OPENAI_API_KEY": "sk-k8s-test",
    }
    flags = _podman_flags(container, pod) + [f"--env={k}={v}" for k, v in env.items()]
    try:
        podman.podman("run", "-d", "--name", name, "--network", "host", *flags, podman.IMAGE)
        for probe in ("readinessProbe", "livenessProbe"):
            path: str = container[probe]["httpGet"]["path"]
            wait_for(path, functools.partial(_answers_200, port, path), 30)
        # Real work on a read-only root: a chat through to the upstream and back.
        with openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="-") as client:
            answer = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "hi"}]
            )
        assert answer.choices[0].message.content == "Hello!"
        assert podman.podman("exec", name, "touch", "/opt/aoa/x", check=False).returncode != 0
        # preStop's command exists in the image
        assert podman.podman("exec", name, "sleep", "0", check=False).returncode == 0
    finally:
        podman.podman("rm", "-f", "-t", "0", name, check=False)
        upstream.close()
