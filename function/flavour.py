"""The two API flavours: what differs between a namespaced and a cluster-scoped XR.

A namespaced XR (Crossplane v2) composes namespaced managed resources in its own namespace
(`kubernetes.m.crossplane.io`, `*.m.upbound.io`) that name their ProviderConfig's kind and
protect with management policies. A cluster-scoped XR (Crossplane 1.x, or a v2 XRD with
scope Cluster) composes the cluster-scoped kinds, which protect with `deletionPolicy`.
"""

from dataclasses import dataclass
from typing import Any

from function.resolve import Environment

# Every action but Delete: Crossplane keeps managing the resource and never deletes it.
MANAGEMENT_POLICIES_WITHOUT_DELETE = ["Observe", "Create", "Update", "LateInitialize"]


@dataclass(frozen=True, slots=True)
class Flavour:
    """API versions and field shapes for one XR scope."""

    namespace: str | None
    object_api_version: str
    iam_api_version: str
    repository_api_version: str
    provider_config_kind: str
    connection_secret_namespace: str

    @property
    def namespaced(self) -> bool:
        """Whether composed resources live in the XR's namespace."""
        return self.namespace is not None

    def metadata(self, name: str, annotations: dict[str, str] | None = None) -> dict[str, Any]:
        """The metadata of a composed resource."""
        meta: dict[str, Any] = {"name": name}
        if self.namespace is not None:
            meta["namespace"] = self.namespace
        if annotations:
            meta["annotations"] = annotations
        return meta

    def provider_config_ref(self, name: str) -> dict[str, str]:
        """spec.providerConfigRef of a managed resource."""
        if self.namespace is not None:
            return {"kind": self.provider_config_kind, "name": name}
        return {"name": name}

    def protection(self, protect: bool) -> dict[str, Any]:
        """Spec fields that keep the external resource when the managed resource goes."""
        if not protect:
            return {}
        if self.namespace is not None:
            return {"managementPolicies": list(MANAGEMENT_POLICIES_WITHOUT_DELETE)}
        return {"deletionPolicy": "Orphan"}

    def connection_secret_ref(self, name: str) -> dict[str, str]:
        """spec.writeConnectionSecretToRef of a managed resource."""
        if self.namespace is not None:
            return {"name": name}
        return {"name": name, "namespace": self.connection_secret_namespace}


def flavour_of(env: Environment) -> Flavour:
    """The flavour that fits the XR: namespaced when the XR has a namespace."""
    if env.xr_namespace:
        return Flavour(
            namespace=env.xr_namespace,
            object_api_version="kubernetes.m.crossplane.io/v1alpha1",
            iam_api_version="iam.m.upbound.io/v1alpha1",
            repository_api_version="repository.m.upbound.io/v1alpha1",
            provider_config_kind=env.provider_config_kind,
            connection_secret_namespace=env.xr_namespace,
        )
    return Flavour(
        namespace=None,
        object_api_version="kubernetes.crossplane.io/v1alpha2",
        iam_api_version="iam.upbound.io/v1alpha1",
        repository_api_version="repository.upbound.io/v1alpha1",
        provider_config_kind="ProviderConfig",
        connection_secret_namespace=env.connection_secret_namespace,
    )


def is_protected(flavour: Flavour, spec: dict[str, Any]) -> bool:
    """Whether an observed managed resource's spec already keeps its external resource."""
    if flavour.namespaced:
        policies = spec.get("managementPolicies") or ["*"]
        return "*" not in policies and "Delete" not in policies
    return spec.get("deletionPolicy") == "Orphan"
