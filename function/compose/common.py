"""What every builder shares: the result types and the managed-resource skeletons."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from function import naming
from function.flavour import Flavour, is_protected
from function.observed import Observed
from function.spec import Environment

# Names are hashed; every call of a steady environment asks for the same ones again.
metadata_name = functools.lru_cache(maxsize=1 << 14)(naming.metadata_name)


@dataclass(frozen=True, slots=True)
class Desired:
    """A composed resource the function wants, keyed by its composition resource name."""

    name: str
    resource: dict[str, Any]
    ready: bool


@dataclass(frozen=True, slots=True)
class Waiting:
    """A composed resource held back until its prerequisite is ready, and why."""

    name: str
    reason: str


@dataclass(frozen=True, slots=True)
class ArgoCluster:
    """A control plane registered with Argo CD."""

    cluster_name: str
    server: str


@dataclass(slots=True)
class Composition:
    """What builders return: desired resources, what waits, and Argo CD registrations."""

    desired: list[Desired] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    clusters: dict[tuple[str, str], ArgoCluster] = field(default_factory=dict)

    def __iadd__(self, other: Composition) -> Composition:
        """Add another builder's composition to this one."""
        self.desired += other.desired
        self.waiting += other.waiting
        self.warnings += other.warnings
        self.clusters.update(other.clusters)
        return self


@dataclass(frozen=True, slots=True)
class Context:
    """What builders read: the environment, its API flavour and the observed state."""

    env: Environment
    flavour: Flavour
    observed: Observed

    def reference(self, composition_resource_name: str) -> dict[str, str]:
        """A reference to another composed resource, by its metadata.name."""
        return {"name": metadata_name(self.env.xr_name, composition_resource_name)}

    def managed(  # noqa: PLR0913 - each argument is a distinct part of a managed resource.
        self,
        name: str,
        api_version: str,
        kind: str,
        provider_config: str,
        for_provider: dict[str, Any],
        *,
        protect: bool = False,
        annotations: dict[str, str] | None = None,
        spec: dict[str, Any] | None = None,
    ) -> Desired:
        """A managed resource, ready when its observed Ready condition is True."""
        flavour = self.flavour
        resource = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": flavour.metadata(metadata_name(self.env.xr_name, name), annotations),
            "spec": {
                "forProvider": for_provider,
                "providerConfigRef": flavour.provider_config_ref(provider_config),
                **flavour.protection(protect),
                **(spec or {}),
            },
        }
        return Desired(name, resource, self.observed.ready(name))

    def kubernetes_object(
        self,
        name: str,
        provider_config: str,
        manifest: dict[str, Any],
        *,
        protect: bool = False,
        spec: dict[str, Any] | None = None,
    ) -> Desired:
        """A provider-kubernetes Object that wraps `manifest`."""
        return self.managed(
            name,
            self.flavour.object_api_version,
            "Object",
            provider_config,
            {"manifest": manifest},
            protect=protect,
            spec=spec,
        )

    def release_removed(self, kind: str, kept: set[str]) -> Composition:
        """Let go of observed resources of `kind` the spec no longer lists, orphaning first.

        Crossplane deletes a composed resource the function stops returning. When the
        environment protects what it composes and the observed resource would still delete its
        external resource, it stays desired once more, now protected; the next call, which
        sees it protected, drops it, and Crossplane deletes only the managed resource.
        """
        out = Composition()
        if not self.env.default_protect:
            return out
        for name in self.observed.names(kind):
            if name in kept or is_protected(self.flavour, self.observed.spec(name)):
                continue
            resource = self.observed.as_desired(name)
            resource["spec"].update(self.flavour.protection(True))
            out.desired.append(Desired(name, resource, self.observed.ready(name)))
            out.waiting.append(Waiting(name, "removed from the spec; orphaning it first"))
        return out
