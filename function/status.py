"""The XR's status, conditions, results and TTL, rolled up from what was composed and observed.

Crossplane writes the XR's Ready condition itself, from the `ready` of each desired composed
resource ("Unready resources: a, b, c, and 7 more"); the function sets that `ready` from the
resource's observed Ready condition (function/compose/common.py). The function adds one
condition per concern, each True only when every composed resource of that concern is ready
and none waits, so that together they explain Ready:

- ControlPlanesReady: the groups and ControlPlanes (and removed ones being orphaned);
- ClustersRegistered: the Argo CD cluster Secrets (and the Space's ingress they may need);
- IAMReady: teams, robots, memberships, repositories and permissions.

Each False condition names what is not ready and why, the first few, then "and N more".
`status.controlPlanes[]` tells the same story per control plane. Only names, readiness and
server URLs are written: never a token or a kubeconfig.
"""

import datetime
from collections.abc import Sequence
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import response
from crossplane.function.resource import Condition

from function import structs
from function.compose import (
    access,
    argocd,
    controlplanes,
    groups,
    iam,
    ingress,
    repositories,
    shards,
)
from function.compose.common import Composition, Desired, Waiting
from function.naming import resource_name
from function.observed import Observed
from function.resolve import GROUP_KIND, Environment

CONTROL_PLANES_READY = "ControlPlanesReady"
CLUSTERS_REGISTERED = "ClustersRegistered"
IAM_READY = "IAMReady"

# The condition that covers each kind of composed resource (a builder's KIND: the prefix of
# its composition resource names). A new kind needs its entry (tests/test_status_story.py).
CONCERN_OF = {
    groups.KIND: CONTROL_PLANES_READY,
    controlplanes.KIND: CONTROL_PLANES_READY,
    # A ControlPlaneGroup (sharded environment) composes a group's control planes and Argo
    # CD clusters; its own conditions and status.controlPlanes[] say which of them waits.
    shards.KIND: CONTROL_PLANES_READY,
    ingress.KIND: CLUSTERS_REGISTERED,
    argocd.KIND: CLUSTERS_REGISTERED,
    **dict.fromkeys(
        (
            iam.TEAM,
            iam.ROBOT,
            iam.ROBOT_MEMBERSHIP,
            iam.ROBOT_TOKEN,
            repositories.REPOSITORY,
            repositories.REPOSITORY_PERMISSION,
            # A group's ObjectRoleBinding: which teams reach it, part of Upbound IAM.
            access.KIND,
        ),
        IAM_READY,
    ),
}
_ARGO_WAITS = "ControlPlane ready; Argo CD cluster Secret: "
_MAX_LISTED = 10  # in the Normal result
_FIRST_FEW = 3  # in a condition's message, as many as Crossplane lists in Ready's


def write(
    rsp: fnv1.RunFunctionResponse, env: Environment, observed: Observed, out: Composition
) -> int:
    """Write the XR's status, its conditions, the results and the TTL; return the TTL in seconds.

    The XR's status from earlier steps stays; controlPlanes and summary are this step's.
    """
    entries = control_planes(env, observed, out)
    xr_status = rsp.desired.composite.resource.fields["status"]
    if xr_status.WhichOneof("kind") != "struct_value":
        xr_status.struct_value.Clear()
    written: dict[str, Any] = {
        "controlPlanes": entries,
        "access": group_access(env, observed, out),
        "summary": summary(env, entries),
    }
    if env.xr_kind == GROUP_KIND:
        written["released"] = shards.released(env, observed)
        written["heldProtected"] = shards.held_record(out)
    structs.write(xr_status.struct_value, written)
    parts = by_concern(out)
    response.set_conditions(
        rsp,
        control_planes_condition(entries, observed, parts[CONTROL_PLANES_READY]),
        clusters_condition(env, entries, observed, parts[CLUSTERS_REGISTERED]),
        iam_condition(observed, parts[IAM_READY]),
    )
    for warning in out.warnings:
        response.warning(rsp, warning)
    ttl = env.ttl.ready_seconds
    if out.waiting:
        response.normal(rsp, waiting_message(out))
        rsp.desired.composite.ready = fnv1.READY_FALSE
        ttl = env.ttl.waiting_seconds
    elif not all(d.ready for d in out.desired):
        ttl = env.ttl.waiting_seconds
    rsp.meta.ttl.FromTimedelta(datetime.timedelta(seconds=ttl))
    return ttl


def control_planes(env: Environment, observed: Observed, out: Composition) -> list[dict[str, Any]]:
    """One status entry per control plane: readiness, registration, a message, server, Argo name.

    `ready` is the ControlPlane's; `registered` whether its Argo CD cluster Secret is in
    place; `message` is "Ready" only when both are (or it is not to be registered), else what
    it waits for.
    """
    waiting = {w.name: w.reason for w in out.waiting}
    entries = []
    for cp in env.control_planes():
        reported = out.reported.get((cp.group, cp.name))
        if reported is not None:  # a ControlPlaneGroup composes it
            entries.append(reported)
            continue
        name, argo = controlplanes.name_of(cp), argocd.name_of(cp)
        ready = observed.ready(name)
        registers = env.argocd.enabled and cp.register
        registered = registers and observed.ready(argo)
        cluster = out.clusters.get((cp.group, cp.name))
        if name in waiting:
            message = waiting[name]
        elif not ready:
            message = f"ControlPlane {progress(observed, name)}"
        elif argo in waiting:
            message = f"{_ARGO_WAITS}{waiting[argo]}"
        elif registers and not registered:
            message = f"{_ARGO_WAITS}{progress(observed, argo)}"
        else:
            message = "Ready"
        entries.append(
            {
                "group": cp.group,
                "name": cp.name,
                "ready": ready,
                "registered": registered,
                "message": message,
                "server": (cluster and cluster.server) or argocd.server_url(env, cp),
                "argoCluster": cluster.cluster_name if cluster else "",
            }
        )
    return entries


def group_access(env: Environment, observed: Observed, out: Composition) -> list[dict[str, Any]]:
    """One status entry per group with access that the XR composes itself.

    Each says whether its binding is ready or what it waits for; a sharded group's is in
    its ControlPlaneGroup's status.
    """
    waiting = {w.name: w.reason for w in out.waiting}
    entries = []
    for group in shards.own_groups(env, observed):
        if not group.access:
            continue
        name = access.name_of(group.name)
        ready = observed.ready(name)
        message = waiting.get(name) or ("Ready" if ready else "waiting for the binding to be ready")
        entries.append(
            {"group": group.name, "ready": ready and name not in waiting, "message": message}
        )
    return entries


def summary(env: Environment, entries: list[dict[str, Any]]) -> dict[str, int]:
    """Counts for `kubectl get` columns and dashboards."""
    return {
        "groups": len(env.groups),
        "controlPlanes": len(entries),
        "controlPlanesReady": sum(1 for e in entries if e["ready"]),
        "teams": len(env.teams),
        "robots": len(env.robots),
        "repositories": len(env.repositories),
    }


def by_concern(out: Composition) -> dict[str, Composition]:
    """The desired and waiting resources of each concern, by condition type, in one pass."""
    parts = {typ: Composition() for typ in CONCERN_OF.values()}
    for d in out.desired:
        concern = CONCERN_OF.get(d.name.partition(".")[0])
        if concern is not None:
            parts[concern].desired.append(d)
    for w in out.waiting:
        concern = CONCERN_OF.get(w.name.partition(".")[0])
        if concern is not None:
            parts[concern].waiting.append(w)
    return parts


def control_planes_condition(
    entries: list[dict[str, Any]], observed: Observed, part: Composition
) -> Condition:
    """ControlPlanesReady: every group and ControlPlane is ready, and none waits."""
    ready = sum(1 for e in entries if e["ready"])
    headline = f"{ready} of {len(entries)} control planes ready"
    not_ready = unready(part) or _reported_waits(entries, "ready")
    return _condition(CONTROL_PLANES_READY, headline, observed, not_ready)


def clusters_condition(
    env: Environment, entries: list[dict[str, Any]], observed: Observed, part: Composition
) -> Condition:
    """ClustersRegistered: every control plane to register has a ready Argo CD cluster Secret."""
    if not env.argocd.enabled:
        message = "spec.argocd.enabled is false: no control plane is registered with Argo CD"
        return Condition(typ=CLUSTERS_REGISTERED, status="True", reason="Disabled", message=message)
    asked = [e for cp, e in zip(env.control_planes(), entries, strict=True) if cp.register]
    registered = sum(1 for e in asked if e["registered"])
    headline = (
        f"{registered} of {len(asked)} control planes registered with Argo CD"
        if asked
        else "no control plane to register with Argo CD"
    )
    not_ready = unready(part) or _reported_waits(asked, "registered")
    return _condition(CLUSTERS_REGISTERED, headline, observed, not_ready)


def iam_condition(observed: Observed, part: Composition) -> Condition:
    """IAMReady: every team, robot, membership, repository and permission is ready."""
    total = len({d.name for d in part.desired} | {w.name for w in part.waiting})
    not_ready = unready(part)
    headline = (
        f"{total - len(not_ready)} of {total} IAM resources ready"
        if total
        else "no teams, robots or repositories in spec.iam"
    )
    return _condition(IAM_READY, headline, observed, not_ready)


def unready(part: Composition) -> list[Desired | Waiting]:
    """The composed resources of a concern that are not ready, in the order to name them.

    First those composed but not ready (what is in progress), then those that wait (on
    them), each in the builders' order.
    """
    held = {w.name for w in part.waiting}
    return [d for d in part.desired if not d.ready and d.name not in held] + part.waiting


def _reported_waits(entries: list[dict[str, Any]], flag: str) -> list[Waiting]:
    """Entries without `flag` ("ready", "registered") as waits, by their ControlPlane's name.

    Needed only when no composed resource of the concern is unready: when a ControlPlaneGroup
    is observed Ready before the status it reported for its control planes says so.
    """
    return [
        Waiting(resource_name(controlplanes.KIND, e["group"], e["name"]), e["message"])
        for e in entries
        if not e[flag]
    ]


def progress(observed: Observed, name: str) -> str:
    """Why a composed resource is not ready: not created yet, or created and not ready."""
    return "not ready yet" if observed.exists(name) else "being created"


def _condition(
    typ: str, headline: str, observed: Observed, not_ready: Sequence[Desired | Waiting]
) -> Condition:
    """True (Available) when nothing is unready; else False (Waiting), naming the first few."""
    if not not_ready:
        return Condition(typ=typ, status="True", reason="Available", message=headline)
    listed = [
        f"{r.name} ({r.reason if isinstance(r, Waiting) else progress(observed, r.name)})"
        for r in not_ready[:_FIRST_FEW]
    ]
    more = len(not_ready) - _FIRST_FEW
    if more > 0:
        listed.append(f"and {more} more")
    message = f"{headline}; not ready: {', '.join(listed)}"
    return Condition(typ=typ, status="False", reason="Waiting", message=message)


def waiting_message(out: Composition) -> str:
    """One line naming what waits and why, for a Normal result."""
    listed = "; ".join(f"{w.name}: {w.reason}" for w in out.waiting[:_MAX_LISTED])
    more = len(out.waiting) - _MAX_LISTED
    return f"Waiting: {listed}" + (f"; and {more} more" if more > 0 else "")
