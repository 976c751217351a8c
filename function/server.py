"""The gRPC server: the SDK's services, credentials and message limits, with our own stop.

The SDK's `runtime.serve` stops on SIGTERM with a fixed 5 s grace period, and accepts any
number of calls at once. This function works one call at a time (function/fn.py), so
`serve` instead:

- bounds the calls in flight: past `max_calls`, gRPC refuses a call with RESOURCE_EXHAUSTED
  before it reads the request, so a burst costs little memory. Crossplane treats it as any
  failed call: the XR's reconcile fails and is retried with backoff.
- on SIGTERM (or SIGINT), stops listening and refuses new calls with UNAVAILABLE at once,
  then lets every call in flight finish within `grace_period` seconds, which fits the
  largest call times the bound (docs/reliability.md), and returns.
"""

import asyncio
import signal
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from crossplane.function import logging, runtime
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from crossplane.function.proto.v1beta1 import run_function_pb2_grpc as grpcv1beta1
from grpc_reflection.v1alpha import reflection

MB = 1024 * 1024
# Calls in flight past which new ones are refused. A 4 MB request parsed is ~10 MiB.
DEFAULT_MAX_CALLS = 16
# Seconds SIGTERM gives the calls in flight: 16 of the largest call that fits the 4 MB
# limit with room to spare (docs/reliability.md), under Kubernetes' default
# terminationGracePeriodSeconds (30 s), after which the kubelet kills the pod.
DEFAULT_GRACE_PERIOD = 25.0


@dataclass(frozen=True)
class Options:
    """How to serve: the SDK's standard flags, and ours."""

    address: str
    tls_certs_dir: str | None
    insecure: bool
    max_recv_message_size: int  # MB
    max_send_message_size: int | None  # MB; None: as received
    max_calls: int = DEFAULT_MAX_CALLS
    grace_period: float = DEFAULT_GRACE_PERIOD
    reuse_port: bool = False  # share the address with other processes (--workers)

    def grpc_options(self) -> Sequence[tuple[str, Any]]:
        """The gRPC server's channel arguments."""
        send = self.max_send_message_size or self.max_recv_message_size
        options: list[tuple[str, Any]] = [
            ("grpc.max_receive_message_length", self.max_recv_message_size * MB),
            ("grpc.max_send_message_length", send * MB),
        ]
        if self.reuse_port:
            options.append(("grpc.so_reuseport", 1))
        return options


def serve(runner: grpcv1.FunctionRunnerServiceServicer, options: Options) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and return.

    Raises:
        ValueError: neither credentials nor --insecure.
    """
    asyncio.run(_serve(runner, options))


async def _serve(runner: grpcv1.FunctionRunnerServiceServicer, options: Options) -> None:
    log = logging.get_logger()
    server = grpc.aio.server(
        options=options.grpc_options(), maximum_concurrent_rpcs=options.max_calls
    )
    beta = runtime.BetaFunctionRunner(wrapped=runner)
    grpcv1.add_FunctionRunnerServiceServicer_to_server(runner, server)
    grpcv1beta1.add_FunctionRunnerServiceServicer_to_server(beta, server)
    reflection.enable_server_reflection(runtime.SERVICE_NAMES, server)
    # As the SDK's flags say: --insecure serves without TLS even if certificates are given.
    if options.insecure:
        server.add_insecure_port(options.address)
    elif options.tls_certs_dir is not None:
        server.add_secure_port(options.address, runtime.load_credentials(options.tls_certs_dir))
    else:
        msg = "no credentials were provided - did you provide credentials or use the insecure flag?"
        raise ValueError(msg)

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        if signal.getsignal(signum) is not signal.SIG_IGN:  # a worker leaves SIGINT alone
            loop.add_signal_handler(signum, stop.set)
    await server.start()
    log.info(
        "serving",
        address=options.address,
        max_calls_in_flight=options.max_calls,
        grace_period_seconds=options.grace_period,
    )
    # Never cancel wait_for_termination: it would cancel the server's own shutdown future.
    terminated = asyncio.create_task(server.wait_for_termination())
    stopped = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({stopped, terminated}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        log.info("stopping: refusing new calls, finishing those in flight")
        await server.stop(grace=options.grace_period)
        await terminated
        log.info("stopped")
