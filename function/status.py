"""The XR's status, conditions, results and TTL, rolled up from what was composed and observed.

Crossplane writes the XR's Ready condition itself, from the `ready` of each desired composed
resource ("Unready resources: a, b, c, and 7 more"); the function sets that `ready` from the
resource's observed Ready condition (function/compose/common.py). The function adds one
condition per concern, each True only when every composed resource of that concern is ready
and none waits, so that together they explain Ready:

- ControlPlanesReady: the groups and ControlPlanes (and removed ones being orphaned);
- ClustersRegistered: the Argo CD cluster Secrets;
- IAMReady: teams, robots, memberships, repositories and permissions.

Each False condition names what is not ready and why, the first few, then "and N more".
`status.controlPlanes[]` tells the same story per control plane. Only names, readiness and
server URLs are written: never a token or a kubeconfig.
"""

import datetime
from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import response
from crossplane.function.resource import Condition

from function import structs
from function.compose import argocd, controlplanes, groups, iam
from function.compose.common import Composition
from function.observed import Observed
from function.resolve import Environment

CONTROL_PLANES_READY = "ControlPlanesReady"
CLUSTERS_REGISTERED = "ClustersRegistered"
IAM_READY = "IAMReady"

# The composition resource name prefixes (builders' KINDs) of each concern.
CONTROL_PLANE_KINDS = frozenset({groups.KIND, controlplanes.KIND})
CLUSTER_KINDS = frozenset({argocd.KIND})
IAM_KINDS = frozenset(
    {iam.TEAM, iam.ROBOT, iam.ROBOT_MEMBERSHIP, iam.REPOSITORY, iam.REPOSITORY_PERMISSION}
)

_MAX_LISTED = 10  # in the Normal result
_FIRST_FEW = 3  # in a condition's message, as many as Crossplane lists in Ready's


@dataclass(frozen=True, slots=True)
class Unready:
    """A composed resource that is not ready, or not composed yet, and why."""

    name: str
    why: str


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
    structs.write(
        xr_status.struct_value, {"controlPlanes": entries, "summary": summary(env, entries)}
    )
    response.set_conditions(
        rsp,
        control_planes_condition(entries, observed, out),
        clusters_condition(env, entries, observed, out),
        iam_condition(observed, out),
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
        name, argo = controlplanes.name_of(cp), argocd.name_of(cp)
        ready = observed.ready(name)
        registers = env.argocd.enabled and cp.register
        cluster = out.clusters.get((cp.group, cp.name))
        if name in waiting:
            message = waiting[name]
        elif not ready:
            message = f"ControlPlane {progress(observed, name)}"
        elif argo in waiting:
            message = f"ControlPlane ready; Argo CD cluster Secret {waiting[argo]}"
        elif registers and not observed.ready(argo):
            message = f"ControlPlane ready; Argo CD cluster Secret {progress(observed, argo)}"
        else:
            message = "Ready"
        entries.append(
            {
                "group": cp.group,
                "name": cp.name,
                "ready": ready,
                "registered": registers and observed.ready(argo),
                "message": message,
                "server": (cluster and cluster.server) or argocd.server_url(env, cp),
                "argoCluster": cluster.cluster_name if cluster else "",
            }
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


def control_planes_condition(
    entries: list[dict[str, Any]], observed: Observed, out: Composition
) -> Condition:
    """ControlPlanesReady: every group and ControlPlane is ready, and none waits."""
    ready = sum(1 for e in entries if e["ready"])
    headline = f"{ready} of {len(entries)} control planes ready"
    return _condition(CONTROL_PLANES_READY, headline, unready(observed, out, CONTROL_PLANE_KINDS))


def clusters_condition(
    env: Environment, entries: list[dict[str, Any]], observed: Observed, out: Composition
) -> Condition:
    """ClustersRegistered: every control plane to register has a ready Argo CD cluster Secret."""
    if not env.argocd.enabled:
        message = "spec.argocd.enabled is false: no control plane is registered with Argo CD"
        return Condition(typ=CLUSTERS_REGISTERED, status="True", reason="Disabled", message=message)
    asked = sum(1 for cp in env.control_planes() if cp.register)
    registered = sum(1 for e in entries if e["registered"])
    headline = (
        f"{registered} of {asked} control planes registered with Argo CD"
        if asked
        else "no control plane to register with Argo CD"
    )
    return _condition(CLUSTERS_REGISTERED, headline, unready(observed, out, CLUSTER_KINDS))


def iam_condition(observed: Observed, out: Composition) -> Condition:
    """IAMReady: every team, robot, membership, repository and permission is ready."""
    names = {d.name for d in out.desired} | {w.name for w in out.waiting}
    total = sum(1 for name in names if _kind(name) in IAM_KINDS)
    not_ready = unready(observed, out, IAM_KINDS)
    headline = (
        f"{total - len(not_ready)} of {total} IAM resources ready"
        if total
        else "no teams, robots or repositories in spec.iam"
    )
    return _condition(IAM_READY, headline, not_ready)


def unready(observed: Observed, out: Composition, kinds: frozenset[str]) -> list[Unready]:
    """The composed resources of some kinds that are not ready, and why.

    First those composed but not ready (what is in progress), then those that wait (on them),
    each in the builders' order.
    """
    waiting = [w for w in out.waiting if _kind(w.name) in kinds]
    held = {w.name for w in waiting}
    in_progress = [
        Unready(d.name, progress(observed, d.name))
        for d in out.desired
        if not d.ready and d.name not in held and _kind(d.name) in kinds
    ]
    return in_progress + [Unready(w.name, w.reason) for w in waiting]


def progress(observed: Observed, name: str) -> str:
    """Why a composed resource is not ready: not created yet, or created and not ready."""
    return "not ready yet" if observed.exists(name) else "being created"


def _condition(typ: str, headline: str, not_ready: list[Unready]) -> Condition:
    """True (Available) when nothing is unready; else False (Waiting), naming the first few."""
    if not not_ready:
        return Condition(typ=typ, status="True", reason="Available", message=headline)
    listed = [f"{u.name} ({u.why})" for u in not_ready[:_FIRST_FEW]]
    more = len(not_ready) - _FIRST_FEW
    if more > 0:
        listed.append(f"and {more} more")
    message = f"{headline}; not ready: {', '.join(listed)}"
    return Condition(typ=typ, status="False", reason="Waiting", message=message)


def _kind(composition_resource_name: str) -> str:
    """The builder's KIND of a composition resource name (its prefix before the first dot)."""
    return composition_resource_name.split(".", 1)[0]


def waiting_message(out: Composition) -> str:
    """One line naming what waits and why, for a Normal result."""
    listed = "; ".join(f"{w.name}: {w.reason}" for w in out.waiting[:_MAX_LISTED])
    more = len(out.waiting) - _MAX_LISTED
    return f"Waiting: {listed}" + (f"; and {more} more" if more > 0 else "")
