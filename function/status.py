"""The XR's status, conditions, results and TTL, rolled up from what was composed and observed.

Only names, readiness and server URLs are written: never a token or a kubeconfig.
"""

import datetime
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import response
from crossplane.function.resource import Condition

from function import structs
from function.compose import argocd, controlplanes, shards
from function.compose.common import Composition
from function.observed import Observed
from function.resolve import GROUP_KIND, Environment

_MAX_LISTED = 10


def write(
    rsp: fnv1.RunFunctionResponse, env: Environment, observed: Observed, out: Composition
) -> int:
    """Write the XR's status, its condition, the results and the TTL; return the TTL in seconds.

    The XR's status from earlier steps stays; controlPlanes and summary are this step's.
    """
    entries = control_planes(env, observed, out)
    xr_status = rsp.desired.composite.resource.fields["status"]
    if xr_status.WhichOneof("kind") != "struct_value":
        xr_status.struct_value.Clear()
    written: dict[str, Any] = {"controlPlanes": entries, "summary": summary(env, entries)}
    if env.xr_kind == GROUP_KIND:
        written["released"] = shards.released(env, observed)
    structs.write(xr_status.struct_value, written)
    response.set_conditions(rsp, condition(entries, out))
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
    """One status entry per control plane: readiness, a message, its server, its Argo name."""
    waiting = {w.name: w.reason for w in out.waiting}
    entries = []
    for cp in env.control_planes():
        reported = out.reported.get((cp.group, cp.name))
        if reported is not None:  # a ControlPlaneGroup composes it
            entries.append(reported)
            continue
        name = controlplanes.name_of(cp)
        ready = observed.ready(name)
        cluster = out.clusters.get((cp.group, cp.name))
        argo_waiting = waiting.get(argocd.name_of(cp))
        if name in waiting:
            message = waiting[name]
        elif not ready:
            message = "waiting for the ControlPlane to be ready"
        elif argo_waiting:
            message = argo_waiting
        else:
            message = "Ready"
        entries.append(
            {
                "group": cp.group,
                "name": cp.name,
                "ready": ready,
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


def condition(entries: list[dict[str, Any]], out: Composition) -> Condition:
    """The ControlPlanesReady condition of the XR."""
    ready = sum(1 for e in entries if e["ready"])
    message = f"{ready} of {len(entries)} control planes ready"
    if out.waiting:
        message += f"; {len(out.waiting)} composed resources waiting"
    if ready == len(entries) and not out.waiting:
        return Condition(
            typ="ControlPlanesReady", status="True", reason="Available", message=message
        )
    return Condition(typ="ControlPlanesReady", status="False", reason="Waiting", message=message)


def waiting_message(out: Composition) -> str:
    """One line naming what waits and why, for a Normal result."""
    listed = "; ".join(f"{w.name}: {w.reason}" for w in out.waiting[:_MAX_LISTED])
    more = len(out.waiting) - _MAX_LISTED
    return f"Waiting: {listed}" + (f"; and {more} more" if more > 0 else "")
