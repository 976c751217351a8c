"""The benchmark's own logic: modes, the calls' variants, and the check that stops a run.

No timing here (figures are the benchmark's to print): only that it sends what it says and
stops on a server that composes something else.
"""

import itertools
from pathlib import Path

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from bench import compare, environments, modes
from bench.calls import measure
from function.fn import FunctionRunner
from function.observed import Observed
from tests import server as servers

SIZE = 10


@pytest.fixture(scope="module")
def steady() -> fnv1.RunFunctionRequest:
    return environments.steady_request(SIZE)


def readiness(req: fnv1.RunFunctionRequest) -> dict[str, bool]:
    view = Observed(req.observed.resources)
    return {name: view.ready(name) for name in req.observed.resources}


def test_the_environment_stays_within_the_api_limits_at_every_size() -> None:
    for n in environments.SIZES:
        spec = environments.spec(n)
        assert sum(len(g["controlPlanes"]) for g in spec["groups"]) == n
        assert len(spec["groups"]) <= 100
        assert max(len(g["controlPlanes"]) for g in spec["groups"]) <= 100
        assert all(len(spec["iam"][k]) <= 200 for k in ("teams", "robots", "repositories"))


def test_changed_calls_move_one_status_on_and_keep_every_readiness(
    steady: fnv1.RunFunctionRequest,
) -> None:
    calls = list(itertools.islice(modes.variants(steady, "changed"), 3))
    requests = [fnv1.RunFunctionRequest.FromString(c) for c in calls]
    assert len({r.meta.tag for r in requests}) == 3
    for req in requests:
        changed = [
            n
            for n in steady.observed.resources
            if req.observed.resources[n] != steady.observed.resources[n]
        ]
        assert len(changed) == 1
        assert readiness(req) == readiness(steady)
        assert FunctionRunner().run(req).desired == FunctionRunner().run(steady).desired


def test_recomposed_calls_flip_one_readiness(steady: fnv1.RunFunctionRequest) -> None:
    for body in itertools.islice(modes.variants(steady, "recomposed"), 3):
        req = fnv1.RunFunctionRequest.FromString(body)
        before, after = readiness(steady), readiness(req)
        assert sum(before[n] != after[n] for n in before) == 1


def test_steady_calls_repeat_the_request(steady: fnv1.RunFunctionRequest) -> None:
    calls = set(itertools.islice(modes.variants(steady, "steady"), 3))
    assert calls == {steady.SerializeToString()}


def test_the_sharded_mode_is_the_parent_and_a_child_per_group() -> None:
    mode = modes.sharded(20)
    assert mode is not None and mode.name == modes.SHARDED
    kinds = [r.observed.composite.resource["kind"] for r in mode.requests]
    assert kinds == ["UpboundEnvironment", "ControlPlaneGroup", "ControlPlaneGroup"]
    for req in mode.requests:  # every call composes, none waits
        rsp = FunctionRunner().run(req)
        assert not [r.message for r in rsp.results if r.severity != fnv1.SEVERITY_NORMAL]
        assert rsp.desired.composite.ready != fnv1.READY_FALSE
    single = modes.single(20)
    assert [r.observed.composite.resource["kind"] for r in single.requests] == [kinds[0]]


def test_child_xrs_are_the_desired_composites_of_the_functions_api_group() -> None:
    rsp = fnv1.RunFunctionResponse()
    child = {
        "apiVersion": f"{modes.XR_GROUP}/v1alpha1",
        "kind": "ControlPlaneGroup",
        "metadata": {"name": "acme-g000", "namespace": "platform"},
        "spec": {"group": "g000"},
    }
    other = {"apiVersion": "iam.m.upbound.io/v1alpha1", "kind": "Team", "metadata": {}}
    rsp.desired.resources["group.g000"].resource.CopyFrom(resource.dict_to_struct(child))
    rsp.desired.resources["team.t"].resource.CopyFrom(resource.dict_to_struct(other))
    assert modes.child_xrs(rsp) == [child]
    observed = modes.as_observed_xr(child, 0)
    assert observed["metadata"]["name"] == "acme-g000"
    assert {"uid", "resourceVersion", "generation"} <= set(observed["metadata"])


def test_a_mode_of_several_xrs_is_measured_per_call_and_per_pass(tmp_path: Path) -> None:
    """Stands in for the sharded mode: three XRs, each its own call, one pass = all three."""
    requests = []
    for i in range(3):
        xr_ = environments.xr(SIZE)
        xr_["metadata"]["name"] = f"acme-{i}"
        requests.append(environments.steady_request_of(xr_))
    mode = modes.Mode(modes.SHARDED, requests)
    with servers.function_server(tmp_path, "--insecure") as server:
        sent = [modes.variants(r, "changed") for r in mode.requests]
        figures = measure({"ours": (server, sent)}, seconds=0, min_passes=2)["ours"]
    assert (figures["passes"], figures["calls_per_pass"]) == (2, 3)
    assert figures["others_p50_ms"] is not None
    assert figures["request_bytes"] == max(len(b) for b, _ in figures["last"])
    compare.check_answers("ours", SIZE, figures["last"])


def test_a_server_that_composes_something_else_stops_the_run(
    steady: fnv1.RunFunctionRequest,
) -> None:
    ours = FunctionRunner().run(steady)
    theirs = fnv1.RunFunctionResponse()
    theirs.CopyFrom(ours)
    name = sorted(theirs.desired.resources)[0]
    theirs.desired.resources[name].resource.fields["metadata"].struct_value.fields[
        "annotations"
    ].struct_value.Clear()
    body = steady.SerializeToString()
    diff = compare.first_difference(ours.SerializeToString(), theirs.SerializeToString())
    assert diff is not None and diff.startswith(f"{name}.metadata.annotations")
    with pytest.raises(compare.CompositionMismatch) as stopped:
        compare.check_answers("peer-x", SIZE, [(body, theirs.SerializeToString())])
    assert stopped.value.code != 0 and "peer-x" in str(stopped.value)
    compare.check_answers("ours", SIZE, [(body, ours.SerializeToString())])
