"""Message size: over the default 4 MB a request is refused with RESOURCE_EXHAUSTED, and the
SDK's `--max-recv-message-size` (MB) raises the limit."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1

from tests import factories as f
from tests import server as fnserver

MB = 1024 * 1024


@pytest.fixture(scope="module")
def big_request() -> fnv1.RunFunctionRequest:
    """A valid request of about 6 MB (long descriptions), answered with about 2.3 MB."""
    req = f.request(f.xr(f.big_spec(4, padding=15000)))
    assert 5 * MB < req.ByteSize() < 8 * MB
    return req


def test_over_4_mb_is_refused_with_resource_exhausted(
    debug_server: fnserver.Server, big_request: fnv1.RunFunctionRequest
) -> None:
    with pytest.raises(grpc.RpcError) as refused:
        debug_server.call(big_request)
    assert refused.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in (refused.value.details() or "")
    # The server stays up and serves the next call.
    assert "group.dev" in debug_server.call(f.request(f.xr())).desired.resources


def test_max_recv_message_size_raises_the_limit(
    tmp_path: Path, big_request: fnv1.RunFunctionRequest
) -> None:
    with fnserver.function_server(
        tmp_path, "--insecure", "--max-recv-message-size", "16"
    ) as server:
        rsp = server.call(big_request)
    assert f.fatal(rsp) == []
    assert rsp.SerializeToString(deterministic=True) == f.run(big_request).SerializeToString(
        deterministic=True
    )
