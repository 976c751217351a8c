"""Calling servers over gRPC on localhost: passes of calls, cold start, concurrent callers.

Also what a server process costs (CPU time and memory from /proc) and how it is started
(pinned to one CPU).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc

from bench import environments
from tests import server as servers

METHOD = "/" + fnv1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name + "/RunFunction"
MAX_MESSAGE_MB = 64
CONCURRENT_CALLERS = 16
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

Program = Sequence[str]


def pinned(program: Program, cpu: int) -> Program:
    """Run `program` on one CPU (taskset), so that its calls per second are one core's."""
    return ("taskset", "-c", str(cpu), *program)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process, from /proc/<pid>/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS


def status_kib(pid: int, field: str) -> int:
    """A memory figure (VmRSS, VmHWM) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def raw_call(channel: grpc.Channel) -> Callable[..., bytes]:
    """RunFunction with serialized messages in and out: the client costs next to nothing."""
    return channel.unary_unary(METHOD)


def channel_options(*, own_connection: bool = False) -> list[tuple[str, int]]:
    """Client channel options: large messages; optionally a TCP connection of its own."""
    options = [
        ("grpc.max_receive_message_length", MAX_MESSAGE_MB << 20),
        ("grpc.max_send_message_length", MAX_MESSAGE_MB << 20),
    ]
    if own_connection:  # Otherwise channels to one address share a connection.
        options.append(("grpc.use_local_subchannel_pool", 1))
    return options


def server_flags(*, large: bool = False) -> list[str]:
    """Flags that our servers and the floor take; `large` raises the message limits."""
    return ["--insecure"] + (["--max-recv-message-size", str(MAX_MESSAGE_MB)] if large else [])


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th quantile (0..1) of sorted values, nearest rank below."""
    return values[min(len(values) - 1, int(q * len(values)))]


@dataclass
class _Target:
    """One server under measurement: its calls and what they measured so far."""

    server: servers.Server
    call: Callable[..., bytes]
    calls: list[Iterator[bytes]]
    latencies: list[list[float]] = field(default_factory=list)
    last: list[tuple[bytes, bytes]] = field(default_factory=list)
    cpu: float = 0.0


def measure(
    targets: dict[str, tuple[servers.Server, list[Iterator[bytes]]]],
    seconds: float,
    min_passes: int,
) -> dict[str, dict[str, Any]]:
    """Passes over every call of a mode, server after server, one call at a time.

    Each pass sends every call to each server in turn, so that whatever else the machine
    does weighs on every server alike; it goes on for `seconds` (at least `min_passes`).
    Returns per server: latency per call (the top XR's and the others'), CPU per pass
    (reconciling the whole environment once), the largest request and response, peak RSS,
    and the last request and answer of each call.
    """
    with contextlib.ExitStack() as stack:
        state: dict[str, _Target] = {}
        for name, (server, calls) in targets.items():
            channel = stack.enter_context(
                grpc.insecure_channel(server.address, options=channel_options())
            )
            state[name] = _Target(server, raw_call(channel), calls)
        for t in state.values():  # Warm up: connection, imports, memos.
            for variants in t.calls:
                for body in itertools.islice(variants, 2):
                    t.call(body, timeout=600)
            t.latencies = [[] for _ in t.calls]
            t.last = [(b"", b"")] * len(t.calls)
            t.cpu = -cpu_seconds(t.server.proc.pid)
        passes = 0
        started = time.perf_counter()
        while passes < min_passes or time.perf_counter() - started < seconds:
            for t in state.values():
                for i, variants in enumerate(t.calls):
                    body = next(variants)
                    began = time.perf_counter()
                    answer = t.call(body, timeout=600)
                    t.latencies[i].append(time.perf_counter() - began)
                    t.last[i] = (body, answer)
            passes += 1
        for t in state.values():
            t.cpu += cpu_seconds(t.server.proc.pid)
    return {name: _figures(t, passes) for name, t in state.items()}


def _figures(t: _Target, passes: int) -> dict[str, Any]:
    """What one server measured."""
    top = sorted(t.latencies[0])
    others = sorted(x for per_call in t.latencies[1:] for x in per_call)
    return {
        "passes": passes,
        "calls_per_pass": len(t.calls),
        "p50_ms": 1000 * statistics.median(top),
        "p99_ms": 1000 * percentile(top, 0.99),
        "others_p50_ms": 1000 * statistics.median(others) if others else None,
        "others_p99_ms": 1000 * percentile(others, 0.99) if others else None,
        "cpu_ms_per_pass": 1000 * t.cpu / passes,
        "request_bytes": max(len(body) for body, _ in t.last),
        "response_bytes": max(len(answer) for _, answer in t.last),
        "peak_rss_mib": status_kib(t.server.proc.pid, "VmHWM") / 1024,
        "last": t.last,
    }


def cold_start(program: Program, log_dir: Path, payload: bytes) -> dict[str, float]:
    """Seconds from process start to the first answered call, and RSS once idle after it."""
    started = time.perf_counter()
    server = servers.start(log_dir, *server_flags(), wait=False, program=program)
    try:
        with grpc.insecure_channel(server.address, options=channel_options()) as channel:
            call = raw_call(channel)
            while True:
                if server.proc.poll() is not None:
                    raise RuntimeError(f"server exited:\n{server.logs()}")
                try:
                    call(payload, timeout=5)
                    break
                except grpc.RpcError:
                    time.sleep(0.005)
            seconds = time.perf_counter() - started
        time.sleep(0.5)
        return {"seconds": seconds, "idle_rss_mib": status_kib(server.proc.pid, "VmRSS") / 1024}
    finally:
        servers.stop(server)


async def _callers(address: str, payloads: list[bytes], seconds: float) -> int:
    """Calls completed by CONCURRENT_CALLERS callers, each on its own connection.

    Caller k sends payloads k, k + 16, ...: every XR of the environment is called.
    """
    deadline = time.perf_counter() + seconds
    done = 0

    async def caller(k: int) -> None:
        nonlocal done
        options = channel_options(own_connection=True)
        mine = payloads[k % len(payloads) :: CONCURRENT_CALLERS] or payloads[:1]
        async with grpc.aio.insecure_channel(address, options=options) as channel:
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
            await call(mine[0], timeout=600)  # connect before the clock counts
            for i in itertools.count():
                if time.perf_counter() >= deadline:
                    break
                # Every call a changed state: a new tag.
                tag = environments.retagged(f"{k}-{i}")
                await call(mine[i % len(mine)] + tag, timeout=600)
                done += 1

    await asyncio.gather(*(caller(k) for k in range(CONCURRENT_CALLERS)))
    return done


def concurrency(
    log_dir: Path, payloads: list[bytes], workers: int, seconds: float
) -> dict[str, Any]:
    """Calls per second with 16 concurrent callers against `--workers N` (not pinned)."""
    flags = [*server_flags(large=True)] + (["--workers", str(workers)] if workers > 1 else [])
    with servers.function_server(log_dir, *flags) as server:
        if workers > 1:  # every worker listening, not only the first
            port = int(server.address.rsplit(":", 1)[1])
            while servers.listening_sockets(port) < workers:
                time.sleep(0.05)
        pids = [server.proc.pid, *servers.child_pids(server.proc.pid)]
        server_cpu = sum(cpu_seconds(pid) for pid in pids)
        client_cpu = time.process_time()
        started = time.perf_counter()
        done = asyncio.run(_callers(server.address, payloads, seconds))
        elapsed = time.perf_counter() - started
        server_cpu = sum(cpu_seconds(pid) for pid in pids) - server_cpu
        client_cpu = time.process_time() - client_cpu
    return {
        "workers": workers,
        "calls": done,
        "calls_per_second": done / elapsed,
        "server_cores_busy": server_cpu / elapsed,
        "client_cores_busy": client_cpu / elapsed,
    }
