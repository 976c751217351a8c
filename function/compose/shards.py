"""Sharding by group: an UpboundEnvironment composes one ControlPlaneGroup XR per group.

Each ControlPlaneGroup is composed by this same function, with the same group, control
plane and Argo CD builders, so each call carries one group, groups reconcile in parallel,
and a change in one group recomposes only that group. The environment keeps the IAM and
rolls the groups' status up (docs/sharding.md).

Moving a group between the environment and its ControlPlaneGroup deletes nothing. Crossplane
will not let one XR take over a resource another XR controls, and deletes what an XR stops
returning, so the owner first makes each of the group's resources orphaning, keeps returning
it until it is observed so, then lets it go (Crossplane deletes only the managed resource);
only then does the new owner compose the same resource, under the same name, and
provider-kubernetes takes the object that still exists over. Towards the group, the
environment does this itself (`_hand_over`); back from the group, it sets the group's
`spec.release`, and the group reports `status.released` when all is orphaning.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import replace
from typing import Any

from function.compose import access, argocd, controlplanes, groups, ingress
from function.compose.argocd import server_url
from function.compose.common import (
    HOLDS_PROTECTED_ANNOTATION,
    Composition,
    Context,
    Desired,
    Waiting,
    read_record,
    write_record,
)
from function.flavour import is_protected
from function.naming import resource_name
from function.observed import Observed
from function.resolve import GROUP_KIND, Environment, ResolvedGroup

Builder = Callable[[Context], Composition]
KIND = "controlplanegroup"
API_VERSION = "platform.upbound.io/v1alpha1"
# The kinds a ControlPlaneGroup composes: what moves between it and its environment.
GROUP_KINDS = frozenset({groups.KIND, controlplanes.KIND, argocd.KIND, access.KIND})
# Auto shards above ENGAGE control planes and stays sharded above STAY (docs/sharding.md).
AUTO_ENGAGE = 500
AUTO_STAY = 400
# The fields of a ControlPlaneGroup's spec that the environment writes (not Crossplane's).
_SPEC_FIELDS = frozenset(
    {"environment", "organization", "space", "providerConfigs", "controlPlaneDefaults"}
    | {"argocd", "group", "ingress", "release", "teamIds", "heldProtected"}
)
_STATUS_STRINGS = ("message", "server", "argoCluster")


def name_of(group: str) -> str:
    """The composition resource name of a group's ControlPlaneGroup."""
    return resource_name(KIND, group)


def group_of(name: str) -> str:
    """The group a composition resource name belongs to (`controlplane.dev.ctp1`: dev).

    "" for a name without one: Crossplane sends back whatever names it was given, and an
    observed `access` (no group) must not crash the call.
    """
    parts = name.split(".", 2)
    return parts[1] if len(parts) > 1 else ""


def sharded(env: Environment, observed: Observed) -> bool:
    """Whether the environment composes its groups through ControlPlaneGroups."""
    if env.sharding != "Auto":
        return env.sharding == "Enabled"
    count = sum(len(g.control_planes) for g in env.groups)
    already = next(observed.names(KIND), None) is not None
    return count > (AUTO_STAY if already else AUTO_ENGAGE)


def own_groups(env: Environment, observed: Observed) -> tuple[ResolvedGroup, ...]:
    """The groups an XR composes with the builders itself.

    A ControlPlaneGroup composes its group; an environment the groups it does not shard
    and that no ControlPlaneGroup holds (any more).
    """
    if env.xr_kind == GROUP_KIND:
        return env.groups
    if sharded(env, observed):
        return ()
    held = {group_of(n) for n in observed.names(KIND) if not _released(observed, n)}
    return tuple(g for g in env.groups if g.name not in held)


def compose_environment(
    ctx: Context, group_builders: Sequence[Builder], environment_builders: Sequence[Builder]
) -> Composition:
    """What an UpboundEnvironment composes, sharded or not, and the moves in between.

    The group builders run on the environment restricted to the groups it composes itself,
    and on the observed state without the resources being handed to a ControlPlaneGroup; the
    environment builders (the Space's ingress, IAM) on the whole environment.
    """
    env, observed = ctx.env, ctx.observed
    shard = sharded(env, observed)
    moving = {g.name for g in env.groups} if shard else set()
    local = replace(
        ctx,
        env=replace(
            env, groups=tuple(_with_carried(observed, g) for g in own_groups(env, observed))
        ),
        observed=observed.without(lambda n: _kind(n) in GROUP_KINDS and group_of(n) in moving),
    )
    out = Composition()
    for build in group_builders:
        out += build(local)
    for build in environment_builders:
        out += build(ctx)
    out += _hand_over(ctx, moving)
    out += _children(ctx, shard)
    return out


def _with_carried(observed: Observed, group: ResolvedGroup) -> ResolvedGroup:
    """A group taken back from its ControlPlaneGroup, with the record that one carries."""
    return replace(group, carried=group.carried | _carried(observed, name_of(group.name)))


def _carried(observed: Observed, name: str) -> frozenset[str]:
    """The record an observed ControlPlaneGroup carries: its spec's and its status's."""
    names: set[str] = set()
    for part in (observed.spec(name), observed.status(name)):
        listed = part.get("heldProtected")
        names |= {n for n in (listed if isinstance(listed, list) else []) if isinstance(n, str)}
    return frozenset(names - {""})


def _kind(name: str) -> str:
    return name.split(".", 1)[0]


def _hand_over(ctx: Context, moving: set[str]) -> Composition:
    """The environment's own resources of groups moving to a ControlPlaneGroup: orphan, drop."""
    out = Composition()
    for name in ctx.observed.all_names():
        if _kind(name) not in GROUP_KINDS or group_of(name) not in moving:
            continue
        if is_protected(ctx.flavour, ctx.observed.spec(name)):
            continue  # dropped: Crossplane deletes the managed resource, not the object
        resource = ctx.observed.as_desired(name)
        resource["spec"].update(ctx.flavour.protection(True))
        out.desired.append(Desired(name, resource, ctx.observed.ready(name)))
        reason = f"moving to ControlPlaneGroup {group_of(name)}: orphaning it first"
        out.waiting.append(Waiting(name, reason))
    return out


def _children(ctx: Context, shard: bool) -> Composition:
    """A ControlPlaneGroup per group when sharded; releasing each observed one when not."""
    env, observed = ctx.env, ctx.observed
    out = Composition()
    wanted = {g.name: g for g in env.groups} if shard else {}
    in_hand = {group_of(n) for n in observed.all_names() if _kind(n) in GROUP_KINDS}
    space = ingress.discovered(ctx) if ingress.needed(ctx) else None
    found = space if isinstance(space, ingress.Ingress) else None
    for group in wanted.values():
        name = name_of(group.name)
        spec = child_spec(env, group, found, ctx.team_ids, _record(ctx, group))
        if group.name in in_hand:
            # Created (or kept) releasing, so composing nothing new, while the environment
            # lets go: it carries the group's record from the call the environment drops
            # the group's Object on, and a group observed is never dropped (that would
            # delete what it composed).
            out.desired.append(_child(ctx, name, {**spec, "release": True}))
            reason = f"waiting for the environment to let go of group {group.name}'s resources"
            out.waiting.append(Waiting(name, reason))
            continue
        out.desired.append(_child(ctx, name, spec))
        out.reported.update(_reported(ctx, name, group))
    for name in observed.names(KIND):
        group_name = group_of(name)
        if group_name in wanted:
            continue
        if not shard:  # moving back: the group orphans and drops everything, then it may go
            listed = next((g for g in env.groups if g.name == group_name), None)
            if _released(observed, name):
                # Kept (releasing, composing nothing) until the environment observes the
                # group's Object it composes again: the record crosses the move on it.
                if listed is not None and not observed.exists(groups.name_of(group_name)):
                    spec = child_spec(env, listed, found, ctx.team_ids, _record(ctx, listed))
                    out.desired.append(_child(ctx, name, {**spec, "release": True}))
                continue
            if listed is not None:
                out.reported.update(_reported(ctx, name, listed))
            spec = (
                child_spec(env, listed, found, ctx.team_ids, _record(ctx, listed))
                if listed
                else _observed_spec(ctx, name)
            )
            out.desired.append(_child(ctx, name, {**spec, "release": True}))
            reason = f"moving group {group_name} back from its ControlPlaneGroup: orphaning first"
            out.waiting.append(Waiting(name, reason))
        # Sharded and no longer in the spec: dropped, so Crossplane deletes the group as an
        # unsharded environment would (what it protects, it orphans).
    return out


def _record(ctx: Context, group: ResolvedGroup) -> frozenset[str]:
    """The protected control planes a group's ControlPlaneGroup carries (spec.heldProtected).

    The group's record as the environment observes it (its own group Object while it holds
    it, control planes observed protected) and as the observed ControlPlaneGroup carries it,
    so that the record outlives the call on which the group's Object changes hands.
    """
    return groups.held_protected(ctx, group, _carried(ctx.observed, name_of(group.name)))


def _child(ctx: Context, name: str, spec: dict[str, Any]) -> Desired:
    """A ControlPlaneGroup XR, ready when its Ready condition is True."""
    resource = {
        "apiVersion": API_VERSION,
        "kind": GROUP_KIND,
        "metadata": ctx.flavour.metadata(ctx.metadata_name(name)),
        "spec": spec,
    }
    return Desired(name, resource, ctx.observed.ready(name))


def child_spec(
    env: Environment,
    group: ResolvedGroup,
    found: ingress.Ingress | None = None,
    team_ids: Mapping[str, str] | None = None,
    held: AbstractSet[str] = frozenset(),
) -> dict[str, Any]:
    """The spec of a group's ControlPlaneGroup: the environment's resolved settings, one group.

    Settings come resolved, so that the group composes exactly what the environment would.
    The token Secret is the exception: the group names it only where the environment's spec
    does (else both read the function input's, or the default in their namespace), so that
    the same rules (function/validate.py token_secret_problems) hold for it. What the
    environment knows and the group cannot observe is added here: the Space's ingress as
    discovered (`found`), team IDs for access bindings, and the group's record of the
    protected control planes it holds or held (`held`).
    """
    argo = env.argocd
    argocd: dict[str, Any] = {
        "enabled": argo.enabled,
        "namespace": argo.namespace,
        "clusterNamePrefix": argo.cluster_name_prefix,
        "labels": argo.labels,
        "credentials": argo.credentials,
        "upboundDomain": argo.upbound_domain,
    }
    if env.xr_token_secret_ref is not None:
        argocd["tokenSecretRef"] = env.xr_token_secret_ref.model_dump(
            mode="json", by_alias=True, exclude_none=True
        )
    spec = {
        "environment": env.xr_name,
        "organization": env.organization,
        "space": env.space.model_dump(mode="json", by_alias=True, exclude_defaults=True),
        "providerConfigs": {
            "space": env.provider_config_space,
            "argocd": env.provider_config_argocd,
            "upbound": env.provider_config_upbound,
            "kind": env.provider_config_kind,
        },
        "controlPlaneDefaults": env.control_plane_defaults.model_dump(
            mode="json", by_alias=True, exclude_none=True
        ),
        "argocd": argocd,
        "group": group.source.model_dump(
            mode="json", by_alias=True, exclude_none=True, exclude_defaults=True
        ),
    }
    if found is not None:
        spec["ingress"] = {"host": found.host, "caBundle": found.ca_bundle}
    ids = team_ids or {}
    known = {a.team: ids[a.team] for a in group.access if a.team in ids}
    if known:
        spec["teamIds"] = known
    if held:  # as bounded as the annotation: past its limit, UNLISTED (still protected)
        spec["heldProtected"] = sorted(read_record(write_record(held)))
    return spec


def _released(observed: Observed, name: str) -> bool:
    """Whether a ControlPlaneGroup was asked to release its resources and reports it did."""
    return observed.spec(name).get("release") is True and (
        observed.status(name).get("released") is True
    )


def _observed_spec(ctx: Context, name: str) -> dict[str, Any]:
    """An observed ControlPlaneGroup's spec, without the fields Crossplane writes."""
    spec = ctx.observed.spec(name)
    return {k: v for k, v in spec.items() if k in _SPEC_FIELDS}


def _reported(ctx: Context, name: str, group: ResolvedGroup) -> dict[tuple[str, str], Any]:
    """The status entries a ControlPlaneGroup reported for the group's control planes.

    A control plane it has not reported (yet) waits for it. Entries are read defensively:
    anyone who may write the group's status could write anything there.
    """
    listed = ctx.observed.status(name).get("controlPlanes")
    by_name = {
        e["name"]: e
        for e in (listed if isinstance(listed, list) else [])
        if isinstance(e, dict) and isinstance(e.get("name"), str)
    }
    out = {}
    for cp in group.control_planes:
        entry = by_name.get(cp.name)
        if entry is None:
            message = f"waiting for ControlPlaneGroup {group.name} to report it"
            entry = {"ready": False, "message": message, "server": server_url(ctx.env, cp)}
        out[cp.group, cp.name] = {
            "group": cp.group,
            "name": cp.name,
            "ready": entry.get("ready") is True,
            "registered": entry.get("registered") is True,
            **{k: v if isinstance(v := entry.get(k), str) else "" for k in _STATUS_STRINGS},
        }
    return out


def release(ctx: Context, out: Composition) -> Composition:
    """A releasing ControlPlaneGroup's composition: what exists, orphaning; nothing new.

    What is observed orphaning already is dropped: Crossplane deletes the managed resource
    only, and the environment may compose the same one once nothing is left here.
    """
    kept = Composition(warnings=out.warnings, clusters=out.clusters)
    for desired in out.desired:
        if not ctx.observed.exists(desired.name):
            continue
        if is_protected(ctx.flavour, ctx.observed.spec(desired.name)):
            continue
        spec = {**desired.resource["spec"], **ctx.flavour.protection(True)}
        kept.desired.append(replace(desired, resource={**desired.resource, "spec": spec}))
        reason = "moving back to the UpboundEnvironment: orphaning it first"
        kept.waiting.append(Waiting(desired.name, reason))
    return kept


def released(env: Environment, observed: Observed) -> bool:
    """Whether a releasing ControlPlaneGroup has let go of everything it composed."""
    return env.release and next(iter(observed.all_names()), None) is None


def held_record(out: Composition) -> list[str]:
    """The record on a ControlPlaneGroup's desired group Object, for its status.heldProtected."""
    for desired in out.desired:
        if desired.name.startswith(f"{groups.KIND}."):
            annotations = desired.resource["metadata"].get("annotations") or {}
            return sorted(read_record(annotations.get(HOLDS_PROTECTED_ANNOTATION, "")))
    return []
