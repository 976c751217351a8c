"""Calls in flight are bounded: past `--max-calls-in-flight`, calls are refused, not queued.

The function works one call at a time; before the bound, a burst of calls queued without
limit, each holding its request (64 concurrent 4 MB requests took the server to 646 MiB).
Now gRPC refuses a call past the bound with RESOURCE_EXHAUSTED before reading its request;
Crossplane fails that reconcile and retries it with backoff. bench/load.py measures the
memory a burst costs.
"""

from __future__ import annotations

import asyncio
import collections
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function import memory
from function.fn import FunctionRunner
from function.server import DEFAULT_MAX_CALLS
from tests import factories as f
from tests import server as fnserver

CALL_TIMEOUT = 120  # a hang guard


@pytest.fixture(scope="module")
def slow_call() -> fnv1.RunFunctionRequest:
    """A small request (0.1 MB) with a tenth of a second or so of work: 3,000 control planes."""
    return f.request(f.xr(f.big_spec(100, control_planes=30)))


def burst(server: fnserver.Server, req: fnv1.RunFunctionRequest, calls: int) -> list[str]:
    """`calls` concurrent calls on one connection; each one's status code, or a wrong answer."""
    outcomes = []
    with server.channel() as channel:
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        futures = [stub.RunFunction.future(req, timeout=CALL_TIMEOUT) for _ in range(calls)]
        for future in futures:
            try:
                rsp = future.result()
            except grpc.RpcError as e:
                outcomes.append(e.code().name)
                continue
            outcomes.append("OK" if "group.group-0" in rsp.desired.resources else "wrong answer")
    return outcomes


def test_a_burst_of_64_is_refused_past_the_default_bound_and_serving_goes_on(
    debug_server: fnserver.Server, slow_call: fnv1.RunFunctionRequest
) -> None:
    counts = collections.Counter(burst(debug_server, slow_call, 64))
    assert set(counts) == {"OK", "RESOURCE_EXHAUSTED"}, counts
    assert counts["OK"] >= DEFAULT_MAX_CALLS  # the first calls, up to the bound
    assert "group.dev" in debug_server.call(f.request(f.xr())).desired.resources


def test_max_calls_in_flight_sets_the_bound(
    tmp_path: Path, slow_call: fnv1.RunFunctionRequest
) -> None:
    with fnserver.function_server(tmp_path, "--insecure", "--max-calls-in-flight", "2") as server:
        counts = collections.Counter(burst(server, slow_call, 12))
        assert set(counts) == {"OK", "RESOURCE_EXHAUSTED"}, counts
        assert counts["OK"] >= 2
        assert collections.Counter(burst(server, slow_call, 2)) == {"OK": 2}
        assert server.terminate() == 0


def test_memory_is_released_when_a_queue_drains_not_after_a_lone_call(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    releases: list[int] = []
    monkeypatch.setattr(memory, "release", lambda: releases.append(1))
    req = f.request(f.xr())

    async def main() -> list[int]:
        runner = FunctionRunner()
        counts = []
        for concurrent in (1, 1, 3, 1, 2):
            await asyncio.gather(*(runner.RunFunction(req) for _ in range(concurrent)))
            await runner.RunFunction(fnv1.RunFunctionRequest())  # after any release queued
            counts.append(len(releases))
            releases.clear()
        return counts

    # Each step ends with a lone call, which follows any release the step queued.
    assert asyncio.run(main()) == [0, 0, 1, 0, 1]
