"""Kubernetes manifests (infra/k8s) cross-checked against the code: services, routes, probes."""

from __future__ import annotations

import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from litestar import Litestar

from apis.app import SERVICES, create_app
from core.settings import Settings
from tests.unit.infra.infra_support import (
    BASE,
    GOVERNANCE,
    K8S,
    ROOT,
    SECRET_NAME,
    Loader,
    all_containers,
    base_objects,
    by_kind,
    container,
    k8s_files,
    load_docs,
    pod_spec,
    policy_bundle_sources,
)

OPA_URL = "http://127.0.0.1:8181"


class _NoNetwork(AssertionError):
    pass


@pytest.fixture(scope="module")
def no_network() -> Iterator[None]:
    """Any attempt to open a connection while building the apps fails the test."""

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise _NoNetwork(f"connection attempted: {args!r}")

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(socket.socket, "connect", refuse)
        mp.setattr(socket.socket, "connect_ex", refuse)
        mp.setattr(socket, "create_connection", refuse)
        yield


@pytest.fixture(scope="module")
def apps(no_network: None) -> dict[str, Litestar]:
    """One app per service, configured as in the manifests (remote OPA sidecar)."""
    settings = Settings(
        database_url="postgresql://u:p@db.invalid:5432/dreamseed",
        redis_url="redis://:p@redis.invalid:6379/0",
        jwt_secret="unit-test-only",
        opa_url=OPA_URL,
    )
    return {name: create_app(settings, [name], relay=False) for name in SERVICES}


def _paths(app: Litestar) -> set[str]:
    return {route.path for route in app.routes}


def _api_prefixes(app: Litestar) -> set[str]:
    """The controller prefixes (/api/v1/<x>) of the app's routes."""
    return {
        "/" + "/".join(path.strip("/").split("/")[:3])
        for path in _paths(app)
        if path.startswith("/api/")
    }


def _objects() -> list[dict[str, Any]]:
    return base_objects()


def _ingress_routes() -> dict[str, str]:
    """Ingress path -> backend Service name, over every API Ingress rule."""
    routes: dict[str, str] = {}
    for ingress in by_kind(_objects(), "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for item in rule["http"]["paths"]:
                if item["path"].startswith("/api/"):
                    assert item["pathType"] == "Prefix", item
                    routes[item["path"]] = item["backend"]["service"]["name"]
    return routes


def _matches(prefix: str, path: str) -> bool:
    """Kubernetes `Prefix` semantics: element-wise prefix of the path."""
    want = [p for p in prefix.split("/") if p]
    have = [p for p in path.split("/") if p]
    return have[: len(want)] == want


def test_every_yaml_file_parses() -> None:
    for path in k8s_files():
        docs = load_docs(path)
        assert docs or path.name.endswith(".example"), path


def test_building_the_apps_opens_no_connection(apps: dict[str, Litestar]) -> None:
    assert set(apps) == set(SERVICES)
    # A second app with the in-process engine (compose default) also opens nothing.
    create_app(Settings(jwt_secret="unit-test-only"), ["users"], relay=False)


def test_every_service_has_deployment_service_hpa_and_pdb() -> None:
    objects = _objects()
    deployments, services = by_kind(objects, "Deployment"), by_kind(objects, "Service")
    hpas, pdbs = (
        by_kind(objects, "HorizontalPodAutoscaler"),
        by_kind(objects, "PodDisruptionBudget"),
    )
    api_deployments = {
        n for n, d in deployments.items() if d["metadata"]["labels"].get("dreamseed.io/service")
    }
    assert api_deployments == {f"api-{name}" for name in SERVICES}
    for name in SERVICES:
        dep = deployments[f"api-{name}"]
        labels = dep["spec"]["template"]["metadata"]["labels"]
        assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
        svc = services[f"api-{name}"]
        assert svc["spec"]["selector"].items() <= labels.items()
        port_names = {p["name"] for p in container(pod_spec(dep), "api")["ports"]}
        assert {p["targetPort"] for p in svc["spec"]["ports"]} <= port_names
        hpa = hpas[f"api-{name}"]
        assert hpa["apiVersion"] == "autoscaling/v2"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": f"api-{name}",
        }
        assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        pdb = pdbs[f"api-{name}"]
        assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()


def test_each_deployment_serves_only_its_service() -> None:
    deployments = by_kind(_objects(), "Deployment")
    for name in SERVICES:
        api = container(pod_spec(deployments[f"api-{name}"]), "api")
        assert api["args"][:2] == ["serve", name]
        assert "--no-relay" in api["args"]  # the relay has its own Deployment
    relay = container(pod_spec(deployments["relay"]), "relay")
    assert relay["args"] == ["relay"]


def test_ingress_routes_every_controller_prefix_to_its_deployment(
    apps: dict[str, Litestar],
) -> None:
    routes = _ingress_routes()
    served: dict[str, str] = {}
    for name, app in apps.items():
        for prefix in _api_prefixes(app):
            assert prefix not in served, f"{prefix} served by {served.get(prefix)} and {name}"
            served[prefix] = name
    assert set(routes) == set(served), "Ingress API paths differ from the controllers' paths"
    for prefix, name in served.items():
        assert routes[prefix] == f"api-{name}", prefix
    # Every concrete route reaches the right service under longest-prefix matching.
    for name, app in apps.items():
        for path in _paths(app):
            if not path.startswith("/api/"):
                continue
            matching = [p for p in routes if _matches(p, path)]
            assert matching, f"no ingress path routes {path}"
            assert routes[max(matching, key=len)] == f"api-{name}", path


def test_ingress_backends_exist() -> None:
    objects = _objects()
    services = by_kind(objects, "Service")
    for ingress in by_kind(objects, "Ingress").values():
        for rule in ingress["spec"]["rules"]:
            for item in rule["http"]["paths"]:
                backend = item["backend"]["service"]
                svc = services[backend["name"]]
                assert backend["port"]["name"] in {p["name"] for p in svc["spec"]["ports"]}
    assert "dagster-webserver" not in {
        item["backend"]["service"]["name"]
        for ingress in by_kind(objects, "Ingress").values()
        for rule in ingress["spec"]["rules"]
        for item in rule["http"]["paths"]
    }, "the Dagster UI has no authentication and must not be public"


def test_probes_hit_routes_that_exist(apps: dict[str, Litestar]) -> None:
    deployments = by_kind(_objects(), "Deployment")
    for name, app in apps.items():
        api = container(pod_spec(deployments[f"api-{name}"]), "api")
        assert api["livenessProbe"]["httpGet"]["path"] == "/health"
        assert api["readinessProbe"]["httpGet"]["path"] == "/ready"
        assert {"/health", "/ready", "/metrics"} <= _paths(app)
        annotations = deployments[f"api-{name}"]["spec"]["template"]["metadata"]["annotations"]
        assert annotations["prometheus.io/path"] in _paths(app)


def test_dashboards_readiness_route_exists(no_network: None) -> None:
    from dashboards.app import create_app as create_dashboards

    app = create_dashboards(Settings(jwt_secret="unit-test-only"))
    paths = {getattr(route, "path", None) for route in app.routes}
    dep = by_kind(_objects(), "Deployment")["dashboards"]
    probe = container(pod_spec(dep), "dashboards")["readinessProbe"]["httpGet"]["path"]
    assert probe in paths


def test_pods_are_hardened_and_sized() -> None:
    for kind in ("Deployment", "StatefulSet", "Job"):
        for name, workload in by_kind(_objects(), kind).items():
            spec = pod_spec(workload)
            assert spec["securityContext"]["runAsNonRoot"] is True, name
            assert spec["securityContext"]["runAsUser"] != 0, name
            assert spec.get("automountServiceAccountToken") is False, name
            for c in all_containers(spec):
                where = f"{name}/{c['name']}"
                sc = c["securityContext"]
                assert sc["allowPrivilegeEscalation"] is False, where
                assert sc["capabilities"]["drop"] == ["ALL"], where
                assert "readOnlyRootFilesystem" in sc, where
                if not name.startswith("dagster-"):  # dbt writes into its project dir
                    assert sc["readOnlyRootFilesystem"] is True, where
                for bound in ("requests", "limits"):
                    assert {"cpu", "memory"} <= set(c["resources"][bound]), where


def test_opa_sidecar_serves_the_policy_bundle() -> None:
    kustomization = load_docs(BASE / "kustomization.yaml")[0]
    generator = next(
        g for g in kustomization["configMapGenerator"] if g["name"] == "dreamseed-policy-bundle"
    )
    generated = dict(entry.split("=", 1) for entry in generator["files"])
    expected = policy_bundle_sources()
    assert set(generated) == set(expected), "configMapGenerator differs from governance/"
    for source in generated.values():
        target = (BASE / source).resolve()
        assert target.is_file(), source
        assert target.is_relative_to(GOVERNANCE), source
        assert not target.stem.endswith("_test"), source
    deployments = by_kind(_objects(), "Deployment")
    for name in SERVICES:
        spec = pod_spec(deployments[f"api-{name}"])
        volume = next(v for v in spec["volumes"] if v["name"] == "policy-bundle")
        assert volume["configMap"]["name"] == "dreamseed-policy-bundle"
        items = {i["key"]: i["path"] for i in volume["configMap"]["items"]}
        assert items == expected, name
        opa = container(spec, "opa")
        assert opa["restartPolicy"] == "Always"  # native sidecar: ready before the API
        mount = next(m for m in opa["volumeMounts"] if m["name"] == "policy-bundle")
        assert opa["args"][-1] == mount["mountPath"]
        assert "--addr=127.0.0.1:8181" in opa["args"]
        env = {e["name"]: e.get("value") for e in container(spec, "api")["env"]}
        assert env["DREAMSEED_OPA_URL"] == OPA_URL


def test_secrets_are_references_only() -> None:
    for path in k8s_files():
        for doc in load_docs(path):
            if doc.get("kind") == "Secret":
                for field in ("data", "stringData"):
                    values = (doc.get(field) or {}).values()
                    assert all(not v or "REPLACE" in str(v) for v in values), path
    kustomizations = [p for p in K8S.rglob("kustomization.yaml")]
    for path in kustomizations:
        for gen in load_docs(path)[0].get("secretGenerator", []):
            assert not gen.get("literals"), f"{path}: literal secret values"
    for kind in ("Deployment", "StatefulSet", "Job"):
        for name, workload in by_kind(_objects(), kind).items():
            for volume in pod_spec(workload).get("volumes", []):
                if "secret" in volume:
                    assert volume["secret"]["secretName"] == SECRET_NAME, name
            for c in all_containers(pod_spec(workload)):
                for env in c.get("env", []):
                    ref = env.get("valueFrom", {}).get("secretKeyRef")
                    if ref:
                        assert ref["name"] == SECRET_NAME and ref["key"] == env["name"], name
                    looks_secret = any(w in env["name"] for w in ("SECRET", "PASSWORD", "KEY"))
                    if looks_secret or env["name"].endswith(("DATABASE_URL", "REDIS_URL")):
                        assert ref, f"{name}: {env['name']} must come from the Secret"


def test_local_secret_template_has_no_values() -> None:
    example = K8S / "overlays" / "local" / "secrets.env.example"
    for line in example.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            assert value == "" or "<" in value, f"{key} has a value in {example.name}"
    gitignore = (K8S / "overlays" / "local" / ".gitignore").read_text(encoding="utf-8")
    assert "secrets.env" in gitignore.split()


KUBECTL = shutil.which("kubectl")


def _kustomize(path: Path) -> list[dict[str, Any]]:
    assert KUBECTL is not None
    out = subprocess.run(
        [KUBECTL, "kustomize", "--load-restrictor", "LoadRestrictionsNone", str(path)],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return [d for d in yaml.load_all(out, Loader=Loader) if d]


@pytest.mark.skipif(KUBECTL is None, reason="kubectl (kustomize) not installed")
def test_overlays_build(tmp_path: Path) -> None:
    production = _kustomize(K8S / "overlays" / "production")
    assert not by_kind(production, "Secret"), "production Secrets are provided out of band"
    bundles = [n for n in by_kind(production, "ConfigMap") if n.startswith("dreamseed-policy")]
    assert len(bundles) == 1
    alerting = [n for n in by_kind(production, "ConfigMap") if n.startswith("dreamseed-alert")]
    statefulset = by_kind(production, "StatefulSet")["alertmanager"]
    config = next(v for v in pod_spec(statefulset)["volumes"] if v["name"] == "config")
    assert len(alerting) == 1 and config["configMap"]["name"] == alerting[0]  # hashed name
    for name in SERVICES:
        dep = by_kind(production, "Deployment")[f"api-{name}"]
        assert dep["metadata"]["namespace"] == "dreamseed"
        volume = next(v for v in pod_spec(dep)["volumes"] if v["name"] == "policy-bundle")
        assert volume["configMap"]["name"] == bundles[0]  # hashed name propagated
        image = container(pod_spec(dep), "api")["image"]
        assert image.startswith("registry.example.org/dreamseed/dreamseed:")
    # The local overlay needs a secrets.env: build a copy with the template's empty values.
    copy = tmp_path / "repo"
    shutil.copytree(K8S, copy / "infra" / "k8s")
    shutil.copytree(K8S.parent / "monitoring", copy / "infra" / "monitoring")
    shutil.copytree(GOVERNANCE / "policies", copy / "governance" / "policies")
    shutil.copytree(GOVERNANCE / "data", copy / "governance" / "data")
    local_dir = copy / "infra" / "k8s" / "overlays" / "local"
    shutil.copy(local_dir / "secrets.env.example", local_dir / "secrets.env")
    local = _kustomize(local_dir)
    secrets = by_kind(local, "Secret")
    assert len(secrets) == 1 and next(iter(secrets)).startswith(SECRET_NAME)
    assert ROOT.is_dir()
