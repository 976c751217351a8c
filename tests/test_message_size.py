"""Message ceilings: what the function receives (its --max-recv-message-size, default
function/ceilings.py DEFAULT_MAX_RECV_MIB) and what Crossplane receives (gRPC's default 4 MiB:
a bigger response becomes one Fatal result that says so, not a transport error)."""

from __future__ import annotations

import re
from pathlib import Path

import grpc
import pytest
from click.testing import CliRunner
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import ceilings
from function.compose import shards
from function.main import cli
from function.resolve import parse
from tests import factories as f
from tests import server as fnserver

MB = 1024 * 1024


@pytest.fixture(scope="module")
def big_request() -> fnv1.RunFunctionRequest:
    """A valid request of about 6 MB (long descriptions), answered with about 2.3 MB."""
    req = f.request(f.xr(f.big_spec(4, padding=15000)))
    assert 5 * MB < req.ByteSize() < 8 * MB
    return req


def crossplane_call(
    server: fnserver.Server, req: fnv1.RunFunctionRequest
) -> fnv1.RunFunctionResponse:
    """A call with Crossplane's client limits: gRPC's default 4 MiB receive, no send limit."""
    options = [("grpc.max_send_message_length", -1)]
    with grpc.insecure_channel(server.address, options=options) as channel:
        rsp: fnv1.RunFunctionResponse = grpcv1.FunctionRunnerServiceStub(channel).RunFunction(
            req, timeout=60
        )
        return rsp


def test_the_default_receive_limit_is_the_documented_one() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert f"[default: {ceilings.DEFAULT_MAX_RECV_MIB}]" in result.output


def test_the_default_receive_limit_takes_what_the_sdk_default_refused(
    debug_server: fnserver.Server, big_request: fnv1.RunFunctionRequest
) -> None:
    rsp = crossplane_call(debug_server, big_request)
    assert f.fatal(rsp) == []
    assert rsp.SerializeToString(deterministic=True) == f.run(big_request).SerializeToString(
        deterministic=True
    )


def test_over_the_receive_limit_is_refused_with_resource_exhausted(
    tmp_path: Path, big_request: fnv1.RunFunctionRequest
) -> None:
    with fnserver.function_server(tmp_path, "--insecure", "--max-recv-message-size", "4") as server:
        with pytest.raises(grpc.RpcError) as refused:
            server.call(big_request)
        assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "larger than max" in (refused.value.details() or "")
        # The server stays up and serves the next call.
        assert "group.dev" in server.call(f.request(f.xr())).desired.resources


def test_a_response_over_4_mib_is_one_fatal_that_says_how_to_shard(
    debug_server: fnserver.Server,
) -> None:
    """About 5 MB of robot descriptions come back in the response: over Crossplane's limit."""
    spec = f.big_spec(4, padding=25000)  # unsharded
    rsp = crossplane_call(debug_server, f.request(f.xr(spec)))
    (message,) = f.fatal(rsp)
    found = re.search(r"the response would be (\d+) bytes, (\d+) bytes", message)
    assert found is not None, message
    size, over = int(found[1]), int(found[2])
    assert size - over == ceilings.CROSSPLANE_RECEIVE_LIMIT == 4 * MB
    assert "4194304 bytes (4 MiB) Crossplane accepts" in message
    assert "spec.sharding: Enabled" in message
    assert len(rsp.desired.resources) == 0
    assert rsp.ByteSize() < ceilings.CROSSPLANE_RECEIVE_LIMIT


@pytest.mark.parametrize(
    ("kind", "sharding", "advice"),
    [
        ("UpboundEnvironment", "Disabled", "set spec.sharding: Enabled"),
        ("UpboundEnvironment", "Enabled", "split it across several UpboundEnvironments"),
        ("ControlPlaneGroup", None, "into another group"),
    ],
)
def test_the_fatal_fits_the_xr(
    monkeypatch: pytest.MonkeyPatch, kind: str, sharding: str | None, advice: str
) -> None:
    monkeypatch.setattr(ceilings, "CROSSPLANE_RECEIVE_LIMIT", 1000)
    xr = f.xr({**f.spec(), "sharding": sharding or "Disabled"})
    if kind == "ControlPlaneGroup":
        env = parse(xr, None)
        xr = {**xr, "kind": kind, "spec": shards.child_spec(env, env.groups[0])}
    (message,) = f.fatal(f.run(f.request(xr)))
    assert advice in message
