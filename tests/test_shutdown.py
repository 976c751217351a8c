"""Shutdown: SIGTERM lets the calls in flight finish, then the server exits 0.

The SDK (crossplane/function/runtime.py) stops the gRPC server on SIGTERM with a grace
period (SHUTDOWN_GRACE_PERIOD_SECONDS, 5 s): calls the server has accepted may finish
within it, calls it has not accepted are cancelled. So the function must keep its event
loop free to accept calls while it works (`FunctionRunner.RunFunction` runs the work in a
thread); before it did, a large call held the loop and the calls queued behind it were
cancelled on SIGTERM although they had reached the server.
"""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

import grpc
from crossplane.function import runtime
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function.fn import FunctionRunner
from tests import factories as f
from tests import server as fnserver

IN_FLIGHT = 8
CALL_TIMEOUT = 60  # a hang guard


def test_the_sdk_grace_period_is_what_these_tests_assume() -> None:
    assert runtime.SHUTDOWN_GRACE_PERIOD_SECONDS == 5


def test_sigterm_lets_large_calls_in_flight_finish_and_exits_0(tmp_path: Path) -> None:
    req = f.second_round(f.xr(f.big_spec(100, control_planes=10)))
    assert f.fatal(f.run(req)) == []
    expected = f.run(req).SerializeToString(deterministic=True)
    server = fnserver.start(tmp_path, "--insecure")
    try:
        with server.channel() as channel:
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            calls = [stub.RunFunction.future(req, timeout=CALL_TIMEOUT) for _ in range(IN_FLIGHT)]
            calls[0].result()  # the server is busy with them now
            server.proc.send_signal(signal.SIGTERM)
            outcomes = []
            for call in calls:
                try:
                    same = call.result().SerializeToString(deterministic=True) == expected
                    outcomes.append("OK" if same else "different answer")
                except grpc.RpcError as e:
                    outcomes.append(e.code().name)
        assert outcomes == ["OK"] * IN_FLIGHT
        # Wait, not terminate(): a second SIGTERM after the SDK closed its loop is fatal.
        assert server.proc.wait(timeout=fnserver.STOP_TIMEOUT) == 0
    finally:
        fnserver.stop(server)


def test_sigterm_when_idle_exits_0(tmp_path: Path) -> None:
    server = fnserver.start(tmp_path, "--insecure")
    try:
        assert server.terminate() == 0
    finally:
        fnserver.stop(server)


def test_the_event_loop_runs_while_a_call_is_worked_on() -> None:
    """A ticker gets turns during one large RunFunction: the loop is not blocked."""

    async def main() -> int:
        ticks = 0
        done = asyncio.Event()

        async def ticker() -> None:
            nonlocal ticks
            while not done.is_set():
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await asyncio.sleep(0)
        start = ticks
        await FunctionRunner().RunFunction(f.second_round(f.xr(f.big_spec(100))))
        during = ticks - start
        done.set()
        await task
        return during

    assert asyncio.run(main()) > 1
