"""What every builder shares: the result types and the managed-resource skeletons."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from pydantic import SecretStr

from function import naming
from function.flavour import Flavour, is_protected
from function.observed import Observed
from function.resolve import Environment

# Names are hashed; every call of a steady environment asks for the same ones again.
metadata_name = functools.lru_cache(maxsize=1 << 14)(naming.metadata_name)

# The records of intent that outlive an entry's removal from the spec (docs/protection.md).
# The protection the function chose for a group or control plane Object, "true" or "false":
# the entry's intent, still readable once the entry is gone from the spec.
PROTECT_ANNOTATION = "platform.upbound.io/protect"
# On a container's Object (a group's Namespace): the protected things that may still live in
# it (its control planes), comma-separated, including those removed from the spec and
# orphaned. Deleting the container would delete them, so it stays protected while this lists
# anything; only a deliberate release (docs/protection.md) empties it.
HOLDS_PROTECTED_ANNOTATION = "platform.upbound.io/holds-protected"
# In that record: more than it lists (it grew past _MAX_RECORD, or an observed name could not
# be listed). No name is "*", so only a release removes it.
UNLISTED = "*"
_MAX_RECORD = 8192  # characters; Kubernetes allows 256 KiB for all annotations together


def read_record(value: object) -> frozenset[str]:
    """The names a HOLDS_PROTECTED_ANNOTATION value lists (UNLISTED if it is not text)."""
    if not isinstance(value, str):
        return frozenset({UNLISTED})
    return frozenset(n for n in value.split(",") if n)


def write_record(names: AbstractSet[str]) -> str:
    """A HOLDS_PROTECTED_ANNOTATION value: the names, sorted; UNLISTED past _MAX_RECORD."""
    value = ",".join(sorted(names))
    return value if len(value) <= _MAX_RECORD else UNLISTED


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
    `team_ids` maps a team's name to its Upbound ID, for the teams whose ID is known
    (function/compose/iam.py `team_ids`; a ControlPlaneGroup gets them in its spec).
    """

    env: Environment
    flavour: Flavour
    observed: Observed
    token: SecretStr | None = None
    token_problem: str | None = None
    team_ids: Mapping[str, str] = field(default_factory=dict)

    def metadata_name(self, composition_resource_name: str) -> str:
        """The metadata.name of a composed resource: the observed one's, else a new one.

        A resource that exists keeps the name it has, whichever version of the function
        named it (function/naming.py changed how long names are shortened).
        """
        observed = self.observed.metadata_name(composition_resource_name)
        return observed or metadata_name(self.env.xr_name, composition_resource_name)

    def reference(self, composition_resource_name: str) -> dict[str, str]:
        """A reference to another composed resource, by its metadata.name."""
        return {"name": self.metadata_name(composition_resource_name)}

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
            "metadata": flavour.metadata(self.metadata_name(name), annotations),
            "spec": {
                "forProvider": for_provider,
                "providerConfigRef": flavour.provider_config_ref(provider_config),
                **flavour.protection(bool(protect)),
                **(spec or {}),
            },
        }
        return Desired(name, resource, self.observed.ready(name))

    def kubernetes_object(  # noqa: PLR0913 - as managed().
        self,
        name: str,
        provider_config: str,
        manifest: dict[str, Any],
        *,
        protect: bool | None = None,
        annotations: dict[str, str] | None = None,
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
            annotations=annotations,
            spec=spec,
        )

    def intends_protection(self, name: str) -> bool:
        """Whether an observed Object is, or was meant to be, protected.

        Its PROTECT_ANNOTATION says so; without one (an earlier version composed it) the
        defaults decide; an Object observed protected is protected whatever it says. A
        malformed one counts as protected: nothing about it can be trusted to release it.
        """
        if self.observed.malformed(name) is not None:
            return True
        resource = self.observed.as_desired(name)
        recorded = resource["metadata"].get("annotations", {}).get(PROTECT_ANNOTATION)
        should = {"true": True, "false": False}.get(recorded, self.env.default_protect)
        return should or is_protected(self.flavour, resource["spec"])

    def held_protected(
        self,
        container: str,
        children: str,
        listed: Mapping[str, bool],
        carried: AbstractSet[str] = frozenset(),
    ) -> frozenset[str]:
        """The protected children that may live in a container (a group's control planes).

        What the container's observed Object records, what is observed protected among its
        children (`children`: the kind of their composition resource names, e.g.
        `controlplane.dev`), then the spec's own: `listed` maps each child the spec lists to
        whether it protects it. A child listed unprotected leaves the record: its Object is
        composed unprotected from now on, as its entry chose. `carried` is a record handed
        over with the container from another XR (function/compose/shards.py).
        """
        held: set[str] = set(carried)
        if self.observed.exists(container):
            if self.observed.malformed(container) is not None:
                held.add(UNLISTED)
            else:
                annotations = self.observed.as_desired(container)["metadata"].get("annotations")
                held |= read_record((annotations or {}).get(HOLDS_PROTECTED_ANNOTATION, ""))
        for name in self.observed.names(children):
            if self.intends_protection(name):
                child = name.removeprefix(f"{children}.")
                held.add(child if child and "," not in child else UNLISTED)
        for child, protect in listed.items():
            if protect:
                held.add(child)
            else:
                held.discard(child)
        return frozenset(held)

    def release_removed(
        self, kind: str, kept: set[str], holds: Callable[[str], frozenset[str]] | None = None
    ) -> Composition:
        """Let go of observed resources of `kind` the spec no longer lists, orphaning if meant to.

        Crossplane deletes a composed resource the function stops returning, and with it the
        external resource unless it is protected. A removed entry is deleted when the
        function composed it unprotected on purpose (annotation "false"): the user chose
        that. It is kept (orphaned) when it is protected already, or when it should be
        (`intends_protection`) but is not yet: then it stays desired once more, now
        protected, and the next call, which sees it protected, drops it. A container that
        `holds` protected things stays desired, protected, with its record: dropping it would
        drop the record, and a group added again under the same name would adopt the
        namespace without it. A malformed observed resource is kept as observed, with a
        warning.

        Args:
            kind: The kind of the composition resource names, e.g. `group`.
            kept: The names the spec still composes.
            holds: For a container kind, the protected children still inside one (see
                `held_protected`).
        """
        out = Composition()
        for name in self.observed.names(kind):
            if name in kept:
                continue
            problem = self.observed.malformed(name)
            resource = self.observed.as_desired(name)
            if problem is not None:
                out.warnings.append(f"{name}: {problem}; kept as observed until it is fixed")
                out.desired.append(Desired(name, resource, False))
                out.waiting.append(Waiting(name, f"removed from the spec, but {problem}"))
                continue
            held = holds(name) if holds else frozenset()
            if not (held or self.intends_protection(name)):
                continue
            if is_protected(self.flavour, resource["spec"]) and not held:
                continue
            annotations = resource["metadata"].setdefault("annotations", {})
            annotations[PROTECT_ANNOTATION] = "true"
            if held:
                annotations[HOLDS_PROTECTED_ANNOTATION] = write_record(held)
            waits = not is_protected(self.flavour, resource["spec"])
            resource["spec"].update(self.flavour.protection(True))
            out.desired.append(Desired(name, resource, self.observed.ready(name)))
            if waits:
                out.waiting.append(Waiting(name, "removed from the spec; orphaning it first"))
        return out
