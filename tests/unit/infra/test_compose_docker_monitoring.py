"""Compose file, image definition, Dagster instance config and monitoring, against the code."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from apis.app import SERVICES
from apis.gateway.metrics import Metrics
from tests.unit.infra.infra_support import (
    COMPOSE_DIR,
    ENV_TOKEN,
    GOVERNANCE,
    INFRA,
    K8S,
    MONITORING,
    ROOT,
    load_docs,
    settings_env_names,
)

COMPOSE = COMPOSE_DIR / "docker-compose.yml"
DOCKERFILE = ROOT / "Dockerfile"
DAGSTER_YAML = INFRA / "docker" / "dagster.yaml"
SECRETISH = re.compile(r"PASSWORD|SECRET|_KEY$|JWT")


def _compose() -> dict[str, Any]:
    return load_docs(COMPOSE)[0]


def _env_example() -> dict[str, str]:
    values: dict[str, str] = {}
    for line in (COMPOSE_DIR / ".env.example").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value.strip()
    return values


def _config_files() -> list[Path]:
    files = [DOCKERFILE, COMPOSE, COMPOSE_DIR / ".env.example", DAGSTER_YAML]
    files += sorted(K8S.rglob("*.yaml")) + sorted(K8S.rglob("*.example"))
    return files


# -- every file parses ---------------------------------------------------------------------------


def test_every_yaml_and_json_file_parses() -> None:
    for path in sorted(INFRA.rglob("*.y*ml")):
        if "local" in path.relative_to(INFRA).parts[:1]:
            continue  # infra/local belongs to `dreamseed up`
        load_docs(path)
    for path in sorted(INFRA.rglob("*.json")):
        json.loads(path.read_text(encoding="utf-8"))


def test_every_dreamseed_variable_is_a_settings_field() -> None:
    known = settings_env_names()
    for path in _config_files():
        unknown = set(ENV_TOKEN.findall(path.read_text(encoding="utf-8"))) - known
        assert not unknown, f"{path.relative_to(ROOT)}: not Settings fields: {sorted(unknown)}"


# -- compose ---------------------------------------------------------------------------------------


def test_compose_has_the_platform() -> None:
    services = _compose()["services"]
    required = {
        "postgres",
        "redis",
        "minio",
        "minio-init",
        "migrate",
        "api",
        "dashboards",
        "dagster-webserver",
        "dagster-daemon",
        "opa",
    }
    assert required <= set(services)
    assert services["api"]["command"][0] == "serve"
    # No service names: the compose API serves every service in one process.
    assert not set(services["api"]["command"]) & set(SERVICES)
    assert services["migrate"]["command"] == ["migrate"]
    assert services["opa"]["profiles"] == ["opa"]
    for name, svc in services.items():
        for dep in svc.get("depends_on", {}):
            assert dep in services, f"{name} depends on unknown {dep}"
        one_shot = svc.get("restart") == "no"
        optional = bool(svc.get("profiles"))
        if not one_shot and not optional:
            assert "healthcheck" in svc, f"{name} has no healthcheck"
    api_deps = services["api"]["depends_on"]
    assert api_deps["migrate"]["condition"] == "service_completed_successfully"
    assert api_deps["minio-init"]["condition"] == "service_completed_successfully"


def test_compose_healthchecks_hit_routes_of_the_apps() -> None:
    services = _compose()["services"]
    assert "/ready" in " ".join(services["api"]["healthcheck"]["test"])
    assert "/health" in " ".join(services["dashboards"]["healthcheck"]["test"])


def test_compose_opa_serves_the_bundle_layout() -> None:
    volumes = _compose()["services"]["opa"]["volumes"]
    mounted = {v.split(":")[1]: v.split(":")[0] for v in volumes}
    assert mounted["/bundle/policies"] == "../../governance/policies"
    for data in sorted((GOVERNANCE / "data").glob("*.json")):
        assert (
            mounted[f"/bundle/config/{data.stem}/data.json"] == f"../../governance/data/{data.name}"
        )
    for source in mounted.values():
        assert (COMPOSE_DIR / source).exists(), source


def test_compose_secrets_come_from_env_and_are_required() -> None:
    lines = COMPOSE.read_text(encoding="utf-8").splitlines()
    text = "\n".join(line for line in lines if not line.lstrip().startswith("#"))
    example = _env_example()
    references = re.findall(r"\$\{([A-Z0-9_]+)([^}]*)\}", text)
    used = {key for key, _ in references}
    assert used <= set(example), f"not in .env.example: {sorted(used - set(example))}"
    for key, modifier in references:
        if SECRETISH.search(key):
            assert modifier.startswith(":?"), f"{key} must be required: ${{{key}:?message}}"
            assert example[key] == "", f".env.example must not carry a value for {key}"

    def walk(node: Any, where: str) -> None:
        if isinstance(node, dict):
            for k, v in node.items():
                if isinstance(v, str) and isinstance(k, str) and SECRETISH.search(k):
                    assert "${" in v or "$$" in v, f"{where}.{k} is a literal secret"
                walk(v, f"{where}.{k}")
        elif isinstance(node, list):
            for i, v in enumerate(node):
                walk(v, f"{where}[{i}]")

    walk(_compose()["services"], "services")


def test_compose_ports_bind_to_localhost() -> None:
    for name, svc in _compose()["services"].items():
        for port in svc.get("ports", []):
            assert str(port).startswith("127.0.0.1:"), f"{name} publishes {port} publicly"


# -- image -----------------------------------------------------------------------------------------


def test_dockerfile_is_locked_multistage_and_non_root() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()]
    assert sum(line.startswith("FROM ") for line in lines) >= 2
    syncs = re.findall(r"uv sync ([^\n\\]*)", text)
    assert syncs and all("--frozen" in s and "--no-dev" in s for s in syncs), syncs
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in {"root", "0"}
    assert 'ENTRYPOINT ["dreamseed"]' in lines
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    uv_pin = re.search(r"uv==([\d.]+)", makefile)
    assert uv_pin and f"UV_VERSION={uv_pin.group(1)}" in text, "uv version differs from Makefile"


def test_dockerignore_keeps_secrets_and_state_out() -> None:
    patterns = {
        p.strip()
        for p in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if p.strip() and not p.startswith("#")
    }
    assert {"**/.env", "**/.venv", "**/.git", ".dreamseed"} <= patterns
    copied = re.findall(r"^COPY (?!--from)(\S+)", DOCKERFILE.read_text(encoding="utf-8"), re.M)
    for source in copied:
        if source != ".":
            assert (ROOT / source).exists(), source
            assert not any(source.startswith(p.rstrip("/")) for p in patterns), source


def test_dagster_instance_config_is_valid(monkeypatch: pytest.MonkeyPatch) -> None:
    from dagster._config import process_config
    from dagster._core.instance.config import dagster_instance_config_schema

    config = load_docs(DAGSTER_YAML)[0]
    needed = set(re.findall(r"env: (\w+)", DAGSTER_YAML.read_text(encoding="utf-8")))
    for name in needed:
        monkeypatch.setenv(name, "5432" if name.endswith("PORT") else "x")
    result = process_config(dagster_instance_config_schema(), config)
    assert result.success, result.errors
    # Both Dagster processes get every variable the instance config reads, in k8s and compose.
    k8s = load_docs(K8S / "base" / "orchestration.yaml")
    for doc in k8s:
        if doc["kind"] == "Deployment":
            env = {e["name"] for e in doc["spec"]["template"]["spec"]["containers"][0]["env"]}
            assert needed <= env, doc["metadata"]["name"]
    for name in ("dagster-webserver", "dagster-daemon"):
        assert needed <= set(_compose()["services"][name]["environment"]), name


# -- monitoring ------------------------------------------------------------------------------------


def _defined_series() -> tuple[set[str], set[str]]:
    """Series names and label names the API exports (apis/gateway/metrics.py)."""
    names: set[str] = set()
    labels: set[str] = set()
    metrics = Metrics()
    for metric in (
        metrics.requests,
        metrics.latency,
        metrics.policy_decisions,
        metrics.rate_limited,
    ):
        base = metric._name
        labels |= set(metric._labelnames)
        if metric._type == "counter":
            names.add(base + "_total")
        else:
            names |= {base + "_bucket", base + "_sum", base + "_count"}
            labels.add("le")
    # The consumers' gauges (cli/consume.py, served by `dreamseed consume NAME`).
    consume = (ROOT / "cli" / "consume.py").read_text(encoding="utf-8")
    gauges = set(re.findall(r'Gauge\(\s*"(dreamseed_consumer_[a-z_]+)"', consume))
    assert "dreamseed_consumer_lag" in gauges and 'labels = ("consumer", "stream")' in consume
    return names | gauges, labels | {"consumer", "stream"}


TARGET_LABELS = {"service", "pod", "namespace", "job", "instance", "deployment"}
OTHER_METRICS = {"up", "kube_deployment_status_replicas_available", "kube_deployment_spec_replicas"}


def _check_expr(expr: str, where: str) -> None:
    names, labels = _defined_series()
    for metric in re.findall(r"\b(dreamseed_[a-z_]+)", expr):
        assert metric in names, f"{where}: {metric} is not defined by apis/gateway/metrics.py"
    for metric in re.findall(r"\b([a-z_]+)\s*\{", expr):
        if metric.startswith("dreamseed_"):
            continue
        assert metric in OTHER_METRICS, f"{where}: unexpected metric {metric}"
    for label in re.findall(r"(\w+)\s*(?:=~|!~|!=|=)\s*\"", expr):
        assert label in labels | TARGET_LABELS, f"{where}: unknown label {label}"
    for group in re.findall(r"\bby\s*\(([^)]*)\)", expr):
        for label in (g.strip() for g in group.split(",")):
            assert label in labels | TARGET_LABELS, f"{where}: unknown label {label}"


def test_alert_rules_use_defined_metrics() -> None:
    rules = load_docs(MONITORING / "prometheus" / "alerts.yml")[0]
    alerts = [rule for group in rules["groups"] for rule in group["rules"]]
    names = {rule["alert"] for rule in alerts}
    assert len(names) == len(alerts)
    exprs = " ".join(rule["expr"] for rule in alerts)
    assert 'status=~"5.."' in exprs  # error rate
    assert "histogram_quantile(0.99" in exprs  # p99 latency
    assert 'status="503"' in exprs  # policy unavailable (fail closed)
    assert 'up{job="dreamseed-api"}' in exprs  # readiness / scrape
    for rule in alerts:
        _check_expr(rule["expr"], rule["alert"])
        assert rule["labels"]["severity"] in {"page", "warning"}
        assert rule["annotations"]["summary"]


def test_prometheus_configs_load_the_rules_and_scrape_metrics() -> None:
    for name in ("prometheus.yml", "prometheus-compose.yml"):
        config = load_docs(MONITORING / "prometheus" / name)[0]
        assert config["rule_files"] == ["alerts.yml"]
        jobs = {job["job_name"]: job for job in config["scrape_configs"]}
        assert jobs["dreamseed-api"]["metrics_path"] == "/metrics"
    compose = _compose()["services"]["prometheus"]["volumes"]
    assert any(v.endswith(":/etc/prometheus/alerts.yml:ro") for v in compose)


def test_grafana_dashboard_uses_defined_metrics() -> None:
    path = MONITORING / "grafana" / "dashboards" / "dreamseed-api.json"
    dashboard = json.loads(path.read_text(encoding="utf-8"))
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert exprs
    used = " ".join(exprs)
    for metric in (
        "dreamseed_http_requests_total",
        "dreamseed_http_request_seconds_bucket",
        "dreamseed_policy_decisions_total",
        "dreamseed_rate_limited_total",
    ):
        assert metric in used, metric
    for i, expr in enumerate(exprs):
        _check_expr(expr.replace("$__rate_interval", "5m"), f"panel target {i}")
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(set(ids)) == len(ids)


def test_env_example_has_no_secret_values() -> None:
    for key, value in _env_example().items():
        if SECRETISH.search(key):
            assert value == "", f"{key} must be empty in .env.example"
