"""2,000 control planes in one UpboundEnvironment: sharded, over the real gRPC server.

Crossplane's part is played by tests/world.py; every call goes through the function server
as it starts by default (so its default receive limit holds) on a channel with Crossplane's
limits (gRPC's default 4 MiB receive, no send limit), so a call over either ceiling fails
the test as a transport error. The sizes of the largest call are printed (a figure, not a
bound: the bound is the ceilings).
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import ceilings
from function.compose import shards
from tests import factories as f
from tests import server as fnserver
from tests.world import World

GROUPS, PER_GROUP = 100, 20  # the XRD's bounds allow 100 groups of up to 100


@pytest.fixture(scope="module")
def default_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fnserver.Server]:
    """The server with no flags but --insecure: its default limits."""
    with fnserver.function_server(tmp_path_factory.mktemp("default-server"), "--insecure") as s:
        yield s


def test_2000_control_planes_converge_sharded_with_every_call_under_both_ceilings(
    default_server: fnserver.Server,
) -> None:
    options = [("grpc.max_send_message_length", -1)]  # Crossplane's: no send limit
    with grpc.insecure_channel(default_server.address, options=options) as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)

        def call(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
            rsp: fnv1.RunFunctionResponse = stub.RunFunction(req, timeout=120)
            return rsp

        spec = f.big_spec(GROUPS, control_planes=PER_GROUP, sharding=None)  # Auto
        world = World(f.xr(spec), call=call)
        rounds = world.converge()

    control_planes = GROUPS * PER_GROUP
    assert control_planes > shards.AUTO_ENGAGE, "Auto shards it: the spec does not say so"
    assert len(world.groups) == GROUPS
    summary = world.environment.body["status"]["summary"]
    assert summary["controlPlanes"] == summary["controlPlanesReady"] == control_planes
    assert world.deleted == [] and world.conflicts == []
    largest_request = max(req.ByteSize() for req, _ in world.calls)
    largest_response = max(rsp.ByteSize() for _, rsp in world.calls)
    assert largest_request <= ceilings.DEFAULT_MAX_RECV_MIB * ceilings.MIB
    assert largest_response <= ceilings.CROSSPLANE_RECEIVE_LIMIT
    print(
        f"\n{control_planes} control planes: {rounds} rounds, {len(world.calls)} calls; largest "
        f"request {largest_request} bytes, largest response {largest_response} bytes"
    )
