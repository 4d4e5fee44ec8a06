"""Shared readers for the infra tests: repository paths, YAML documents, Settings env names."""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from core.settings import variables

ROOT = Path(__file__).resolve().parents[3]
INFRA = ROOT / "infra"
K8S = INFRA / "k8s"
BASE = K8S / "base"
COMPOSE_DIR = INFRA / "compose"
MONITORING = INFRA / "monitoring"
GOVERNANCE = ROOT / "governance"

SECRET_NAME = "dreamseed-secrets"
ENV_TOKEN = re.compile(r"\bDREAMSEED_[A-Z0-9_]+\b")


def settings_env_names() -> set[str]:
    """Every variable the settings tree reads (sections included: DREAMSEED_TUTOR_MODEL_URL)."""
    return set(variables())


Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def load_docs(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of a file (parsed once per test session; treat as read-only)."""
    return list(_load_docs(path.resolve()))


@cache
def _load_docs(path: Path) -> tuple[Any, ...]:
    text = path.read_text(encoding="utf-8")
    return tuple(doc for doc in yaml.load_all(text, Loader=Loader) if doc is not None)


def k8s_files() -> list[Path]:
    return sorted(p for p in K8S.rglob("*.yaml") if p.is_file())


def base_objects() -> list[dict[str, Any]]:
    """Every object the base kustomization lists (resources only, not generated)."""
    kustomization = load_docs(BASE / "kustomization.yaml")[0]
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        objects += load_docs(BASE / resource)
    return objects


def by_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    return {o["metadata"]["name"]: o for o in objects if o.get("kind") == kind}


def pod_spec(workload: dict[str, Any]) -> dict[str, Any]:
    return workload["spec"]["template"]["spec"]


def all_containers(spec: dict[str, Any]) -> list[dict[str, Any]]:
    return list(spec.get("initContainers", [])) + list(spec["containers"])


def container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in all_containers(spec) if c["name"] == name)


def policy_bundle_sources() -> dict[str, str]:
    """ConfigMap key -> path inside the OPA bundle, derived from governance/ (tests excluded)."""
    bundle: dict[str, str] = {}
    for rego in sorted((GOVERNANCE / "policies").rglob("*.rego")):
        if rego.stem.endswith("_test"):
            continue
        rel = rego.relative_to(GOVERNANCE / "policies")
        bundle["policies." + ".".join(rel.parts)] = f"policies/{rel.as_posix()}"
    for data in sorted((GOVERNANCE / "data").glob("*.json")):
        bundle[f"data.{data.name}"] = f"config/{data.stem}/data.json"
    return bundle
