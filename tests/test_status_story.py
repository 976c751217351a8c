"""Over the real server: the XR's conditions and status.controlPlanes tell one story.

Reconcile rounds in which each resource is Ready a round after it first exists, so that every
state shows; in each, the function's conditions and entries must agree with each other and
with the Ready condition Crossplane derives from the same response (its composite reconciler
and `crossplane render` alike: composite.ready if set, else every desired resource's ready).
"""

from __future__ import annotations

from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function import status
from tests import environments
from tests import factories as f
from tests.server import Server

CONDITIONS = [status.CONTROL_PLANES_READY, status.CLUSTERS_REGISTERED, status.IAM_READY]


def test_every_composed_kind_has_a_concern() -> None:
    """A new kind of composed resource must join a condition, or Ready has no explanation."""
    names: set[str] = set()
    for space in environments.SPACES.values():
        for sharding in ("Disabled", "Enabled"):
            xr = f.xr(f.spec(space=space, sharding=sharding))
            names |= set(f.desired(f.everything_ready(xr)))
    assert {n.split(".", 1)[0] for n in names} == set(status.CONCERN_OF)


def crossplane_ready(rsp: fnv1.RunFunctionResponse) -> bool:
    """Ready as Crossplane derives it (composite.ready, else every desired resource's)."""
    if rsp.desired.composite.ready != fnv1.READY_UNSPECIFIED:
        return rsp.desired.composite.ready == fnv1.READY_TRUE
    return all(r.ready == fnv1.READY_TRUE for r in rsp.desired.resources.values())


def assert_one_story(rsp: fnv1.RunFunctionResponse) -> None:
    """The conditions and status.controlPlanes agree with each other and with Crossplane."""
    conditions = {c.type: c for c in rsp.conditions}
    assert list(conditions) == CONDITIONS
    true = {t for t, c in conditions.items() if c.status == fnv1.STATUS_CONDITION_TRUE}
    assert (true == set(CONDITIONS)) == crossplane_ready(rsp)
    for name, composed in rsp.desired.resources.items():
        if composed.ready != fnv1.READY_TRUE:
            assert status.CONCERN_OF[name.split(".", 1)[0]] not in true, name
    entries = resource.struct_to_dict(rsp.desired.composite.resource)["status"]["controlPlanes"]
    if status.CONTROL_PLANES_READY in true:
        assert all(e["ready"] for e in entries)
    if status.CLUSTERS_REGISTERED in true:
        assert all(e["registered"] for e in entries)
    for e in entries:  # every control plane of these tests is to be registered
        assert (e["message"] == "Ready") == (e["ready"] and e["registered"]), e


def reconcile_with_lag(server: Server, xr: dict[str, Any]) -> list[fnv1.RunFunctionResponse]:
    """Reconcile over gRPC until everything is ready; a resource is Ready a round after it
    first exists, so every state (being created, not ready yet, ready) shows."""
    observed: dict[str, fnv1.Resource] = {}
    responses = []
    for _ in range(12):
        rsp = server.call(f.request(xr, observed=observed))
        assert not f.fatal(rsp), f.fatal(rsp)
        responses.append(rsp)
        if crossplane_ready(rsp) and set(rsp.desired.resources) == set(observed):
            return responses
        composed = f.desired(rsp)
        observed = {
            **f.observe({n: b for n, b in composed.items() if n in observed}),
            **f.observe({n: b for n, b in composed.items() if n not in observed}, ready=False),
        }
    raise AssertionError("not ready after 12 rounds")


def entries_of(rsp: fnv1.RunFunctionResponse) -> list[dict[str, Any]]:
    """The response's status.controlPlanes."""
    return list(resource.struct_to_dict(rsp.desired.composite.resource)["status"]["controlPlanes"])


@pytest.mark.parametrize("flavour", ["namespaced", "cluster"])
@pytest.mark.parametrize("space", ["Cloud", "Connected-discovered", "Disconnected"])
def test_every_round_tells_one_story_over_grpc(
    debug_server: Server, space: str, flavour: str
) -> None:
    spec = f.spec(space=environments.SPACES[space])
    xr = f.xr(spec, namespace="platform" if flavour == "namespaced" else None)
    responses = reconcile_with_lag(debug_server, xr)
    for rsp in responses:
        assert_one_story(rsp)
    first, last = responses[0], responses[-1]
    assert [c.status for c in first.conditions] == [fnv1.STATUS_CONDITION_FALSE] * 3
    assert [c.status for c in last.conditions] == [fnv1.STATUS_CONDITION_TRUE] * 3
    assert {(e["message"], e["ready"], e["registered"]) for e in entries_of(last)} == {
        ("Ready", True, True)
    }
    messages = {e["message"] for rsp in responses for e in entries_of(rsp)}
    assert "ControlPlane not ready yet" in messages
    assert "ControlPlane ready; Argo CD cluster Secret: being created" in messages
    assert "ControlPlane ready; Argo CD cluster Secret: not ready yet" in messages


@pytest.mark.parametrize(
    ("observed_ready", "want"),
    [(True, fnv1.READY_TRUE), (False, fnv1.READY_FALSE), (None, fnv1.READY_FALSE)],
    ids=["observed Ready", "observed not Ready", "not observed yet"],
)
def test_each_kind_is_ready_as_observed_over_grpc(
    debug_server: Server, observed_ready: bool | None, want: int
) -> None:
    """Every kind's `ready` is its observed Ready condition, which its provider sets.

    Not observed yet: the groups and control planes are observed Ready, so that the Argo CD
    cluster Secrets are composed too; everything else must be not ready.
    """
    xr = f.xr()
    everything = f.desired(f.everything_ready(xr))
    prerequisites = {n for n in everything if n.startswith(("group.", "controlplane."))}
    if observed_ready is None:
        observed = f.observe({n: everything[n] for n in prerequisites})
    else:
        observed = f.observe(everything, ready=observed_ready)
    rsp = debug_server.call(f.request(xr, observed=observed))
    checked = {
        n: c
        for n, c in rsp.desired.resources.items()
        if observed_ready is not None or n not in prerequisites
    }
    assert {c.ready for c in checked.values()} == {want}
    kinds = {resource.struct_to_dict(c.resource)["kind"] for c in checked.values()}
    assert kinds == {
        "Object",
        "Team",
        "Robot",
        "RobotTeamMembership",
        "Token",
        "Repository",
        "Permission",
    }
