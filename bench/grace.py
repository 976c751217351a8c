"""The largest calls that fit the message limits, against the grace period.

    .venv/bin/python -m bench.grace [--calls 3] [--max-recv-message-size 4]

On SIGTERM the server lets the calls in flight finish within `--grace-period` seconds;
at most `--max-calls-in-flight` are in flight, and they queue on one worker thread. So the
grace period must fit the largest call times the bound. This starts the server with its
defaults but the message limit, as tests/server.py does, and times large calls of several
shapes over gRPC (untagged: composed from scratch, but the spec parsed once); a shape whose
request or answer is over the limits is refused by gRPC and reported as such.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from bench import environments
from function.server import DEFAULT_GRACE_PERIOD, DEFAULT_MAX_CALLS
from tests import factories as f
from tests import server as servers

SHAPES: dict[str, Callable[[], fnv1.RunFunctionRequest]] = {
    "Cloud 100 groups x 30, groups ready": lambda: f.second_round(
        f.xr(f.big_spec(100, control_planes=30))
    ),
    "Cloud 100 groups x 100, nothing yet": lambda: f.request(
        f.xr(f.big_spec(100, control_planes=100))
    ),
    "Cloud 500 control planes, all ready": lambda: environments.steady_request(500),
    "Disconnected 300 control planes, all ready": lambda: environments.steady_request(
        300, space="Disconnected"
    ),
    "3.8 MiB of descriptions": lambda: f.request(f.xr(f.big_spec(4, padding=9800))),
    "Cloud 100 groups x 100, groups ready": lambda: f.second_round(
        f.xr(f.big_spec(100, control_planes=100))
    ),
    "Disconnected 500 control planes, all ready": lambda: environments.steady_request(
        500, space="Disconnected"
    ),
}


def main(argv: list[str] | None = None) -> None:
    """Time each shape and print the slowest that fits, times the bound."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=3, help="per shape; the median counts")
    parser.add_argument(
        "--max-recv-message-size", default="4", help="the server's limit, MB (default 4)"
    )
    args = parser.parse_args(argv)
    flags = ("--insecure", "--max-recv-message-size", args.max_recv_message_size)
    slowest = 0.0
    print("shape                                        request MB  answer MB  median s")
    with (
        tempfile.TemporaryDirectory() as logs,
        servers.function_server(Path(logs), *flags) as server,
        server.channel() as channel,
    ):
        stub = grpcv1.FunctionRunnerServiceStub(channel)
        for name, build in SHAPES.items():
            req = build()
            req.meta.ClearField("tag")
            seconds = []
            try:
                for _ in range(args.calls):
                    start = time.perf_counter()
                    rsp = stub.RunFunction(req, timeout=300)
                    seconds.append(time.perf_counter() - start)
            except grpc.RpcError as e:
                print(f"{name:<44} {req.ByteSize() / 1e6:10.2f}  refused: {e.code().name}")
                continue
            median = statistics.median(seconds)
            slowest = max(slowest, median)
            print(
                f"{name:<44} {req.ByteSize() / 1e6:10.2f} {rsp.ByteSize() / 1e6:10.2f}"
                f" {median:9.2f}"
            )
    print(
        f"slowest x bound: {slowest:.2f} s x {DEFAULT_MAX_CALLS} = "
        f"{slowest * DEFAULT_MAX_CALLS:.1f} s; --grace-period default {DEFAULT_GRACE_PERIOD:g} s"
    )


if __name__ == "__main__":
    main()
