"""hack.render drives fake in-test functions the way `crossplane render` drives real ones."""

import base64
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path
from typing import Any, cast

import grpc
import pytest
import yaml
from crossplane.function import resource, response
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from hack import render as r

Handler = Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse]

XR: dict[str, Any] = {
    "apiVersion": "example.org/v1",
    "kind": "XApp",
    "metadata": {"name": "app", "namespace": "team"},
    "spec": {"size": 2},
}
TOKEN: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "token", "namespace": "system"},
    "data": {"token": base64.b64encode(b"s3cret").decode()},
}
DECOY = TOKEN | {"metadata": {"name": "token", "namespace": "elsewhere"}, "data": {}}


class Fake(grpcv1.FunctionRunnerServiceServicer):
    """A function whose behaviour is a plain Python callable; it records what it was sent."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.requests: list[fnv1.RunFunctionRequest] = []

    def RunFunction(  # noqa: N802 - the gRPC method's name
        self, request: fnv1.RunFunctionRequest, context: grpc.ServicerContext
    ) -> fnv1.RunFunctionResponse:
        self.requests.append(request)
        return self.handler(request)


@contextlib.contextmanager
def serve(handler: Handler) -> Iterator[tuple[str, Fake]]:
    server = grpc.server(ThreadPoolExecutor(max_workers=2))
    fake = Fake(handler)
    grpcv1.add_FunctionRunnerServiceServicer_to_server(fake, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        yield f"127.0.0.1:{port}", fake
    finally:
        server.stop(None)


def function(name: str, target: str = "localhost:1") -> dict[str, Any]:
    annotations = {r.RUNTIME: "Development", r.DEVELOPMENT_TARGET: target}
    return {
        "apiVersion": "pkg.crossplane.io/v1",
        "kind": "Function",
        "metadata": {"name": name, "annotations": annotations},
    }


def composition(*steps: tuple[str, dict[str, Any] | None]) -> dict[str, Any]:
    pipeline = [
        {"step": f"step-{i}", "functionRef": {"name": fn}} | ({"input": inp} if inp else {})
        for i, (fn, inp) in enumerate(steps)
    ]
    return {
        "apiVersion": "apiextensions.crossplane.io/v1",
        "kind": "Composition",
        "metadata": {"name": "apps"},
        "spec": {
            "compositeTypeRef": {"apiVersion": "example.org/v1", "kind": "XApp"},
            "mode": "Pipeline",
            "pipeline": pipeline,
        },
    }


def needs_token(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """Asks for the token Secret every call; composes a ConfigMap from it once it has it."""
    rsp = response.to(req)
    rsp.context["calls"] = cast(float, req.context["calls"]) + 1 if "calls" in req.context else 1
    rsp.requirements.resources["token"].CopyFrom(
        fnv1.ResourceSelector(
            api_version="v1", kind="Secret", match_name="token", namespace="system"
        )
    )
    items = req.required_resources["token"].items if "token" in req.required_resources else []
    if items:
        secret = resource.struct_to_dict(items[0].resource)
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"token": secret["data"]["token"]}}
        rsp.desired.resources["config"].resource.CopyFrom(resource.dict_to_struct(cm))
    return rsp


def test_requirements_are_fetched_and_the_function_called_again_until_they_settle() -> None:
    with serve(needs_token) as (address, fake):
        result = r.render(
            XR,
            composition(("fn", None)),
            [function("fn")],
            required=[DECOY, TOKEN],
            address_override={"fn": address},
        )
    assert len(fake.requests) == 2  # ask, then satisfied with the same requirements
    assert len(result.requests) == 2
    assert len(result.responses) == 2
    assert not fake.requests[0].required_resources
    assert fake.requests[1].context["calls"] == 1  # the context carries between calls too
    items = fake.requests[1].required_resources["token"].items
    assert [resource.struct_to_dict(i.resource)["metadata"]["namespace"] for i in items] == [
        "system"
    ]
    [cm] = result.composed
    assert cm["data"] == {"token": TOKEN["data"]["token"]}
    assert cm["metadata"]["annotations"][r.RESOURCE_NAME] == "config"
    assert cm["metadata"]["generateName"] == "app-"
    assert cm["metadata"]["namespace"] == "team"
    assert "name" not in cm["metadata"]


def test_a_missing_required_resource_is_sent_as_empty() -> None:
    with serve(needs_token) as (address, fake):
        result = r.render(
            XR, composition(("fn", None)), [function("fn")], address_override={"fn": address}
        )
    assert "token" in fake.requests[1].required_resources
    assert not fake.requests[1].required_resources["token"].items
    assert result.composed == []


def test_deprecated_extra_resources_by_label_are_honoured() -> None:
    labelled = TOKEN | {"metadata": {"name": "t2", "namespace": "x", "labels": {"app": "a"}}}

    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        sel = rsp.requirements.extra_resources["secrets"]
        sel.api_version, sel.kind = "v1", "Secret"
        sel.match_labels.labels["app"] = "a"
        return rsp

    with serve(handler) as (address, fake):
        r.render(
            XR,
            composition(("fn", None)),
            [function("fn")],
            required=[TOKEN, labelled],
            address_override={"fn": address},
        )
    [item] = fake.requests[1].extra_resources["secrets"].items
    assert resource.struct_to_dict(item.resource)["metadata"]["name"] == "t2"


def test_requirements_that_never_settle_stop_after_six_calls() -> None:
    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        sel = rsp.requirements.resources["moving"]
        sel.api_version, sel.kind, sel.match_name = "v1", "Secret", f"s{len(fake.requests)}"
        return rsp

    with serve(handler) as (address, fake), pytest.raises(r.RenderError, match="stabilize"):
        r.render(XR, composition(("fn", None)), [function("fn")], address_override={"fn": address})
    assert len(fake.requests) == r.MAX_REQUIREMENTS_ITERATIONS + 1


def fatal(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    rsp = response.to(req)
    response.normal(rsp, "looked at it")
    response.fatal(rsp, "spec.size is too big")
    rsp.requirements.resources["more"].kind = "Secret"  # not fetched: fatal ends the step
    rsp.desired.resources["x"].resource.CopyFrom(resource.dict_to_struct({"kind": "X"}))
    return rsp


def test_a_fatal_result_stops_the_pipeline_and_composes_nothing() -> None:
    with serve(fatal) as (address, fake):
        result = r.render(
            XR,
            composition(("fn", None), ("fn", None)),
            [function("fn")],
            address_override={"fn": address},
        )
    assert len(fake.requests) == 1  # neither a requirements retry nor the second step
    assert result.fatal == "spec.size is too big"
    assert [x["severity"] for x in result.results] == ["SEVERITY_NORMAL", "SEVERITY_FATAL"]
    assert result.composed == []


def test_the_cli_prints_a_fatal_result_to_stderr_and_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with serve(fatal) as (address, _):
        paths = write(tmp_path, XR, composition(("fn", None)), [function("fn", address)])
        code = r.main([*paths, "-r"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert 'pipeline step "step-0" returned a fatal result: spec.size is too big' in err


def write(
    tmp_path: Path, xr: dict[str, Any], comp: dict[str, Any], functions: list[dict[str, Any]]
) -> list[str]:
    (tmp_path / "xr.yaml").write_text(yaml.safe_dump(xr))
    (tmp_path / "composition.yaml").write_text(yaml.safe_dump(comp))
    (tmp_path / "functions.yaml").write_text(yaml.safe_dump_all(functions))
    return [str(tmp_path / f) for f in ("xr.yaml", "composition.yaml", "functions.yaml")]


def test_observed_resources_are_keyed_by_annotation_and_keep_their_name() -> None:
    observed = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": "app-config-abcde",
            "namespace": "team",
            "annotations": {r.RESOURCE_NAME: "config"},
        },
    }

    def handler(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req)
        cm = {"apiVersion": "v1", "kind": "ConfigMap", "data": {"n": "1"}}
        rsp.desired.resources["config"].resource.CopyFrom(resource.dict_to_struct(cm))
        rsp.desired.resources["config"].ready = fnv1.READY_TRUE
        return rsp

    with serve(handler) as (address, fake):
        result = r.render(
            XR,
            composition(("fn", None)),
            [function("fn")],
            observed=[observed],
            observed_connection_details={"config": {"password": b"pw"}},
            address_override={"fn": address},
        )
    sent = fake.requests[0].observed
    assert list(sent.resources) == ["config"]
    assert resource.struct_to_dict(sent.resources["config"].resource) == observed
    assert dict(sent.resources["config"].connection_details) == {"password": b"pw"}
    assert resource.struct_to_dict(sent.composite.resource) == XR
    [cm] = result.composed
    assert cm["metadata"]["name"] == "app-config-abcde"
    assert "generateName" not in cm["metadata"]
    assert result.xr["status"]["conditions"][0] | {"lastTransitionTime": None} == {
        "type": "Ready",
        "status": "True",
        "reason": "Available",
        "lastTransitionTime": None,
    }


def test_desired_state_context_and_input_carry_between_two_steps() -> None:
    def first(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req, ttl=timedelta(seconds=10))
        rsp.desired.resources["a"].resource.CopyFrom(resource.dict_to_struct({"kind": "A"}))
        rsp.desired.composite.resource.CopyFrom(resource.dict_to_struct({"status": {"x": 1}}))
        rsp.context["from-first"] = "hello"
        return rsp

    def second(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        rsp = response.to(req, ttl=timedelta(seconds=30))
        rsp.desired.resources["b"].resource.CopyFrom(resource.dict_to_struct({"kind": "B"}))
        response.normal(rsp, f"input said {req.input['say']}")
        rsp.conditions.add(type="Custom", status=fnv1.STATUS_CONDITION_FALSE, reason="Waiting")
        return rsp

    with serve(first) as (a, fake_a), serve(second) as (b, fake_b):
        result = r.render(
            XR,
            composition(("fn-a", None), ("fn-b", {"kind": "Input", "say": "hi"})),
            [function("fn-a"), function("fn-b")],
            address_override={"fn-a": a, "fn-b": b},
        )
    assert not fake_a.requests[0].desired.resources
    assert list(fake_b.requests[0].desired.resources) == ["a"]
    assert fake_b.requests[0].context["from-first"] == "hello"
    assert [c["metadata"]["annotations"][r.RESOURCE_NAME] for c in result.composed] == ["a", "b"]
    assert [x["message"] for x in result.results] == ["input said hi"]
    assert result.ttl_seconds == 10
    assert result.xr["spec"] == XR["spec"]
    assert result.xr["status"]["x"] == 1
    ready, custom = result.xr["status"]["conditions"]
    assert ready["message"] == "Unready resources: a, b"
    assert custom["type"] == "Custom"
    assert custom["status"] == "False"


def test_step_credentials_come_from_the_named_secret() -> None:
    comp = composition(("fn", None))
    comp["spec"]["pipeline"][0]["credentials"] = [
        {"name": "creds", "source": "Secret", "secretRef": {"name": "token", "namespace": "system"}}
    ]
    with serve(response.to) as (address, fake):
        r.render(XR, comp, [function("fn")], credentials=[TOKEN], address_override={"fn": address})
        with pytest.raises(r.RenderError, match="token"):
            r.render(
                XR, comp, [function("fn")], credentials=[DECOY], address_override={"fn": address}
            )
    assert dict(fake.requests[0].credentials["creds"].credential_data.data) == {"token": b"s3cret"}


def test_the_cli_prints_the_xr_then_composed_resources_then_results(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    required = tmp_path / "required"
    required.mkdir()
    (required / "a.yaml").write_text(yaml.safe_dump_all([DECOY, TOKEN]))
    (required / "ignored.txt").write_text("not: yaml we read")
    with serve(needs_token) as (address, _):
        paths = write(tmp_path, XR, composition(("fn", None)), [function("fn", address)])
        code = r.main([*paths, "-e", str(required), "-r"])
    out, _ = capsys.readouterr()
    assert code == 0
    docs = list(yaml.safe_load_all(out))
    assert [d["kind"] for d in docs] == ["XApp", "ConfigMap"]
    assert docs[0]["metadata"] == {"name": "app", "namespace": "team"}
    assert "spec" not in docs[0]
    assert docs[1]["metadata"]["generateName"] == "app-"


def test_a_docker_function_is_refused_with_a_hint() -> None:
    docker = function("fn")
    del docker["metadata"]["annotations"][r.RUNTIME]
    with pytest.raises(r.RenderError, match="Development"):
        r.render(XR, composition(("fn", None)), [docker])


SERVER = """
import sys, time, grpc
from concurrent.futures import ThreadPoolExecutor
server = grpc.server(ThreadPoolExecutor(1))
server.add_insecure_port(sys.argv[-1])
server.start()
time.sleep(60)
"""


def test_running_function_starts_serves_and_stops_a_command() -> None:
    with r.running_function(None, [sys.executable, "-c", SERVER]) as address:
        assert r._listening(address)
        stopping = time.monotonic()
    assert time.monotonic() - stopping < 3  # SIGTERM, not the SIGKILL fallback
    assert not r._listening(address)


def test_running_function_reuses_a_server_and_reports_a_failed_start() -> None:
    with serve(response.to) as (address, _), r.running_function(address, None) as got:
        assert got == address
    crash = [sys.executable, "-c", "import sys; sys.exit('no such flag: --insecure')"]
    with pytest.raises(r.RenderError, match="no such flag"), r.running_function(None, crash):
        pass
