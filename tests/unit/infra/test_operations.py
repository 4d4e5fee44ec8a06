"""Operations: the image's HEALTHCHECK, Alertmanager (compose and kustomize) routing every alert
rule, log collection (Vector -> Loki -> a Grafana view per service) and the spreading of every
replicated workload over zones and nodes."""

from __future__ import annotations

import http.server
import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import PurePosixPath
from typing import Any

import pytest

from apis.system.controllers import SystemController
from tests.unit.infra.infra_support import (
    BASE,
    COMPOSE_DIR,
    K8S,
    MONITORING,
    ROOT,
    SECRET_NAME,
    base_objects,
    by_kind,
    container,
    load_docs,
    pod_spec,
)

COMPOSE = COMPOSE_DIR / "docker-compose.yml"
ALERTMANAGER_YML = MONITORING / "alertmanager" / "alertmanager.yml"
VECTOR_YML = MONITORING / "vector" / "vector.yaml"
LOKI_YML = MONITORING / "loki" / "loki.yaml"
LOGS_DASHBOARD = MONITORING / "grafana" / "dashboards" / "dreamseed-logs.json"
ZONE, HOST = "topology.kubernetes.io/zone", "kubernetes.io/hostname"


def _compose() -> dict[str, Any]:
    return load_docs(COMPOSE)[0]


def _alertmanager() -> dict[str, Any]:
    return load_docs(ALERTMANAGER_YML)[0]


def _alert_rules() -> list[dict[str, Any]]:
    rules = load_docs(MONITORING / "prometheus" / "alerts.yml")[0]
    return [rule for group in rules["groups"] for rule in group["rules"]]


def _mount_target(volume: str) -> tuple[str, str]:
    source, target = volume.split(":")[:2]
    return source, target


# -- image HEALTHCHECK ---------------------------------------------------------------------------


def _healthcheck() -> tuple[str, list[str]]:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.startswith("HEALTHCHECK")]
    assert len(lines) == 1, "exactly one HEALTHCHECK"
    options, _, command = lines[0].partition(" CMD ")
    return options, json.loads(command)


class _Health(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health" else 404)
        self.end_headers()

    def log_message(self, *_: Any) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[http.server.HTTPServer]:
    server = http.server.HTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def _run_healthcheck(command: list[str], port: int) -> int:
    assert command[0] == "python"  # on the image's PATH (/app/.venv/bin)
    env = {**os.environ, "DREAMSEED_API_PORT": str(port)}
    return subprocess.run([sys.executable, *command[1:]], env=env, timeout=30).returncode


def test_image_healthcheck_probes_the_api_liveness_route(
    health_server: http.server.HTTPServer,
) -> None:
    options, command = _healthcheck()
    for option in ("--interval=", "--timeout=", "--start-period=", "--retries="):
        assert option in options, option
    assert "/health'" in command[-1]
    assert "/health" in SystemController.health.paths  # a route the API serves
    port = health_server.server_address[1]
    assert _run_healthcheck(command, port) == 0
    _Health.status = 500
    try:
        assert _run_healthcheck(command, port) != 0  # a failing answer is unhealthy
    finally:
        _Health.status = 200
    health_server.shutdown()
    health_server.server_close()
    assert _run_healthcheck(command, port) != 0  # so is no answer


def test_one_shot_compose_services_disable_the_image_healthcheck() -> None:
    for name, svc in _compose()["services"].items():
        if svc.get("restart") == "no" and str(svc.get("image", "")).startswith("${APP_IMAGE"):
            assert svc["healthcheck"] == {"disable": True}, name


# -- Alertmanager: routes ------------------------------------------------------------------------

_MATCHER = re.compile(r'^\s*(\w+)\s*(=~|!~|!=|=)\s*"(.*)"\s*$')


def _matches(matcher: str, labels: dict[str, str]) -> bool:
    found = _MATCHER.match(matcher)
    assert found, f"unsupported matcher {matcher!r}"
    name, op, value = found.groups()
    actual = labels.get(name, "")
    if op in ("=", "!="):
        return (actual == value) == (op == "=")
    return bool(re.fullmatch(value, actual)) == (op == "=~")


def _receiver_for(labels: dict[str, str]) -> str:
    """Alertmanager's routing: the deepest matching node, first match wins unless `continue`."""
    route = _alertmanager()["route"]
    assert not route.get("matchers"), "the root route must match every alert"
    receiver = route["receiver"]
    while True:
        for child in route.get("routes", []):
            assert not child.get("continue"), "continue is not modelled here"
            if all(_matches(m, labels) for m in child.get("matchers", [])):
                route, receiver = child, child.get("receiver", receiver)
                break
        else:
            return receiver


def test_every_alert_rule_is_routed_to_a_receiver_by_its_severity() -> None:
    receivers = {r["name"]: r for r in _alertmanager()["receivers"]}
    expected = {"page": "pager", "warning": "tickets"}
    routed = set()
    for rule in _alert_rules():
        labels = {"alertname": rule["alert"], "service": "exams", **rule["labels"]}
        receiver = _receiver_for(labels)
        assert receiver == expected[rule["labels"]["severity"]], rule["alert"]
        assert receivers[receiver]["webhook_configs"], receiver
        routed.add(receiver)
    assert routed == set(receivers), "a receiver no alert reaches"
    assert "service" in _alertmanager()["route"]["group_by"]


def test_receivers_read_their_urls_from_files_not_the_config() -> None:
    for receiver in _alertmanager()["receivers"]:
        for hook in receiver["webhook_configs"]:
            assert "url" not in hook, f"{receiver['name']}: a URL (secret) in the config"
            assert hook["url_file"].startswith("/etc/alertmanager/secrets/")


def test_inhibit_rules_name_existing_alerts() -> None:
    names = {rule["alert"] for rule in _alert_rules()}
    for inhibit in _alertmanager()["inhibit_rules"]:
        for matcher in inhibit["source_matchers"] + inhibit["target_matchers"]:
            assert any(_matches(matcher, {"alertname": n}) for n in names), matcher
            if '="' in matcher:
                assert matcher.split('"')[1] in names, matcher
        assert inhibit["equal"] == ["service"]


def _url_files() -> set[PurePosixPath]:
    return {
        PurePosixPath(hook["url_file"])
        for receiver in _alertmanager()["receivers"]
        for hook in receiver["webhook_configs"]
    }


def test_compose_runs_alertmanager_with_the_config_and_its_secret_files() -> None:
    services = _compose()["services"]
    alertmanager = services["alertmanager"]
    assert alertmanager["profiles"] == ["monitoring"]
    mounts = dict(_mount_target(v) for v in alertmanager["volumes"])
    assert (
        mounts["../monitoring/alertmanager/alertmanager.yml"]
        == "/etc/alertmanager/alertmanager.yml"
    )
    script = alertmanager["command"][0]
    assert "--config.file=/etc/alertmanager/alertmanager.yml" in script
    secrets_dir = alertmanager["tmpfs"][0].split(":")[0]
    for path in _url_files():
        assert str(path.parent) == secrets_dir
        assert f"> {path}" in script, f"{path} is not written at start"
    for name in ("ALERT_PAGER_WEBHOOK_URL", "ALERT_TICKETS_WEBHOOK_URL"):
        assert alertmanager["environment"][name].startswith(f"${{{name}:?")
        assert f'"$${name}"' in script
    prometheus = load_docs(MONITORING / "prometheus" / "prometheus-compose.yml")[0]
    targets = [
        t
        for am in prometheus["alerting"]["alertmanagers"]
        for sc in am["static_configs"]
        for t in sc["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert "alertmanager" in services["prometheus"]["depends_on"]


def test_kustomize_runs_alertmanager_with_the_same_config_and_secret_files() -> None:
    kustomization = load_docs(BASE / "kustomization.yaml")[0]
    assert "alertmanager.yaml" in kustomization["resources"]
    generator = next(
        g
        for g in kustomization["configMapGenerator"]
        if g["name"] == "dreamseed-alertmanager-config"
    )
    key, _, source = generator["files"][0].partition("=")
    assert (BASE / source).resolve() == ALERTMANAGER_YML
    statefulset = by_kind(base_objects(), "StatefulSet")["alertmanager"]
    spec = pod_spec(statefulset)
    am = container(spec, "alertmanager")
    volumes = {v["name"]: v for v in spec["volumes"]}
    mounts = {m["name"]: m for m in am["volumeMounts"]}
    assert volumes["config"]["configMap"]["name"] == "dreamseed-alertmanager-config"
    assert mounts["config"]["subPath"] == key
    assert f"--config.file={mounts['config']['mountPath']}" in am["args"]
    webhooks = volumes["webhooks"]["secret"]
    assert webhooks["secretName"] == SECRET_NAME
    files = {PurePosixPath(mounts["webhooks"]["mountPath"]) / i["path"] for i in webhooks["items"]}
    assert files == _url_files()
    example = (K8S / "overlays" / "local" / "secrets.env.example").read_text(encoding="utf-8")
    for item in webhooks["items"]:
        assert f"\n{item['key']}=\n" in example, f"{item['key']} missing from secrets.env.example"
    # Every replica is a gossip peer, addressed through the headless Service.
    replicas = statefulset["spec"]["replicas"]
    service = statefulset["spec"]["serviceName"]
    assert by_kind(base_objects(), "Service")[service]["spec"]["clusterIP"] == "None"
    peers = sorted(a for a in am["args"] if a.startswith("--cluster.peer="))
    assert peers == [f"--cluster.peer=alertmanager-{i}.{service}:9094" for i in range(replicas)]
    # Prometheus (prometheus.yml) discovers these pods by label and port name.
    prometheus = load_docs(MONITORING / "prometheus" / "prometheus.yml")[0]
    relabel = prometheus["alerting"]["alertmanagers"][0]["relabel_configs"]
    keep = {r["source_labels"][0]: r["regex"] for r in relabel if r["action"] == "keep"}
    labels = statefulset["spec"]["template"]["metadata"]["labels"]
    component = "__meta_kubernetes_pod_label_app_kubernetes_io_component"
    assert keep[component] == labels["app.kubernetes.io/component"]
    assert keep["__meta_kubernetes_pod_container_port_name"] in {p["name"] for p in am["ports"]}


# -- logs: Vector -> Loki -> Grafana -------------------------------------------------------------


def test_vector_ships_this_projects_container_logs_to_loki() -> None:
    vector = load_docs(VECTOR_YML)[0]
    services = _compose()["services"]
    source = vector["sources"]["containers"]
    assert source["type"] == "docker_logs"
    assert source["include_labels"] == [f"com.docker.compose.project={_compose()['name']}"]
    components = set(vector["sources"]) | set(vector["transforms"])
    for name, step in {**vector["transforms"], **vector["sinks"]}.items():
        assert set(step["inputs"]) <= components, name
    remap = vector["transforms"]["structured"]["source"]
    assert '.service = .label."com.docker.compose.service"' in remap
    assert "parse_json(.message)" in remap
    sink = vector["sinks"]["loki"]
    assert sink["type"] == "loki" and sink["labels"]["service"] == "{{ service }}"
    loki_port = load_docs(LOKI_YML)[0]["server"]["http_listen_port"]
    assert sink["endpoint"] == f"http://loki:{loki_port}"
    assert services["loki"]["profiles"] == services["vector"]["profiles"] == ["monitoring"]
    mounts = dict(_mount_target(v) for v in services["vector"]["volumes"])
    assert mounts["../monitoring/vector/vector.yaml"] == services["vector"]["command"][-1]
    assert "/var/run/docker.sock:/var/run/docker.sock:ro" in services["vector"]["volumes"]
    loki_mounts = dict(_mount_target(v) for v in services["loki"]["volumes"])
    assert (
        f"-config.file={loki_mounts['../monitoring/loki/loki.yaml']}" in services["loki"]["command"]
    )


def test_grafana_has_a_log_view_per_service() -> None:
    datasource = load_docs(MONITORING / "grafana" / "provisioning" / "datasources" / "loki.yml")[0]
    loki = datasource["datasources"][0]
    loki_port = load_docs(LOKI_YML)[0]["server"]["http_listen_port"]
    assert loki["type"] == "loki" and loki["url"] == f"http://loki:{loki_port}"
    dashboard = json.loads(LOGS_DASHBOARD.read_text(encoding="utf-8"))
    selected: set[str] = set()
    for panel in dashboard["panels"]:
        assert panel["type"] == "logs"
        assert panel["datasource"]["uid"] == loki["uid"]
        for target in panel["targets"]:
            selected |= set(re.findall(r'service="([^"]+)"', target["expr"]))
    app_services = {
        name
        for name, svc in _compose()["services"].items()
        if str(svc.get("image", "")).startswith("${APP_IMAGE")
    }
    assert app_services <= selected, f"no log view for {sorted(app_services - selected)}"
    assert selected <= set(_compose()["services"])
    assert any(
        "| json | status >= 500" in t["expr"] for p in dashboard["panels"] for t in p["targets"]
    )
    grafana = _compose()["services"]["grafana"]
    assert "loki" in grafana["depends_on"]


# -- spreading replicated workloads --------------------------------------------------------------


def _replicated() -> dict[str, dict[str, Any]]:
    objects = base_objects()
    autoscaled = {
        h["spec"]["scaleTargetRef"]["name"]
        for h in by_kind(objects, "HorizontalPodAutoscaler").values()
    }
    workloads = {**by_kind(objects, "Deployment"), **by_kind(objects, "StatefulSet")}
    return {
        name: w
        for name, w in workloads.items()
        if w["spec"].get("replicas", 1) > 1 or name in autoscaled
    }


def test_every_replicated_workload_spreads_over_zones_and_nodes() -> None:
    replicated = _replicated()
    assert {f"api-{s}" for s in ("users", "classes", "content", "exams", "governance")} <= set(
        replicated
    )
    assert "alertmanager" in replicated
    for name, workload in replicated.items():
        spec = pod_spec(workload)
        labels = workload["spec"]["template"]["metadata"]["labels"]
        spread = {c["topologyKey"]: c for c in spec["topologySpreadConstraints"]}
        assert {ZONE, HOST} <= set(spread), f"{name}: spread by zone and by node"
        for key in (ZONE, HOST):
            assert spread[key]["labelSelector"]["matchLabels"] == labels, f"{name}/{key}"
            # Soft, so that a cluster with one zone (or one node) still runs every replica.
            assert spread[key]["whenUnsatisfiable"] == "ScheduleAnyway", f"{name}/{key}"
            assert spread[key]["maxSkew"] == 1, f"{name}/{key}"
        terms = spec["affinity"]["podAntiAffinity"][
            "preferredDuringSchedulingIgnoredDuringExecution"
        ]
        term = terms[0]["podAffinityTerm"]
        assert term["topologyKey"] == HOST, name
        assert term["labelSelector"]["matchLabels"] == labels, name
