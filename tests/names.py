"""Kubernetes' own rules for names, namespaces, label and annotation keys and label values.

The CRDs in ../shared/crds do not say them (the API server checks them apart from the
schema), so tests/schemas.py cannot: these follow apimachinery's validation
(k8s.io/apimachinery/pkg/util/validation: IsDNS1123Label, IsDNS1123Subdomain,
IsQualifiedName, IsValidLabelValue).
"""

from __future__ import annotations

import re
from typing import Any

_LABEL = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS_LABEL = re.compile(_LABEL)
DNS_SUBDOMAIN = re.compile(rf"{_LABEL}(\.{_LABEL})*")
QUALIFIED_NAME = re.compile(r"([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]")
LABEL_VALUE = re.compile(r"(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?")
# The kinds whose metadata.name must be a DNS-1123 label rather than a subdomain.
LABEL_NAMED = {"Namespace", "ControlPlane"}


def is_label(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(DNS_LABEL.fullmatch(value))


def is_subdomain(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 253 and bool(DNS_SUBDOMAIN.fullmatch(value))


def is_qualified_name(key: Any) -> bool:
    """A label or annotation key: an optional DNS subdomain prefix and '/', then a name."""
    if not isinstance(key, str):
        return False
    prefix, slash, name = key.rpartition("/")
    if slash and not is_subdomain(prefix):
        return False
    return len(name) <= 63 and bool(QUALIFIED_NAME.fullmatch(name))


def is_label_value(value: Any) -> bool:
    return isinstance(value, str) and len(value) <= 63 and bool(LABEL_VALUE.fullmatch(value))


def object_problems(body: Any, where: str) -> list[str]:
    """What the API server would reject in an object (and in the manifest an Object wraps)."""
    if not isinstance(body, dict):
        return []
    spec = body.get("spec") or {}
    problems = _metadata_problems(body, where) + _reference_problems(spec, where)
    manifest = (spec.get("forProvider") or {}).get("manifest")
    if manifest is not None:
        problems += object_problems(manifest, f"{where} manifest")
    return problems


def _metadata_problems(body: dict[str, Any], where: str) -> list[str]:
    problems = []
    metadata = body.get("metadata") or {}
    name = metadata.get("name")
    if not (is_label(name) if body.get("kind") in LABEL_NAMED else is_subdomain(name)):
        problems.append(f"{where}: metadata.name {name!r}")
    if "namespace" in metadata and not is_label(metadata["namespace"]):
        problems.append(f"{where}: metadata.namespace {metadata['namespace']!r}")
    for key, value in (metadata.get("labels") or {}).items():
        if not is_qualified_name(key) or not is_label_value(value):
            problems.append(f"{where}: label {key!r}: {value!r}")
    problems += [
        f"{where}: annotation key {key!r}"
        for key in metadata.get("annotations") or {}
        if not is_qualified_name(key)
    ]
    return problems


def _reference_problems(spec: dict[str, Any], where: str) -> list[str]:
    problems = []
    refs = {f: spec.get(f) or {} for f in ("writeConnectionSecretToRef", "providerConfigRef")}
    refs |= {
        f"forProvider.{k}": v
        for k, v in (spec.get("forProvider") or {}).items()
        if k.endswith("Ref")
    }
    for field, ref in refs.items():
        if "name" in ref and not is_subdomain(ref["name"]):
            problems.append(f"{where}: spec.{field}.name {ref['name']!r}")
        if "namespace" in ref and not is_label(ref["namespace"]):
            problems.append(f"{where}: spec.{field}.namespace {ref['namespace']!r}")
    return problems
