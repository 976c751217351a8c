"""The XR's status, its conditions, the results and the TTL, from what was composed.

Table-driven: each case has a reason, its input and what it wants. Over the real server:
tests/test_status_story.py.
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
from tests import factories as f

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
            "message": f"ControlPlane ready; Argo CD cluster Secret: {TOKEN_WAIT}",
        },
    ),
    EntryCase(
        "a ready control plane whose cluster Secret is being created is not registered yet",
        ready(CP),
        cluster=CLUSTER,
        want={
            "ready": True,
            "registered": False,
            "message": "ControlPlane ready; Argo CD cluster Secret: being created",
            "argoCluster": "controlplane-dev-ctp1",
        },
    ),
    EntryCase(
        "a cluster Secret that exists but is not ready is not registered yet",
        {**ready(CP), **not_ready(ARGO)},
        cluster=CLUSTER,
        want={
            "registered": False,
            "message": "ControlPlane ready; Argo CD cluster Secret: not ready yet",
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
            "message": "ControlPlane ready; Argo CD cluster Secret: waiting for a usable "
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
    # status entries ControlPlaneGroups reported, by (group, name) (a sharded environment)
    reported: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)


def waits_for_group(*names: str) -> tuple[Waiting, ...]:
    """Control planes that wait for their group."""
    return tuple(Waiting(n, f"waiting for group {n.split('.')[1]} to be ready") for n in names)


def available(message: str) -> tuple[str, str, str]:
    """A True condition's status, reason and message."""
    return ("True", "Available", message)


def waiting(message: str) -> tuple[str, str, str]:
    """A False condition's status, reason and message."""
    return ("False", "Waiting", message)


def disabled(message: str) -> tuple[str, str, str]:
    """The status, reason and message of a condition whose concern is switched off."""
    return ("True", "Disabled", message)


def reported(group: str, name: str, *, ready: bool, registered: bool) -> dict[str, Any]:
    """A status entry that a ControlPlaneGroup reported."""
    message = "Ready" if ready and registered else "ControlPlane not ready yet"
    if ready and not registered:
        message = "ControlPlane ready; Argo CD cluster Secret: being created"
    return {
        "group": group,
        "name": name,
        "ready": ready,
        "registered": registered,
        "message": message,
        "server": "",
        "argoCluster": "",
    }


SHARDS = ["controlplanegroup.dev", "controlplanegroup.prod"]
ALL_REPORTED = [("dev", "ctp1"), ("dev", "ctp2"), ("prod", "ctp1")]


CONDITION_CASES = [
    ConditionCase(
        "everything ready: every condition True",
        ready(*EVERYTHING),
        EVERYTHING,
        want={
            status.CONTROL_PLANES_READY: available("3 of 3 control planes ready"),
            status.CLUSTERS_REGISTERED: available("3 of 3 control planes registered with Argo CD"),
            status.IAM_READY: available("7 of 7 IAM resources ready"),
        },
    ),
    ConditionCase(
        "the first call: what is being created first, then what waits, then a count",
        {},
        [*GROUPS, *IAM],
        waits_for_group(*CONTROL_PLANES),
        want={
            status.CONTROL_PLANES_READY: waiting(
                "0 of 3 control planes ready; not ready: group.dev (being created), "
                "group.prod (being created), controlplane.dev.ctp1 (waiting for group dev "
                "to be ready), and 2 more"
            ),
            status.IAM_READY: waiting(
                "0 of 7 IAM resources ready; not ready: team.app-team (being created), "
                "team.platform (being created), robot.ci (being created), and 4 more"
            ),
        },
    ),
    ConditionCase(
        "a control plane that exists but is not ready",
        {**ready(*GROUPS, *CONTROL_PLANES[:2]), **not_ready(CONTROL_PLANES[2])},
        [*GROUPS, *CONTROL_PLANES],
        want={
            status.CONTROL_PLANES_READY: waiting(
                "2 of 3 control planes ready; not ready: controlplane.prod.ctp1 (not ready yet)"
            )
        },
    ),
    ConditionCase(
        "a group without control planes counts too",
        ready(*GROUPS, *CONTROL_PLANES),
        [*GROUPS, *CONTROL_PLANES, "group.staging"],
        want={
            status.CONTROL_PLANES_READY: waiting(
                "3 of 3 control planes ready; not ready: group.staging (being created)"
            )
        },
    ),
    ConditionCase(
        "a removed control plane being orphaned: ControlPlanesReady waits for it",
        ready(*GROUPS, *CONTROL_PLANES, "controlplane.dev.old"),
        [*GROUPS, *CONTROL_PLANES, "controlplane.dev.old"],
        (Waiting("controlplane.dev.old", "removed from the spec; orphaning it first"),),
        want={
            status.CONTROL_PLANES_READY: waiting(
                "3 of 3 control planes ready; not ready: controlplane.dev.old (removed from "
                "the spec; orphaning it first)"
            )
        },
    ),
    ConditionCase(
        "ready control planes whose clusters wait: ControlPlanesReady True, the clusters False",
        ready(*GROUPS, *CONTROL_PLANES),
        [*GROUPS, *CONTROL_PLANES],
        tuple(Waiting(n, TOKEN_WAIT) for n in CLUSTERS),
        want={
            status.CONTROL_PLANES_READY: available("3 of 3 control planes ready"),
            status.CLUSTERS_REGISTERED: waiting(
                "0 of 3 control planes registered with Argo CD; not ready: "
                f"argocd-cluster.dev.ctp1 ({TOKEN_WAIT}), argocd-cluster.dev.ctp2 "
                f"({TOKEN_WAIT}), argocd-cluster.prod.ctp1 ({TOKEN_WAIT})"
            ),
        },
    ),
    ConditionCase(
        "a cluster Secret kept while it waits is registered but not done",
        ready(*CONTROL_PLANES, *CLUSTERS),
        CLUSTERS,
        (Waiting(CLUSTERS[0], "waiting for a usable kubeconfig"),),
        want={
            status.CLUSTERS_REGISTERED: waiting(
                "3 of 3 control planes registered with Argo CD; not ready: "
                "argocd-cluster.dev.ctp1 (waiting for a usable kubeconfig)"
            )
        },
    ),
    ConditionCase(
        "Argo CD disabled: ClustersRegistered True, Disabled",
        ready(*EVERYTHING),
        [*GROUPS, *CONTROL_PLANES, *IAM],
        spec=f.spec(argocd={"enabled": False}),
        want={
            status.CLUSTERS_REGISTERED: disabled(
                "spec.argocd.enabled is false: no control plane is registered with Argo CD"
            )
        },
    ),
    ConditionCase(
        "no control plane to register: ClustersRegistered True",
        ready(*GROUPS),
        GROUPS,
        spec=f.spec(groups=[{"name": "dev"}, {"name": "prod"}]),
        want={
            status.CONTROL_PLANES_READY: available("0 of 0 control planes ready"),
            status.CLUSTERS_REGISTERED: available("no control plane to register with Argo CD"),
        },
    ),
    ConditionCase(
        "no IAM: IAMReady True",
        ready(*GROUPS),
        GROUPS,
        # Without teams, no group may grant access: the groups without their access lists.
        spec=f.spec(iam={}, groups=[{**g, "access": []} for g in f.spec()["groups"]]),
        want={status.IAM_READY: available("no teams, robots or repositories in spec.iam")},
    ),
    ConditionCase(
        "IAM that exists but is not ready yet, beside IAM that is",
        {**ready(*IAM[:5]), **not_ready(*IAM[5:])},
        IAM,
        want={
            status.IAM_READY: waiting(
                "5 of 7 IAM resources ready; not ready: repository-permission.configs.app-team "
                "(not ready yet), repository-permission.configs.platform (not ready yet)"
            )
        },
    ),
    ConditionCase(
        "sharded, every ControlPlaneGroup ready and every control plane reported so",
        ready(*SHARDS),
        SHARDS,
        reported={k: reported(*k, ready=True, registered=True) for k in ALL_REPORTED},
        want={
            status.CONTROL_PLANES_READY: available("3 of 3 control planes ready"),
            status.CLUSTERS_REGISTERED: available("3 of 3 control planes registered with Argo CD"),
        },
    ),
    ConditionCase(
        "sharded, a ControlPlaneGroup not ready yet is named",
        {**ready(SHARDS[0]), **not_ready(SHARDS[1])},
        SHARDS,
        reported={
            k: reported(*k, ready=k[0] == "dev", registered=k[0] == "dev") for k in ALL_REPORTED
        },
        want={
            status.CONTROL_PLANES_READY: waiting(
                "2 of 3 control planes ready; not ready: controlplanegroup.prod (not ready yet)"
            ),
        },
    ),
    ConditionCase(
        "sharded, a group observed Ready before its report says so: the report is believed",
        ready(*SHARDS),
        SHARDS,
        reported={
            **{k: reported(*k, ready=True, registered=True) for k in ALL_REPORTED},
            ("prod", "ctp1"): reported("prod", "ctp1", ready=True, registered=False),
        },
        want={
            status.CONTROL_PLANES_READY: available("3 of 3 control planes ready"),
            status.CLUSTERS_REGISTERED: waiting(
                "2 of 3 control planes registered with Argo CD; not ready: "
                "controlplane.prod.ctp1 (ControlPlane ready; Argo CD cluster Secret: being created)"
            ),
        },
    ),
]


@pytest.mark.parametrize("case", CONDITION_CASES, ids=lambda c: c.reason)
def test_conditions(case: ConditionCase) -> None:
    ctx = context_of(case.spec, case.observed)
    desired = [Desired(n, {}, case.observed.get(n, False)) for n in case.desired]
    out = Composition(desired=desired, waiting=list(case.waiting), reported=case.reported)
    entries = status.control_planes(ctx.env, ctx.observed, out)
    parts = status.by_concern(out)
    got = {
        c.typ: c
        for c in (
            status.control_planes_condition(
                entries, ctx.observed, parts[status.CONTROL_PLANES_READY]
            ),
            status.clusters_condition(
                ctx.env, entries, ctx.observed, parts[status.CLUSTERS_REGISTERED]
            ),
            status.iam_condition(ctx.observed, parts[status.IAM_READY]),
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
