"""The benchmark: this function against the gRPC floor and a peer, over gRPC on localhost.

    scripts/bench                      # everything; writes bench/results/run-<time>.json
    scripts/bench --sizes 100 --seconds 1 --no-peer

For each environment size (control planes) and mode (bench/modes.py: single-XR, and sharded
once the function shards) it starts each server as a subprocess (the same way the tests do,
with tests/server.py), pinned to CPU 0 while this client runs on CPU 1, and sends each call
of the mode over and over:

- ours: `python -m function.main`, the same request again (steady: as at every TTL);
- ours_changed: every call a new tag and one observed managed resource's status moved on;
- ours_recomposed: every call a new tag and one observed resource's readiness flipped, so the
  function composes from scratch;
- floor: `python -m bench.floor`, a minimal SDK function answering with a prebuilt copy of
  our response (what gRPC and protobuf alone cost in Python);
- peer-<version>: crossplane-function-pythonic at each release in `--peers`, running
  bench/peer/peer_composition.py, sent the `changed` calls.

Every server's last answer must equal what this function composes, in-process and from
scratch, for the same request (same desired resources, same XR status); a server that
composes something else stops the run with exit code 2 and the first difference.

It reports p50/p99 latency, CPU per call (server CPU time), request and response bytes and
the server's peak RSS (VmHWM); per mode the CPU to reconcile the whole environment once (the
sum over its calls) and whether every call fits the message ceilings; then cold start and
idle RSS, and calls per second with 16 concurrent callers for 1 and 2 `--workers`.
`--check` exits 1 when a target of issue 4 or 12 is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime
import itertools
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging, resource

from bench import environments, modes, report
from function import ceilings
from function.fn import FunctionRunner
from function.reuse import xr_identity
from tests import server as servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
METHOD = "/" + fnv1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name + "/RunFunction"
SERVER_CPU, CLIENT_CPU = 0, 1
MAX_MESSAGE_MB = 64
# The ceilings a call meets in a cluster: the function's default receive limit and gRPC's
# default receive limit on Crossplane's side for the response (function/ceilings.py).
REQUEST_CEILING = ceilings.DEFAULT_MAX_RECV_MIB << 20
RESPONSE_CEILING = ceilings.CROSSPLANE_RECEIVE_LIMIT
CONCURRENT_CALLERS = 16
CONCURRENCY_SIZE = 100
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# glibc gives multi-MB buffers back to the kernel after every call in a process whose heap
# has not grown yet (the floor's), and maps them again on the next: that costs the floor
# more than gRPC and protobuf do. Every server runs with these fixed thresholds instead.
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}
# What each of our servers is sent (bench/modes.py).
OURS = {"ours": "steady", "ours_changed": "changed", "ours_recomposed": "recomposed"}

Program = Sequence[str]


class CompositionMismatch(SystemExit):
    """A server composed something else than this function does for the same request."""


def ours() -> Program:
    """The command that serves this function."""
    return (sys.executable, "-m", "function.main")


def floor(responses: dict[tuple[str, str], Path]) -> Program:
    """The command that serves the floor with prebuilt responses, one per XR."""
    flags = [f"--response={ns}/{name}={path}" for (ns, name), path in responses.items()]
    return (sys.executable, "-m", "bench.floor", *flags)


def peer_python(version: str) -> Path:
    """The Python of the venv that scripts/bench sets up for a peer release."""
    return ROOT / "bench" / f".venv-peer-{version}" / "bin" / "python"


def peer(version: str) -> Program:
    """The command that serves function-pythonic with the benchmark's composition.

    Releases from 0.2 on start with a `grpc` subcommand; 0.1 serves without one.
    """
    python = str(peer_python(version))
    usage = subprocess.run(
        [python, "-m", "crossplane.pythonic.main", "--help"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    subcommand = ["grpc"] if "grpc" in usage.split("Command:")[-1] else []
    return (python, "-m", "crossplane.pythonic.main", *subcommand, "--python-path", "bench/peer")


def peer_unavailable(version: str) -> str | None:
    """Why a peer release cannot run here, or None."""
    python = peer_python(version)
    if not python.exists():
        return f"{python.relative_to(ROOT)} is missing (scripts/bench creates it)"
    probe = subprocess.run(
        [str(python), "-c", "import crossplane.pythonic"], capture_output=True, check=False
    )
    if probe.returncode:
        return "crossplane-function-pythonic does not import: " + probe.stderr.decode()[-300:]
    return None


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


def first_difference(expected: bytes, got: bytes) -> str | None:
    """Where a response differs from ours in desired resources or XR, or None when it does not."""
    x, y = fnv1.RunFunctionResponse.FromString(expected), fnv1.RunFunctionResponse.FromString(got)
    ours_, theirs = set(x.desired.resources), set(y.desired.resources)
    if ours_ != theirs:
        missing, extra = sorted(ours_ - theirs)[:3], sorted(theirs - ours_)[:3]
        return f"resources missing: {missing}; resources extra: {extra}"
    pairs = [("XR", x.desired.composite.resource, y.desired.composite.resource)] + [
        (name, x.desired.resources[name].resource, y.desired.resources[name].resource)
        for name in sorted(ours_)
    ]
    for name, a, b in pairs:
        diff = _first_path(resource.struct_to_dict(a), resource.struct_to_dict(b), name)
        if diff:
            return diff
    return None


def _first_path(a: Any, b: Any, path: str) -> str | None:
    """The first path where two plain values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: ours {a.get(key)!r:.200}, theirs {b.get(key)!r:.200}"
            diff = _first_path(a[key], b[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = _first_path(x, y, f"{path}[{i}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{path}: ours {a!r:.200}, theirs {b!r:.200}"


def check_answers(server: str, n: int, last: list[tuple[bytes, bytes]]) -> None:
    """Stop the run (exit 2) unless every last answer is what this function composes for it."""
    for body, answer in last:
        expected = FunctionRunner().run(fnv1.RunFunctionRequest.FromString(body))
        diff = first_difference(expected.SerializeToString(), answer)
        if diff is not None:
            raise CompositionMismatch(
                f"{server} at {n} control planes composes something else than this function "
                f"for the same request; first difference: {diff}"
            )


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "python": platform.python_version(),
        "kernel": platform.release(),
        "mem_gib": os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30,
    }


def refusal(n: int, mode: modes.Mode) -> dict[str, Any] | None:
    """The mode's row when the function refuses a call of it (over Crossplane's 4 MiB), else None.

    The figures are what the call would carry: its request, and the response the function
    would compose were there no ceiling.
    """
    for req in mode.requests:
        rsp = FunctionRunner().run(req)
        if not any(r.severity == fnv1.SEVERITY_FATAL for r in rsp.results):
            continue
        with environments.uncapped():
            would_be = FunctionRunner().run(req).ByteSize()
        return {
            "control_planes": n,
            "mode": mode.name,
            "calls": len(mode.requests),
            "refused": rsp.results[0].message.split(";")[0],
            "request_bytes": req.ByteSize(),
            "response_bytes_uncapped": would_be,
            "fits_ceilings": False,
            "ratios": {},
        }
    return None


def run_mode(
    n: int, mode: modes.Mode, work: Path, args: argparse.Namespace, peers: dict[str, str | None]
) -> dict[str, Any]:
    """Every server on one mode of one environment size."""
    refused = refusal(n, mode)
    if refused is not None:
        print(f"  {n:>5} control planes  {mode.name:<9} refused: {refused['refused']}", flush=True)
        return refused
    responses = {}
    for i, req in enumerate(mode.requests):
        path = work / f"response-{mode.name}-{n}-{i}.bin"
        path.write_bytes(FunctionRunner().run(req).SerializeToString())
        responses[xr_identity(req.observed.composite.resource)] = path
    large = any(r.ByteSize() > REQUEST_CEILING for r in mode.requests) or any(
        p.stat().st_size > RESPONSE_CEILING for p in responses.values()
    )
    servers_: dict[str, tuple[Program, str]] = {
        **{name: (ours(), kind) for name, kind in OURS.items()},
        "floor": (floor(responses), "changed"),
    }
    if mode.name == modes.SINGLE and not large and n <= args.peer_max_size:
        for version, reason in peers.items():
            if reason is None:
                servers_[f"peer-{version}"] = (peer(version), "changed")
    row: dict[str, Any] = {"control_planes": n, "mode": mode.name, "calls": len(mode.requests)}
    # Ours and the floor interleaved, then each peer (hundreds of times slower) on its own.
    groups = [[k for k in servers_ if not k.startswith("peer-")]]
    groups += [[k] for k in servers_ if k.startswith("peer-")]
    for group in groups:
        with contextlib.ExitStack() as stack:
            targets = {}
            for name in group:
                command, kind = servers_[name]
                program = pinned(command, SERVER_CPU) if args.pin else command
                flags = server_flags(large=large) if not name.startswith("peer") else ["--insecure"]
                log_dir = work / f"{name}-{mode.name}-{n}"
                server = stack.enter_context(
                    servers.function_server(log_dir, *flags, program=program)
                )
                targets[name] = (server, [modes.variants(req, kind) for req in mode.requests])
            measured = measure(targets, args.seconds, args.min_passes)
        for name in group:
            figures = measured[name]
            check_answers(name, n, figures.pop("last"))
            figures["sent"] = servers_[name][1]
            row[name] = figures
            print(
                f"  {n:>5} control planes  {mode.name:<9} {name:<16} "
                f"p50 {figures['p50_ms']:9.2f} ms  CPU/pass {figures['cpu_ms_per_pass']:9.2f} ms",
                flush=True,
            )
    ours_ = row["ours"]
    row["fits_ceilings"] = (
        ours_["request_bytes"] <= REQUEST_CEILING and ours_["response_bytes"] <= RESPONSE_CEILING
    )
    refs = ("floor", *(k for k in row if k.startswith("peer-")))
    row["ratios"] = {
        f"{mine}/{ref}_{figure}": row[mine][key] / row[ref][key]
        for mine in OURS
        for ref in refs
        for figure, key in (("p50", "p50_ms"), ("cpu", "cpu_ms_per_pass"))
        if row[ref][key]
    }
    return row


def ttl_figures(per_call_cpu_ms: float | None) -> dict[str, Any]:
    """Calls per hour of one steady 100-control-plane XR under each TTL, vs the SDK default."""
    runner = FunctionRunner()
    ready = runner.run(environments.steady_request(100)).meta.ttl.seconds
    waiting = runner.run(environments.steady_request(100, not_ready=1)).meta.ttl.seconds
    rows = {}
    for label, ttl in (("ready", ready), ("waiting", waiting), ("sdk_default", 60)):
        calls = 3600 / ttl
        cpu = calls * per_call_cpu_ms / 1000 if per_call_cpu_ms else None
        rows[label] = {"ttl_seconds": ttl, "calls_per_hour": calls, "cpu_seconds_per_hour": cpu}
    return rows


def supports_workers() -> bool:
    """Whether this function's CLI has --workers."""
    out = subprocess.run([*ours(), "--help"], cwd=ROOT, capture_output=True, text=True, check=False)
    return "--workers" in out.stdout


def throughput(work: Path, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Calls per second for 1 and 2 workers: the sharded environment if there is one."""
    sharded = modes.sharded(args.sharded_throughput_size)
    mode = sharded or modes.single(args.concurrency_size)
    size = args.sharded_throughput_size if sharded else args.concurrency_size
    payloads = mode.payloads
    pools = (1, 2) if supports_workers() else (1,)
    rounds = [
        concurrency(work / f"workers-{w}-{r}", payloads, w, args.concurrency_seconds)
        for r in range(args.concurrency_rounds)
        for w in pools
    ]
    return [
        {
            "workers": w,
            "mode": mode.name,
            "control_planes": size,
            "calls_per_second": statistics.median(
                c["calls_per_second"] for c in rounds if c["workers"] == w
            ),
            "server_cores_busy": statistics.median(
                c["server_cores_busy"] for c in rounds if c["workers"] == w
            ),
            "rounds": [c for c in rounds if c["workers"] == w],
        }
        for w in pools
    ]


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, environments.SIZES)))
    parser.add_argument("--seconds", type=float, default=3.0, help="per server, mode and size")
    parser.add_argument("--min-passes", type=int, default=10, help="per server, mode and size")
    parser.add_argument("--peers", default="", help="function-pythonic releases, e.g. 0.6.3,0.1.4")
    parser.add_argument("--no-peer", action="store_true", help="skip function-pythonic")
    parser.add_argument(
        "--peer-max-size", type=int, default=500, help="largest size the peers are sent"
    )
    parser.add_argument(
        "--concurrency-size", type=int, default=CONCURRENCY_SIZE, help="single-XR throughput"
    )
    parser.add_argument(
        "--sharded-throughput-size",
        type=int,
        default=2000,
        help="the sharded environment's size for throughput, once the function shards",
    )
    parser.add_argument("--concurrency-seconds", type=float, default=4.0)
    parser.add_argument(
        "--concurrency-rounds", type=int, default=3, help="1 and 2 workers, alternately"
    )
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    parser.add_argument(
        "--default-malloc",
        dest="fixed_malloc",
        action="store_false",
        help="run the servers with glibc's default malloc thresholds",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a target of the issues is missed"
    )
    parser.add_argument("--out", type=Path, help="result file (bench/results/run-<time>.json)")
    parser.add_argument("--doc", type=Path, help="also write the figures as Markdown here")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark; exit 2 when a server composes something else than this function."""
    try:
        return run(argv)
    except CompositionMismatch as e:
        print(f"\nstopped: {e.code}", file=sys.stderr)
        sys.exit(2)


def run(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the figures and store them as JSON."""
    args = parse_args(argv)
    logging.configure(level=logging.Level.INFO)  # the in-process runs that build the inputs
    sizes = [int(s) for s in args.sizes.split(",")]
    args.pin = args.pin and (os.cpu_count() or 1) > 1
    if args.fixed_malloc:
        os.environ.update(FIXED_MALLOC)  # servers.start passes the environment on
    versions = [] if args.no_peer else [v for v in args.peers.split(",") if v]
    peers = {v: peer_unavailable(v) for v in versions}
    started = datetime.datetime.now(datetime.UTC)
    result: dict[str, Any] = {
        "command": "scripts/bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "pinned": args.pin,
        "server_environment": FIXED_MALLOC if args.fixed_malloc else {},
        "peers": {v: reason or "measured" for v, reason in peers.items()},
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        # First, before this process pins itself (and the gRPC threads it starts) to a CPU.
        result["concurrency"] = throughput(work, args)
        if args.pin:
            os.sched_setaffinity(0, {CLIENT_CPU})
        for n in sizes:
            for make in (modes.single, modes.sharded):
                mode = make(n)
                if mode is None:
                    result.setdefault("not_measured", []).append(
                        f"sharded at {n}: the function composes no child XRs (not sharded)"
                    )
                    continue
                result["sizes"].append(run_mode(n, mode, work, args, peers))
        small = environments.steady_request(1).SerializeToString()
        starts = [cold_start(ours(), work / f"cold-{i}", small) for i in range(3)]
        result["cold_start"] = {
            "seconds": statistics.median(s["seconds"] for s in starts),
            "idle_rss_mib": statistics.median(s["idle_rss_mib"] for s in starts),
            "runs": starts,
        }
    per_call = next(
        (
            r["ours"]["cpu_ms_per_pass"]
            for r in result["sizes"]
            if r["control_planes"] == 100 and r["mode"] == modes.SINGLE
        ),
        None,
    )
    result["ttl"] = ttl_figures(per_call)
    result["missed_targets"] = report.missed_targets(result)
    text = report.markdown(result)
    print()
    print(text)
    out = args.out or RESULTS / f"run-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    where = out.relative_to(ROOT) if out.is_relative_to(ROOT) else out
    print(f"\nwrote {where}")
    if args.doc:
        args.doc.write_text(report.document(result, str(where)))
        print(f"wrote {args.doc}")
    if args.check and result["missed_targets"]:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
