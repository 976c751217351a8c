"""The two API flavours: a namespaced XR's composed resources and a cluster-scoped XR's.

Table-driven: each case has a reason, its input and what it wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from function.flavour import MANAGEMENT_POLICIES_WITHOUT_DELETE, Flavour, flavour_of, is_protected
from tests import factories as f

NAMESPACED = flavour_of(f.context(f.xr()).env)
CLUSTER = flavour_of(f.context(f.xr(namespace=None)).env)


def namespaced(namespace: str, provider_config_kind: str) -> Flavour:
    """The flavour wanted for an XR in `namespace`: the .m. kinds, in its namespace."""
    return Flavour(
        namespace=namespace,
        object_api_version="kubernetes.m.crossplane.io/v1alpha1",
        iam_api_version="iam.m.upbound.io/v1alpha1",
        repository_api_version="repository.m.upbound.io/v1alpha1",
        provider_config_kind=provider_config_kind,
        connection_secret_namespace=namespace,
    )


def cluster_scoped(connection_secret_namespace: str) -> Flavour:
    """The flavour wanted for a cluster-scoped XR: the cluster-scoped kinds."""
    return Flavour(
        namespace=None,
        object_api_version="kubernetes.crossplane.io/v1alpha2",
        iam_api_version="iam.upbound.io/v1alpha1",
        repository_api_version="repository.upbound.io/v1alpha1",
        provider_config_kind="ProviderConfig",
        connection_secret_namespace=connection_secret_namespace,
    )


@dataclass(frozen=True)
class FlavourOfCase:
    reason: str
    xr: dict[str, Any]
    function_input: dict[str, Any] | None
    want: Flavour


FLAVOUR_OF_CASES = [
    FlavourOfCase(
        "a namespaced XR composes the .m. kinds in its namespace, on ClusterProviderConfigs",
        f.xr(namespace="platform"),
        None,
        want=namespaced("platform", "ClusterProviderConfig"),
    ),
    FlavourOfCase(
        "a namespaced XR may choose ProviderConfigs in its own namespace",
        f.xr(f.spec(providerConfigs={"kind": "ProviderConfig"}), namespace="team-a"),
        None,
        want=namespaced("team-a", "ProviderConfig"),
    ),
    FlavourOfCase(
        "a cluster-scoped XR composes the cluster-scoped kinds; connection secrets go where "
        "the input says",
        f.xr(namespace=None),
        {"connectionSecretNamespace": "secrets"},
        want=cluster_scoped("secrets"),
    ),
    FlavourOfCase(
        "a cluster-scoped XR ignores a ProviderConfig kind: its kinds name no kind",
        f.xr(f.spec(providerConfigs={"kind": "ClusterProviderConfig"}), namespace=None),
        None,
        want=cluster_scoped("crossplane-system"),
    ),
]


@pytest.mark.parametrize("case", FLAVOUR_OF_CASES, ids=lambda c: c.reason)
def test_flavour_of(case: FlavourOfCase) -> None:
    assert flavour_of(f.context(case.xr, function_input=case.function_input).env) == case.want


@dataclass(frozen=True)
class FieldsCase:
    reason: str
    flavour: Flavour
    want_metadata: dict[str, Any]
    want_provider_config_ref: dict[str, str]
    want_protection: dict[str, Any]
    want_connection_secret_ref: dict[str, str]


FIELDS_CASES = [
    FieldsCase(
        "namespaced: in the XR's namespace, a kind in the config ref, management policies",
        NAMESPACED,
        want_metadata={"name": "n", "namespace": "platform", "annotations": {"a": "b"}},
        want_provider_config_ref={"kind": "ClusterProviderConfig", "name": "pc"},
        want_protection={"managementPolicies": ["Observe", "Create", "Update", "LateInitialize"]},
        want_connection_secret_ref={"name": "n"},
    ),
    FieldsCase(
        "cluster-scoped: no namespace, no kind, an Orphan deletion policy",
        CLUSTER,
        want_metadata={"name": "n", "annotations": {"a": "b"}},
        want_provider_config_ref={"name": "pc"},
        want_protection={"deletionPolicy": "Orphan"},
        want_connection_secret_ref={"name": "n", "namespace": "crossplane-system"},
    ),
]


@pytest.mark.parametrize("case", FIELDS_CASES, ids=lambda c: c.reason)
def test_fields(case: FieldsCase) -> None:
    flavour = case.flavour
    assert flavour.metadata("n", {"a": "b"}) == case.want_metadata
    assert "annotations" not in flavour.metadata("n"), "no annotations, no key"
    assert flavour.provider_config_ref("pc") == case.want_provider_config_ref
    assert flavour.protection(True) == case.want_protection
    assert flavour.protection(False) == {}, "unprotected adds nothing"
    assert flavour.connection_secret_ref("n") == case.want_connection_secret_ref


@dataclass(frozen=True)
class ProtectedCase:
    reason: str
    flavour: Flavour
    spec: dict[str, Any]
    want: bool


PROTECTED_CASES = [
    ProtectedCase("namespaced: what protection(True) writes", NAMESPACED,
                  NAMESPACED.protection(True), want=True),
    ProtectedCase("namespaced: no policies means every action, Delete too", NAMESPACED, {}, False),
    ProtectedCase("namespaced: an empty list means the default, every action", NAMESPACED,
                  {"managementPolicies": []}, want=False),
    ProtectedCase("namespaced: '*' allows Delete", NAMESPACED,
                  {"managementPolicies": ["*"]}, want=False),
    ProtectedCase("namespaced: a list with Delete deletes", NAMESPACED,
                  {"managementPolicies": [*MANAGEMENT_POLICIES_WITHOUT_DELETE, "Delete"]}, False),
    ProtectedCase("namespaced: observing only is protected", NAMESPACED,
                  {"managementPolicies": ["Observe"]}, want=True),
    ProtectedCase("namespaced: a deletion policy is not how it protects", NAMESPACED,
                  {"deletionPolicy": "Orphan"}, want=False),
    ProtectedCase("cluster-scoped: what protection(True) writes", CLUSTER,
                  CLUSTER.protection(True), want=True),
    ProtectedCase("cluster-scoped: Delete deletes", CLUSTER, {"deletionPolicy": "Delete"}, False),
    ProtectedCase("cluster-scoped: no policy is Crossplane's default, Delete", CLUSTER, {}, False),
    ProtectedCase("cluster-scoped: management policies are not how it protects", CLUSTER,
                  {"managementPolicies": ["Observe"]}, want=False),
]  # fmt: skip


@pytest.mark.parametrize("case", PROTECTED_CASES, ids=lambda c: c.reason)
def test_is_protected(case: ProtectedCase) -> None:
    assert is_protected(case.flavour, case.spec) is case.want
