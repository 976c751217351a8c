"""The runner, in-process: results, status, readiness, TTL and the last-resort catch."""

import asyncio
import json
from datetime import timedelta

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function.fn import FunctionRunner
from tests import factories as f


def test_invalid_spec_is_one_fatal_and_composes_nothing() -> None:
    bad = f.xr(f.spec(organization="Not Valid"))
    rsp = f.run(f.request(bad, observed=["group.dev", "controlplane.dev.ctp1"]))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert "spec.organization: must be a DNS-1123 label" in rsp.results[0].message
    assert "nothing was changed" in rsp.results[0].message
    assert len(rsp.desired.resources) == 0


def cluster_secret_xr() -> dict[str, object]:
    return f.xr(f.spec(argocd=f.CLUSTER_SECRET))


def test_a_missing_token_secret_is_a_warning_and_the_rest_composes() -> None:
    xr = cluster_secret_xr()
    rsp = f.run(f.request(xr, observed=["group.dev", "group.prod"], token_secret=None))
    assert not f.fatal(rsp)
    warnings = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]
    assert len(warnings) == 1
    assert "Secret platform/upbound-token was not found" in warnings[0]
    assert "kubectl -n platform create secret generic upbound-token" in warnings[0]
    assert {"group.dev", "controlplane.dev.ctp1", "team.platform"} <= set(rsp.desired.resources)
    assert rsp.desired.composite.ready == fnv1.READY_FALSE


def test_first_pass_asks_for_the_token_and_composes_what_needs_none() -> None:
    rsp = f.run(f.request(cluster_secret_xr(), supply_token=False))
    assert "upbound-token" in rsp.requirements.resources
    assert rsp.requirements.resources["upbound-token"].namespace == "platform"
    assert "group.dev" in rsp.desired.resources
    assert not any(
        severity == fnv1.SEVERITY_FATAL for severity in (r.severity for r in rsp.results)
    )


def test_environment_credentials_need_no_token() -> None:
    rsp = f.run(f.request(f.xr(), supply_token=False))
    assert len(rsp.requirements.resources) == 0
    assert len(rsp.requirements.extra_resources) == 0


def test_disconnected_needs_no_token() -> None:
    spec = f.spec(space={"type": "Disconnected"})
    rsp = f.run(f.request(f.xr(spec), supply_token=False))
    assert len(rsp.requirements.resources) == 0


def test_waiting_is_reported_and_shortens_the_ttl() -> None:
    rsp = f.run(f.request(f.xr()))
    normal = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_NORMAL]
    assert len(normal) == 1
    assert "controlplane.dev.ctp1: waiting for group dev to be ready" in normal[0]
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    assert rsp.meta.ttl.ToTimedelta() == timedelta(seconds=15)
    status = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    assert status["summary"]["controlPlanesReady"] == 0
    assert [(c.type, c.status) for c in rsp.conditions] == [
        ("ControlPlanesReady", fnv1.STATUS_CONDITION_FALSE),
        ("ClustersRegistered", fnv1.STATUS_CONDITION_FALSE),
        ("IAMReady", fnv1.STATUS_CONDITION_FALSE),
    ]


def test_everything_ready_gives_the_long_ttl_and_full_status() -> None:
    rsp = f.everything_ready(f.xr())
    assert [r.severity for r in rsp.results] == []
    assert rsp.meta.ttl.ToTimedelta() == timedelta(seconds=600)
    assert all(r.ready == fnv1.READY_TRUE for r in rsp.desired.resources.values())
    assert rsp.desired.composite.ready == fnv1.READY_UNSPECIFIED
    status = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    assert status["summary"] == {
        "groups": 2.0,
        "controlPlanes": 3.0,
        "controlPlanesReady": 3.0,
        "teams": 2.0,
        "robots": 1.0,
        "repositories": 1.0,
    }
    assert status["controlPlanes"][0] == {
        "group": "dev",
        "name": "ctp1",
        "ready": True,
        "registered": True,
        "message": "Ready",
        "server": "https://upbound-gcp-us-west-1.space.mxe.upbound.io/apis/spaces.upbound.io"
        "/v1beta1/namespaces/dev/controlplanes/ctp1/k8s",
        "argoCluster": "controlplane-dev-ctp1",
    }
    assert {c.status for c in rsp.conditions} == {fnv1.STATUS_CONDITION_TRUE}
    assert f.TOKEN not in json.dumps(status)


def test_status_from_earlier_steps_is_kept() -> None:
    req = f.request(f.xr())
    req.desired.composite.resource.update({"status": {"fromEarlierStep": "kept"}})
    status = resource.struct_to_dict(f.run(req).desired.composite.resource)["status"]
    assert status["fromEarlierStep"] == "kept"
    assert "summary" in status


def test_resources_from_earlier_steps_are_kept() -> None:
    req = f.request(f.xr())
    req.desired.resources["other"].resource.update({"apiVersion": "v1", "kind": "ConfigMap"})
    assert "other" in f.run(req).desired.resources


def test_never_raises_even_on_nonsense() -> None:
    req = fnv1.RunFunctionRequest()
    req.observed.composite.resource.update({"spec": {"groups": [{"controlPlanes": [[]]}]}})
    rsp = asyncio.run(FunctionRunner().RunFunction(req, None))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]


def test_an_unexpected_error_becomes_a_fatal_result(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object) -> None:
        raise RuntimeError(f.TOKEN)

    monkeypatch.setattr("function.fn.compose", boom)
    rsp = asyncio.run(FunctionRunner().RunFunction(f.request(f.xr()), None))
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert rsp.results[0].message == "internal error (RuntimeError); see the function's logs"
    assert len(rsp.desired.resources) == 0


def test_no_token_is_needed_when_no_control_plane_registers() -> None:
    spec = f.spec(
        groups=[{"name": "dev", "controlPlanes": [{"name": "ctp1", "argocd": {"register": False}}]}]
    )
    rsp = f.run(f.request(f.xr(spec), token_secret=None))
    assert len(rsp.requirements.resources) == 0
    assert not any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results)
