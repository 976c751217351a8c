"""Crossplane and the providers, played for an UpboundEnvironment and its ControlPlaneGroups.

A `World` holds what exists: each XR's composed managed resources (MRs), the ControlPlaneGroup
XRs the environment composed, and the external objects behind the MRs (Namespaces and
ControlPlanes in the Space, cluster Secrets in Argo CD, Upbound IAM). Each `round` calls the
function for the environment, then for every ControlPlaneGroup, and applies each answer the
way Crossplane does:

- a composed resource the XR no longer desires is deleted: an MR that is not orphaning
  deletes its external object (recorded in `deleted`); a ControlPlaneGroup is deleted in
  the foreground (crossplane/crossplane composition_functions.go, GarbageCollect...): its MRs
  first, by the same rule;
- a desired MR is applied under the XR; one that another XR still controls is refused
  (recorded in `conflicts`: Crossplane fails the XR's reconcile), and one whose external
  object exists takes it over (provider-kubernetes observes the object by its manifest's
  name, and updates it rather than creating it);
- everything applied is observed Ready by the next round.

    world = World(f.xr(spec), call=server.call)
    world.converge()
    assert world.deleted == [] and world.conflicts == []
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from function.flavour import Flavour, flavour_of, is_protected
from function.resolve import parse
from tests import factories as f

GROUP_KIND = "ControlPlaneGroup"
MAX_ROUNDS = 16
Call = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]


def external_of(body: Mapping[str, Any]) -> tuple[str, ...]:
    """The external object an MR manages: an Object's manifest, else the MR's kind and name."""
    for_provider = body.get("spec", {}).get("forProvider", {})
    manifest = for_provider.get("manifest")
    if manifest is not None:
        meta = manifest["metadata"]
        return (manifest["kind"], meta.get("namespace", ""), meta["name"])
    return (body["kind"], str(for_provider.get("name") or body["metadata"]["name"]))


@dataclass
class Xr:
    """One XR as it exists: its body, its observed composed resources and its last answer."""

    body: dict[str, Any]
    observed: dict[str, dict[str, Any]] = field(default_factory=dict)
    response: fnv1.RunFunctionResponse | None = None

    @property
    def name(self) -> str:
        return str(self.body["metadata"]["name"])


@dataclass
class World:
    """What exists, and what happened to it, call after call."""

    xr: dict[str, Any]
    call: Call = f.run
    environment: Xr = field(init=False)
    groups: dict[str, Xr] = field(default_factory=dict)  # ControlPlaneGroups by name
    mrs: dict[tuple[str, str, str], str] = field(default_factory=dict)  # MR -> its XR's name
    externals: set[tuple[str, ...]] = field(default_factory=set)
    deleted: list[tuple[str, ...]] = field(default_factory=list)  # externals deleted
    conflicts: list[str] = field(default_factory=list)
    calls: list[tuple[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse]] = field(
        default_factory=list
    )

    def __post_init__(self) -> None:
        self.environment = Xr(self.xr)
        self.flavour: Flavour = flavour_of(parse(self.xr, None))

    def edit(self, spec: dict[str, Any]) -> None:
        """Change the environment's spec, as `kubectl apply` would."""
        self.environment.body = {**self.environment.body, "spec": spec}

    def round(self) -> bool:
        """Reconcile the environment, then each ControlPlaneGroup; True once all is settled."""
        settled = self._reconcile(self.environment)
        for name in sorted(self.groups):
            settled = self._reconcile(self.groups[name]) and settled
        return settled

    def converge(self, max_rounds: int = MAX_ROUNDS) -> int:
        """Reconcile until nothing changes or waits; the number of rounds it took."""
        for number in range(1, max_rounds + 1):
            if self.round():
                return number
        raise AssertionError(f"not settled after {max_rounds} rounds: {self.waiting()}")

    def waiting(self) -> list[str]:
        """The Normal 'Waiting' results of every XR's last answer."""
        answers = [self.environment.response, *(g.response for g in self.groups.values())]
        return [
            r.message
            for rsp in answers
            if rsp is not None
            for r in rsp.results
            if r.message.startswith("Waiting")
        ]

    def objects(self) -> dict[str, str]:
        """Every MR that exists (its metadata.name), with the XR that controls it."""
        return {name: owner for (_, _, name), owner in self.mrs.items()}

    def _reconcile(self, xr: Xr) -> bool:
        req = f.request(xr.body, observed=self._observed(xr))
        rsp = self.call(req)
        self.calls.append((req, rsp))
        fatal = f.fatal(rsp)
        assert not fatal, fatal
        xr.response = rsp
        desired = f.desired(rsp)
        before = xr.observed
        for name in sorted(set(before) - set(desired)):
            self._delete(before[name])
        applied: dict[str, dict[str, Any]] = {}
        for name, body in desired.items():
            if body["kind"] == GROUP_KIND:
                self._compose_group(body)
                applied[name] = body
            elif self._apply(xr.name, body):
                applied[name] = body
        xr.observed = applied
        status_before = xr.body.get("status")
        self._write_status(xr, rsp)
        # A changed status is a change: Crossplane reconciles the parent of a changed XR.
        unchanged = xr.body.get("status") == status_before
        return set(applied) == set(before) and unchanged and not f.waiting(rsp)

    def _apply(self, owner: str, body: dict[str, Any]) -> bool:
        key = _key(body)
        controller = self.mrs.setdefault(key, owner)
        if controller != owner:
            self.conflicts.append(f"{owner} cannot apply {key}: {controller} controls it")
            return False
        self.externals.add(external_of(body))
        return True

    def _delete(self, body: dict[str, Any]) -> None:
        if body["kind"] == GROUP_KIND:  # foreground: its composed resources go first
            group = self.groups.pop(body["metadata"]["name"])
            for composed in group.observed.values():
                self._delete(composed)
            return
        self.mrs.pop(_key(body), None)
        if not is_protected(self.flavour, body.get("spec", {})):
            self.externals.discard(external_of(body))
            self.deleted.append(external_of(body))

    def _compose_group(self, body: dict[str, Any]) -> None:
        name = body["metadata"]["name"]
        group = self.groups.setdefault(name, Xr(body))
        group.body = {**group.body, "spec": body["spec"]}

    def _write_status(self, xr: Xr, rsp: fnv1.RunFunctionResponse) -> None:
        status = resource.struct_to_dict(rsp.desired.composite.resource).get("status", {})
        ready = not f.waiting(rsp) and all(
            r.ready == fnv1.READY_TRUE for r in rsp.desired.resources.values()
        )
        condition = {"type": "Ready", "status": "True" if ready else "False"}
        xr.body = {**xr.body, "status": {**status, "conditions": [condition]}}

    def _observed(self, xr: Xr) -> dict[str, fnv1.Resource]:
        """What Crossplane observes of an XR's composed resources: MRs Ready, with their
        connection details; ControlPlaneGroups as they are, with their status."""
        observed = f.observe({n: b for n, b in xr.observed.items() if b["kind"] != GROUP_KIND})
        for name, body in xr.observed.items():
            if body["kind"] == GROUP_KIND:
                group = self.groups[body["metadata"]["name"]].body
                observed[name] = fnv1.Resource(resource=resource.dict_to_struct(group))
        return observed


def _key(body: Mapping[str, Any]) -> tuple[str, str, str]:
    meta = body["metadata"]
    return (str(body["kind"]), str(meta.get("namespace", "")), str(meta["name"]))
