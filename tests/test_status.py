"""The XR's status, its condition, the results and the TTL, from what was composed.

Table-driven: each case has a reason, its input and what it wants.
"""

from __future__ import annotations

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


@dataclass(frozen=True)
class EntryCase:
    reason: str
    ready: bool | None  # the observed ControlPlane's readiness; None: not observed
    waiting: tuple[Waiting, ...]
    cluster: ArgoCluster | None
    want: dict[str, Any]


ENTRY_CASES = [
    EntryCase(
        "a control plane that waits says why",
        None,
        (Waiting(CP, "waiting for group dev to be ready"),),
        None,
        want={"ready": False, "message": "waiting for group dev to be ready", "argoCluster": ""},
    ),
    EntryCase(
        "a control plane that exists but is not ready waits for it",
        False,
        (),
        None,
        want={"ready": False, "message": "waiting for the ControlPlane to be ready"},
    ),
    EntryCase(
        "a ready control plane whose Argo CD cluster waits says why",
        True,
        (Waiting(ARGO, "waiting for Crossplane to supply the Upbound token Secret"),),
        None,
        want={
            "ready": True,
            "message": "waiting for Crossplane to supply the Upbound token Secret",
        },
    ),
    EntryCase(
        "a ready, registered control plane names its Argo CD cluster and server",
        True,
        (),
        ArgoCluster("controlplane-dev-ctp1", "https://ctp1.example.com"),
        want={
            "ready": True,
            "message": "Ready",
            "server": "https://ctp1.example.com",
            "argoCluster": "controlplane-dev-ctp1",
        },
    ),
    EntryCase(
        "a kept cluster Secret (no server yet) falls back to the Space's URL",
        True,
        (),
        ArgoCluster("controlplane-dev-ctp1", ""),
        want={"server": CLOUD_SERVER, "argoCluster": "controlplane-dev-ctp1"},
    ),
    EntryCase(
        "an unregistered control plane shows the Space's URL and no cluster",
        True,
        (),
        None,
        want={"server": CLOUD_SERVER, "argoCluster": ""},
    ),
]


@pytest.mark.parametrize("case", ENTRY_CASES, ids=lambda c: c.reason)
def test_control_plane_entry(case: EntryCase) -> None:
    observed = {} if case.ready is None else {CP: f.observed_resource(CP, ready=case.ready)}
    ctx = f.context(f.xr(), observed)
    clusters = {} if case.cluster is None else {("dev", "ctp1"): case.cluster}
    out = Composition(waiting=list(case.waiting), clusters=clusters)
    entries = status.control_planes(ctx.env, ctx.observed, out)
    assert [(e["group"], e["name"]) for e in entries] == [
        ("dev", "ctp1"),
        ("dev", "ctp2"),
        ("prod", "ctp1"),
    ]
    entry = entries[0]
    assert {k: entry[k] for k in case.want} == case.want


def entry(*, ready: bool) -> dict[str, Any]:
    """A status entry, ready or not."""
    return {"group": "dev", "name": "ctp1", "ready": ready}


@dataclass(frozen=True)
class ConditionCase:
    reason: str
    entries: list[dict[str, Any]]
    waiting: int
    want_status: str
    want_reason: str
    want_message: str


CONDITION_CASES = [
    ConditionCase(
        "every control plane ready and nothing waiting is Available",
        [entry(ready=True), entry(ready=True)],
        0,
        "True",
        "Available",
        "2 of 2 control planes ready",
    ),
    ConditionCase(
        "no control planes and nothing waiting is Available",
        [],
        0,
        "True",
        "Available",
        "0 of 0 control planes ready",
    ),
    ConditionCase(
        "a control plane not ready is Waiting",
        [entry(ready=True), entry(ready=False)],
        0,
        "False",
        "Waiting",
        "1 of 2 control planes ready",
    ),
    ConditionCase(
        "something waiting is Waiting, even with every control plane ready",
        [entry(ready=True)],
        2,
        "False",
        "Waiting",
        "1 of 1 control planes ready; 2 composed resources waiting",
    ),
]


@pytest.mark.parametrize("case", CONDITION_CASES, ids=lambda c: c.reason)
def test_condition(case: ConditionCase) -> None:
    out = Composition(waiting=[Waiting(f"x.{i}", "why") for i in range(case.waiting)])
    got = status.condition(case.entries, out)
    assert (got.typ, got.status, got.reason, got.message) == (
        "ControlPlanesReady",
        case.want_status,
        case.want_reason,
        case.want_message,
    )


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
    assert [c.type for c in rsp.conditions] == ["ControlPlanesReady"]
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
