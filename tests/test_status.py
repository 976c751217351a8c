"""The XR's status, its conditions, the results and the TTL, from what was composed.

Table-driven: each case has a reason, its input and what it wants. The last tests run the
real server through reconcile rounds and check that the conditions and status.controlPlanes
tell the same story as the Ready condition Crossplane derives from the same response.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource, response

from function import status
from function.compose.common import ArgoCluster, Composition, Desired, Waiting
from tests import environments
from tests import factories as f
from tests.server import Server

CP = "controlplane.dev.ctp1"
ARGO = "argocd-cluster.dev.ctp1"
CLOUD_SERVER = (
    "https://upbound-gcp-us-west-1.space.mxe.upbound.io"
    "/apis/spaces.upbound.io/v1beta1/namespaces/dev/controlplanes/ctp1/k8s"
)
UNREGISTERED = {"name": "ctp1", "argocd": {"register": False}}
TOKEN_WAIT = "waiting for Crossplane to supply the Upbound token Secret"
CLUSTER = ArgoCluster("controlplane-dev-ctp1", "https://ctp1.example.com")
CONDITIONS = [status.CONTROL_PLANES_READY, status.CLUSTERS_REGISTERED, status.IAM_READY]

# What f.spec() composes, in the builders' order.
GROUPS = ["group.dev", "group.prod"]
CONTROL_PLANES = ["controlplane.dev.ctp1", "controlplane.dev.ctp2", "controlplane.prod.ctp1"]
CLUSTERS = ["argocd-cluster.dev.ctp1", "argocd-cluster.dev.ctp2", "argocd-cluster.prod.ctp1"]
IAM = [
    "team.app-team",
    "team.platform",
    "robot.ci",
    "robot-membership.ci.platform",
    "repository.configs",
    "repository-permission.configs.app-team",
    "repository-permission.configs.platform",
]
EVERYTHING = [*GROUPS, *CONTROL_PLANES, *CLUSTERS, *IAM]


def ready(*names: str) -> dict[str, bool]:
    """Observed resources, all Ready."""
    return dict.fromkeys(names, True)


def not_ready(*names: str) -> dict[str, bool]:
    """Observed resources, none Ready."""
    return dict.fromkeys(names, False)


def context_of(spec: Mapping[str, Any], observed: Mapping[str, bool]) -> Any:
    """A builder context: the XR of `spec`, and observed resources Ready or not."""
    return f.context(f.xr(spec), {n: f.observed_resource(n, ready=r) for n, r in observed.items()})


@dataclass(frozen=True)
class EntryCase:
    reason: str
    observed: dict[str, bool]  # composition resource name -> Ready
    waiting: tuple[Waiting, ...] = ()
    cluster: ArgoCluster | None = None
    spec: dict[str, Any] = field(default_factory=f.spec)
    want: dict[str, Any] = field(default_factory=dict)


ENTRY_CASES = [
    EntryCase(
        "a control plane that waits for its group says so",
        {},
        (Waiting(CP, "waiting for group dev to be ready"),),
        want={"ready": False, "registered": False, "message": "waiting for group dev to be ready"},
    ),
    EntryCase(
        "a control plane composed but not observed yet is being created",
        {},
        want={"ready": False, "message": "ControlPlane being created", "argoCluster": ""},
    ),
    EntryCase(
        "a control plane that exists but is not ready says so",
        not_ready(CP),
        want={"ready": False, "message": "ControlPlane not ready yet"},
    ),
    EntryCase(
        "a ready control plane whose Argo CD cluster waits says what for",
        ready(CP),
        (Waiting(ARGO, TOKEN_WAIT),),
        want={
            "ready": True,
            "registered": False,
            "message": f"ControlPlane ready; Argo CD cluster Secret {TOKEN_WAIT}",
        },
    ),
    EntryCase(
        "a ready control plane whose cluster Secret is being created is not registered yet",
        ready(CP),
        cluster=CLUSTER,
        want={
            "ready": True,
            "registered": False,
            "message": "ControlPlane ready; Argo CD cluster Secret being created",
            "argoCluster": "controlplane-dev-ctp1",
        },
    ),
    EntryCase(
        "a cluster Secret that exists but is not ready is not registered yet",
        {**ready(CP), **not_ready(ARGO)},
        cluster=CLUSTER,
        want={
            "registered": False,
            "message": "ControlPlane ready; Argo CD cluster Secret not ready yet",
        },
    ),
    EntryCase(
        "a ready control plane with a ready cluster Secret is Ready, with its server",
        ready(CP, ARGO),
        cluster=CLUSTER,
        want={
            "ready": True,
            "registered": True,
            "message": "Ready",
            "server": "https://ctp1.example.com",
            "argoCluster": "controlplane-dev-ctp1",
        },
    ),
    EntryCase(
        "a kept cluster Secret is registered, says what it waits for, shows the Space's URL",
        ready(CP, ARGO),
        (Waiting(ARGO, "waiting for a usable kubeconfig; keeping the current cluster Secret"),),
        ArgoCluster("controlplane-dev-ctp1", ""),
        want={
            "registered": True,
            "message": "ControlPlane ready; Argo CD cluster Secret waiting for a usable "
            "kubeconfig; keeping the current cluster Secret",
            "server": CLOUD_SERVER,
        },
    ),
    EntryCase(
        "a ready control plane not to be registered is Ready, unregistered, with the Space's URL",
        ready(CP),
        spec=f.spec(
            groups=[
                {"name": "dev", "controlPlanes": [{"name": "ctp1", "argocd": {"register": False}}]}
            ]
        ),
        want={"ready": True, "registered": False, "message": "Ready", "server": CLOUD_SERVER},
    ),
    EntryCase(
        "with Argo CD disabled, a leftover cluster Secret does not count as registered",
        ready(CP, ARGO),
        spec=f.spec(argocd={"enabled": False}),
        want={"ready": True, "registered": False, "message": "Ready", "argoCluster": ""},
    ),
]


@pytest.mark.parametrize("case", ENTRY_CASES, ids=lambda c: c.reason)
def test_control_plane_entry(case: EntryCase) -> None:
    ctx = context_of(case.spec, case.observed)
    clusters = {} if case.cluster is None else {("dev", "ctp1"): case.cluster}
    out = Composition(waiting=list(case.waiting), clusters=clusters)
    entries = status.control_planes(ctx.env, ctx.observed, out)
    assert (entries[0]["group"], entries[0]["name"]) == ("dev", "ctp1")
    assert {k: entries[0][k] for k in case.want} == case.want


@dataclass(frozen=True)
class ConditionCase:
    reason: str
    observed: dict[str, bool]  # composition resource name -> Ready
    desired: list[str]  # composed this call; ready as observed
    waiting: tuple[Waiting, ...] = ()
    spec: dict[str, Any] = field(default_factory=f.spec)
    # condition type -> (status, reason, message); conditions not named are not checked
    want: dict[str, tuple[str, str, str]] = field(default_factory=dict)


def waits_for_group(*names: str) -> tuple[Waiting, ...]:
    """Control planes that wait for their group."""
    return tuple(Waiting(n, f"waiting for group {n.split('.')[1]} to be ready") for n in names)


CONDITION_CASES = [
    ConditionCase(
        "everything ready: every condition True",
        ready(*EVERYTHING),
        EVERYTHING,
        want={
            status.CONTROL_PLANES_READY: ("True", "Available", "3 of 3 control planes ready"),
            status.CLUSTERS_REGISTERED: (
                "True",
                "Available",
                "3 of 3 control planes registered with Argo CD",
            ),
            status.IAM_READY: ("True", "Available", "7 of 7 IAM resources ready"),
        },
    ),
    ConditionCase(
        "the first call: what is being created first, then what waits, then a count",
        {},
        [*GROUPS, *IAM],
        waits_for_group(*CONTROL_PLANES),
        want={
            status.CONTROL_PLANES_READY: (
                "False",
                "Waiting",
                "0 of 3 control planes ready; not ready: group.dev (being created), "
                "group.prod (being created), controlplane.dev.ctp1 (waiting for group dev "
                "to be ready), and 2 more",
            ),
            status.IAM_READY: (
                "False",
                "Waiting",
                "0 of 7 IAM resources ready; not ready: team.app-team (being created), "
                "team.platform (being created), robot.ci (being created), and 4 more",
            ),
        },
    ),
    ConditionCase(
        "a control plane that exists but is not ready",
        {**ready(*GROUPS, *CONTROL_PLANES[:2]), **not_ready(CONTROL_PLANES[2])},
        [*GROUPS, *CONTROL_PLANES],
        want={
            status.CONTROL_PLANES_READY: (
                "False",
                "Waiting",
                "2 of 3 control planes ready; not ready: controlplane.prod.ctp1 (not ready yet)",
            )
        },
    ),
    ConditionCase(
        "a group without control planes counts too",
        ready(*GROUPS, *CONTROL_PLANES),
        [*GROUPS, *CONTROL_PLANES, "group.staging"],
        want={
            status.CONTROL_PLANES_READY: (
                "False",
                "Waiting",
                "3 of 3 control planes ready; not ready: group.staging (being created)",
            )
        },
    ),
    ConditionCase(
        "a removed control plane being orphaned: ControlPlanesReady waits for it",
        ready(*GROUPS, *CONTROL_PLANES, "controlplane.dev.old"),
        [*GROUPS, *CONTROL_PLANES, "controlplane.dev.old"],
        (Waiting("controlplane.dev.old", "removed from the spec; orphaning it first"),),
        want={
            status.CONTROL_PLANES_READY: (
                "False",
                "Waiting",
                "3 of 3 control planes ready; not ready: controlplane.dev.old (removed from "
                "the spec; orphaning it first)",
            )
        },
    ),
    ConditionCase(
        "ready control planes whose clusters wait: ControlPlanesReady True, the clusters False",
        ready(*GROUPS, *CONTROL_PLANES),
        [*GROUPS, *CONTROL_PLANES],
        tuple(Waiting(n, TOKEN_WAIT) for n in CLUSTERS),
        want={
            status.CONTROL_PLANES_READY: ("True", "Available", "3 of 3 control planes ready"),
            status.CLUSTERS_REGISTERED: (
                "False",
                "Waiting",
                "0 of 3 control planes registered with Argo CD; not ready: "
                f"argocd-cluster.dev.ctp1 ({TOKEN_WAIT}), argocd-cluster.dev.ctp2 "
                f"({TOKEN_WAIT}), argocd-cluster.prod.ctp1 ({TOKEN_WAIT})",
            ),
        },
    ),
    ConditionCase(
        "a cluster Secret kept while it waits is registered but not done",
        ready(*CONTROL_PLANES, *CLUSTERS),
        CLUSTERS,
        (Waiting(CLUSTERS[0], "waiting for a usable kubeconfig"),),
        want={
            status.CLUSTERS_REGISTERED: (
                "False",
                "Waiting",
                "3 of 3 control planes registered with Argo CD; not ready: "
                "argocd-cluster.dev.ctp1 (waiting for a usable kubeconfig)",
            )
        },
    ),
    ConditionCase(
        "Argo CD disabled: ClustersRegistered True, Disabled",
        ready(*EVERYTHING),
        [*GROUPS, *CONTROL_PLANES, *IAM],
        spec=f.spec(argocd={"enabled": False}),
        want={
            status.CLUSTERS_REGISTERED: (
                "True",
                "Disabled",
                "spec.argocd.enabled is false: no control plane is registered with Argo CD",
            )
        },
    ),
    ConditionCase(
        "no control plane to register: ClustersRegistered True",
        ready(*GROUPS),
        GROUPS,
        spec=f.spec(groups=[{"name": "dev"}, {"name": "prod"}]),
        want={
            status.CONTROL_PLANES_READY: ("True", "Available", "0 of 0 control planes ready"),
            status.CLUSTERS_REGISTERED: (
                "True",
                "Available",
                "no control plane to register with Argo CD",
            ),
        },
    ),
    ConditionCase(
        "no IAM: IAMReady True",
        ready(*GROUPS),
        GROUPS,
        spec=f.spec(iam={}),
        want={
            status.IAM_READY: ("True", "Available", "no teams, robots or repositories in spec.iam")
        },
    ),
    ConditionCase(
        "IAM that exists but is not ready yet, beside IAM that is",
        {**ready(*IAM[:5]), **not_ready(*IAM[5:])},
        IAM,
        want={
            status.IAM_READY: (
                "False",
                "Waiting",
                "5 of 7 IAM resources ready; not ready: repository-permission.configs.app-team "
                "(not ready yet), repository-permission.configs.platform (not ready yet)",
            )
        },
    ),
]


@pytest.mark.parametrize("case", CONDITION_CASES, ids=lambda c: c.reason)
def test_conditions(case: ConditionCase) -> None:
    ctx = context_of(case.spec, case.observed)
    desired = [Desired(n, {}, case.observed.get(n, False)) for n in case.desired]
    out = Composition(desired=desired, waiting=list(case.waiting))
    entries = status.control_planes(ctx.env, ctx.observed, out)
    got = {
        c.typ: c
        for c in (
            status.control_planes_condition(entries, ctx.observed, out),
            status.clusters_condition(ctx.env, entries, ctx.observed, out),
            status.iam_condition(ctx.observed, out),
        )
    }
    for typ, want in case.want.items():
        assert (got[typ].status, got[typ].reason, got[typ].message) == want, typ


@dataclass(frozen=True)
class WaitingMessageCase:
    reason: str
    waiting: int
    want: str


WAITING_MESSAGE_CASES = [
    WaitingMessageCase("one", 1, "Waiting: r.0: because 0"),
    WaitingMessageCase(
        "ten are all listed",
        10,
        "Waiting: " + "; ".join(f"r.{i}: because {i}" for i in range(10)),
    ),
    WaitingMessageCase(
        "more than ten: the first ten, then a count",
        12,
        "Waiting: " + "; ".join(f"r.{i}: because {i}" for i in range(10)) + "; and 2 more",
    ),
]


@pytest.mark.parametrize("case", WAITING_MESSAGE_CASES, ids=lambda c: c.reason)
def test_waiting_message(case: WaitingMessageCase) -> None:
    out = Composition(waiting=[Waiting(f"r.{i}", f"because {i}") for i in range(case.waiting)])
    assert status.waiting_message(out) == case.want


@dataclass(frozen=True)
class WriteCase:
    reason: str
    out: Composition
    want_ttl: int
    want_composite_ready: int
    want_results: list[tuple[int, str]] = field(default_factory=list)


def desired(*, ready: bool) -> Desired:
    """A desired resource that is ready or not."""
    return Desired("group.dev", {}, ready)


WRITE_CASES = [
    WriteCase(
        "all desired ready and nothing waiting: the long TTL, readiness left to Crossplane",
        Composition(desired=[desired(ready=True)]),
        want_ttl=600,
        want_composite_ready=fnv1.READY_UNSPECIFIED,
    ),
    WriteCase(
        "a desired resource not ready yet: the short TTL",
        Composition(desired=[desired(ready=False)]),
        want_ttl=15,
        want_composite_ready=fnv1.READY_UNSPECIFIED,
    ),
    WriteCase(
        "something waiting: the short TTL, the XR not ready, a Normal result says what",
        Composition(waiting=[Waiting(CP, "waiting for group dev to be ready")]),
        want_ttl=15,
        want_composite_ready=fnv1.READY_FALSE,
        want_results=[(fnv1.SEVERITY_NORMAL, f"Waiting: {CP}: waiting for group dev to be ready")],
    ),
    WriteCase(
        "a warning becomes a Warning result",
        Composition(warnings=["control plane dev/ctp1: bad kubeconfig"]),
        want_ttl=600,
        want_composite_ready=fnv1.READY_UNSPECIFIED,
        want_results=[(fnv1.SEVERITY_WARNING, "control plane dev/ctp1: bad kubeconfig")],
    ),
]


@pytest.mark.parametrize("case", WRITE_CASES, ids=lambda c: c.reason)
def test_write(case: WriteCase) -> None:
    ctx = f.context(f.xr(), {CP: f.observed_resource(CP)})
    rsp = response.to(f.request(f.xr()))
    earlier = {"fromAnEarlierStep": "kept"}
    rsp.desired.composite.resource.update({"status": earlier})

    ttl = status.write(rsp, ctx.env, ctx.observed, case.out)

    assert ttl == case.want_ttl
    assert rsp.meta.ttl.seconds == case.want_ttl
    assert rsp.desired.composite.ready == case.want_composite_ready
    assert [(r.severity, r.message) for r in rsp.results] == case.want_results
    assert [c.type for c in rsp.conditions] == CONDITIONS
    written = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    assert written["fromAnEarlierStep"] == "kept"
    assert written["summary"] == {
        "groups": 2,
        "controlPlanes": 3,
        "controlPlanesReady": 1,
        "teams": 2,
        "robots": 1,
        "repositories": 1,
    }
    assert [c["name"] for c in written["controlPlanes"]] == ["ctp1", "ctp2", "ctp1"]


def test_every_composed_kind_has_a_concern() -> None:
    """A new kind of composed resource must join a condition, or Ready has no explanation."""
    names: set[str] = set()
    for space in environments.SPACES.values():
        names |= set(f.desired(f.everything_ready(f.xr(f.spec(space=space)))))
    assert {n.split(".", 1)[0] for n in names} == set(CONCERN_OF)


# --- Over gRPC: the conditions and the entries agree with Crossplane's Ready ---------------

CONCERN_OF = {
    **dict.fromkeys(status.CONTROL_PLANE_KINDS, status.CONTROL_PLANES_READY),
    **dict.fromkeys(status.CLUSTER_KINDS, status.CLUSTERS_REGISTERED),
    **dict.fromkeys(status.IAM_KINDS, status.IAM_READY),
}


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
            assert CONCERN_OF[name.split(".", 1)[0]] not in true, name
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
@pytest.mark.parametrize("space", ["Cloud", "Disconnected"])
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
    assert "ControlPlane ready; Argo CD cluster Secret being created" in messages
    assert "ControlPlane ready; Argo CD cluster Secret not ready yet" in messages


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
    assert kinds == {"Object", "Team", "Robot", "RobotTeamMembership", "Repository", "Permission"}
