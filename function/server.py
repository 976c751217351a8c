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
- refuses to start on a port that another process listens on. gRPC binds with
  SO_REUSEPORT unless told not to, so a second server would share the port with a stale
  one and take half its calls; only the workers of `--workers` share a port on purpose.
"""

import asyncio
import contextlib
import errno
import signal
import socket
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
        return [
            ("grpc.max_receive_message_length", self.max_recv_message_size * MB),
            ("grpc.max_send_message_length", send * MB),
            # gRPC's default is 1: a second server on the port would start silently.
            ("grpc.so_reuseport", int(self.reuse_port)),
        ]


class AddressError(Exception):
    """The server cannot listen on its address; the message says why and what to do."""


def refuse_taken_address(address: str) -> None:
    """Raise AddressError if another process already listens on the address's TCP port.

    Binds a probe socket as gRPC does (SO_REUSEADDR) but without SO_REUSEPORT, so that any
    listener on the port, with SO_REUSEPORT or not, makes the bind fail. Addresses that are
    not host:port (unix:...), port 0 and hosts that do not resolve are left to gRPC.

    Raises:
        AddressError: the port is taken.
    """
    host, _, port = address.rpartition(":")
    if not port.isdigit() or int(port) == 0:
        return
    try:
        found = socket.getaddrinfo(
            host.strip("[]") or None, int(port), type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )
    except (socket.gaierror, UnicodeError):
        return
    for family, kind, proto, _, sockaddr in found:
        with contextlib.closing(socket.socket(family, kind, proto)) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(sockaddr)
            except OSError as e:
                if e.errno == errno.EADDRINUSE:
                    msg = (
                        f"address already in use: another function may be running on :{port} "
                        f"(--address {address}); stop it, or serve on another port with --address"
                    )
                    raise AddressError(msg) from None


def serve(runner: grpcv1.FunctionRunnerServiceServicer, options: Options) -> None:
    """Serve until SIGTERM or SIGINT, then stop gracefully and return.

    Raises:
        ValueError: neither credentials nor --insecure.
        AddressError: gRPC could not listen on the address.
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
    credentials = None
    if not options.insecure:
        if options.tls_certs_dir is None:
            msg = (
                "no credentials were provided - did you provide credentials or use the "
                "insecure flag?"
            )
            raise ValueError(msg)
        credentials = runtime.load_credentials(options.tls_certs_dir)
    try:
        if credentials is None:
            server.add_insecure_port(options.address)
        else:
            server.add_secure_port(options.address, credentials)
    except RuntimeError:  # gRPC says only "Failed to bind"; the usual cause is a taken port.
        refuse_taken_address(options.address)
        msg = f"cannot listen on {options.address}; GRPC_VERBOSITY=debug shows gRPC's reason"
        raise AddressError(msg) from None

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
