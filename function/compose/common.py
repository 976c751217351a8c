"""What every builder shares: the result types and the managed-resource skeletons."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from function import naming
from function.flavour import Flavour, is_protected
from function.observed import Observed
from function.resolve import Environment

# Names are hashed; every call of a steady environment asks for the same ones again.
metadata_name = functools.lru_cache(maxsize=1 << 14)(naming.metadata_name)

# The protection the function chose for a group or control plane Object, "true" or "false":
# the entry's intent, still readable once the entry is gone from the spec.
PROTECT_ANNOTATION = "platform.upbound.io/protect"


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
    """What builders return: desired resources, what waits, and Argo CD registrations.

    `reported` holds the status entries (function/status.py) that ControlPlaneGroups
    reported for their control planes, by (group, name): a sharded environment's roll-up.
    """

    desired: list[Desired] = field(default_factory=list)
    waiting: list[Waiting] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    clusters: dict[tuple[str, str], ArgoCluster] = field(default_factory=dict)
    reported: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)

    def __iadd__(self, other: Composition) -> Composition:
        """Add another builder's composition to this one."""
        self.desired += other.desired
        self.waiting += other.waiting
        self.warnings += other.warnings
        self.clusters.update(other.clusters)
        self.reported.update(other.reported)
        return self


@dataclass(frozen=True, slots=True)
class Context:
    """Everything a builder reads: environment, API flavour, observed state, Upbound token.

    The token is None unless the XR's own groups use it (`compose.uses_token`) and Crossplane
    supplied a usable Secret; `token_problem` says what is wrong with the Secret (naming it
    and the fix, never its content). A builder that needs another input gets a field here.
    """

    env: Environment
    flavour: Flavour
    observed: Observed
    token: SecretStr | None = None
    token_problem: str | None = None

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
        protect: bool | None = None,
        annotations: dict[str, str] | None = None,
        spec: dict[str, Any] | None = None,
    ) -> Desired:
        """A managed resource, ready when its observed Ready condition is True.

        `protect` is None for kinds that are never protected; a bool is also recorded in
        the PROTECT_ANNOTATION annotation.
        """
        flavour = self.flavour
        if protect is not None:
            annotations = {**(annotations or {}), PROTECT_ANNOTATION: str(protect).lower()}
        resource = {
            "apiVersion": api_version,
            "kind": kind,
            "metadata": flavour.metadata(metadata_name(self.env.xr_name, name), annotations),
            "spec": {
                "forProvider": for_provider,
                "providerConfigRef": flavour.provider_config_ref(provider_config),
                **flavour.protection(bool(protect)),
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
        protect: bool | None = None,
        spec: dict[str, Any] | None = None,
    ) -> Desired:
        """A provider-kubernetes Object that wraps `manifest` (`protect`: see `managed`)."""
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
        """Let go of observed resources of `kind` the spec no longer lists, orphaning if meant to.

        Crossplane deletes a composed resource the function stops returning, and with it the
        external resource unless it is protected. A removed entry is deleted when the
        function composed it unprotected on purpose (annotation "false"): the user chose
        that. It is kept (orphaned) when it is protected already, or when it should be
        (annotation "true", or no annotation because an earlier version composed it, and
        protecting defaults) but is not yet: then it stays desired once more, now protected,
        and the next call, which sees it protected, drops it.
        """
        out = Composition()
        for name in self.observed.names(kind):
            if name in kept:
                continue
            resource = self.observed.as_desired(name)
            annotations = resource["metadata"].setdefault("annotations", {})
            recorded = annotations.get(PROTECT_ANNOTATION)
            should_protect = {"true": True, "false": False}.get(recorded, self.env.default_protect)
            if not should_protect or is_protected(self.flavour, resource["spec"]):
                continue
            annotations[PROTECT_ANNOTATION] = "true"
            resource["spec"].update(self.flavour.protection(True))
            out.desired.append(Desired(name, resource, self.observed.ready(name)))
            out.waiting.append(Waiting(name, "removed from the spec; orphaning it first"))
        return out
