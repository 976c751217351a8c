"""The benchmark: this function against the gRPC floor and a peer, over gRPC on localhost.

    scripts/bench                      # everything; writes bench/results/run-<time>.json
    scripts/bench --sizes 1,100 --seconds 1 --no-peer

For each environment size (control planes) it starts each server as a subprocess (the same
way the tests do, with tests/server.py), pinned to CPU 0 while this client runs on CPU 1,
and sends the same steady-state request over and over:

- ours: `python -m function.main`;
- ours_changed: the same server, but every call carries a new tag, so nothing is answered
  as before and the function composes each call from scratch;
- floor: `python -m bench.floor`, a minimal SDK function answering with a prebuilt copy of
  our response (what gRPC and protobuf alone cost in Python);
- peer: crossplane-function-pythonic 0.1.4 running bench/peer/peer_composition.py, which
  composes the same resources (checked: same names, same bodies, same XR status).

It reports p50/p99 latency, calls per second of server CPU (one core), request and response
bytes and the server's peak RSS (VmHWM); then cold start and idle RSS, calls per second with
16 concurrent callers for 1 and 2 `--workers` (measured first, unpinned), and the calls per
hour that the TTLs imply. `--check` exits 1 when a target of issue 4 is missed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging, resource

from bench import environments
from function.fn import FunctionRunner
from tests import server as servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
PEER_PYTHON = ROOT / "bench" / ".venv-peer" / "bin" / "python"
METHOD = "/" + fnv1.DESCRIPTOR.services_by_name["FunctionRunnerService"].full_name + "/RunFunction"
SERVER_CPU, CLIENT_CPU = 0, 1
MAX_MESSAGE_MB = 64
SDK_DEFAULT_TTL = 60
CONCURRENT_CALLERS = 16
CONCURRENCY_SIZE = 100
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
# glibc gives multi-MB buffers back to the kernel after every call in a process whose heap
# has not grown yet (the floor's), and maps them again on the next: that costs the floor
# more than gRPC and protobuf do. Every server runs with these fixed thresholds instead.
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}

Program = Sequence[str]


def ours() -> Program:
    """The command that serves this function."""
    return (sys.executable, "-m", "function.main")


def floor(response_file: Path) -> Program:
    """The command that serves the floor with one prebuilt response."""
    return (sys.executable, "-m", "bench.floor", "--response", str(response_file))


def peer() -> Program:
    """The command that serves function-pythonic with the benchmark's composition."""
    return (str(PEER_PYTHON), "-m", "crossplane.pythonic.main", "--python-path", "bench/peer")


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


def server_flags() -> list[str]:
    """Flags that every server takes (the peer has no message size flags: 4 MB it is)."""
    return ["--insecure"]


def measure(
    server: servers.Server,
    payload: bytes,
    seconds: float,
    min_calls: int,
    *,
    changed: bool = False,
) -> dict[str, Any]:
    """Sequential calls for `seconds` (at least `min_calls`): latency, CPU and memory.

    `changed` gives every call a new tag, as if the state had changed since the last call,
    so the function composes from scratch instead of answering as before.
    """
    with grpc.insecure_channel(server.address, options=channel_options()) as channel:
        call = raw_call(channel)
        for i in range(3):  # Warm up: connection, imports, caches.
            answer = call(payload + environments.retagged(f"warm-{i}"), timeout=300)
        answer = call(payload, timeout=300)
        latencies: list[float] = []
        cpu_before = cpu_seconds(server.proc.pid)
        started = time.perf_counter()
        while len(latencies) < min_calls or time.perf_counter() - started < seconds:
            body = payload + environments.retagged(f"call-{len(latencies)}") if changed else payload
            t = time.perf_counter()
            answer = call(body, timeout=300)
            latencies.append(time.perf_counter() - t)
        cpu = cpu_seconds(server.proc.pid) - cpu_before
    latencies.sort()
    return {
        "calls": len(latencies),
        "p50_ms": 1000 * statistics.median(latencies),
        "p99_ms": 1000 * latencies[min(len(latencies) - 1, int(0.99 * len(latencies)))],
        "mean_ms": 1000 * statistics.fmean(latencies),
        "cpu_ms_per_call": 1000 * cpu / len(latencies),
        "calls_per_cpu_second": len(latencies) / cpu if cpu else None,
        "request_bytes": len(payload),
        "response_bytes": len(answer),
        "peak_rss_mib": status_kib(server.proc.pid, "VmHWM") / 1024,
        "response": answer,
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


async def _callers(address: str, payload: bytes, seconds: float) -> int:
    """Calls completed by CONCURRENT_CALLERS callers, each on its own connection."""
    deadline = time.perf_counter() + seconds
    done = 0

    async def caller() -> None:
        nonlocal done
        options = channel_options(own_connection=True)
        async with grpc.aio.insecure_channel(address, options=options) as channel:
            call: grpc.aio.UnaryUnaryMultiCallable[bytes, bytes] = channel.unary_unary(METHOD)
            await call(payload, timeout=300)  # connect before the clock counts
            while time.perf_counter() < deadline:  # every call a changed state: no memo
                await call(payload + environments.retagged(f"{id(call)}-{done}"), timeout=300)
                done += 1

    await asyncio.gather(*(caller() for _ in range(CONCURRENT_CALLERS)))
    return done


def concurrency(log_dir: Path, payload: bytes, workers: int, seconds: float) -> dict[str, Any]:
    """Calls per second with 16 concurrent callers against `--workers N` (not pinned).

    Every call carries a new tag, as the calls for many different XRs would: the function
    composes each one.
    """
    flags = [*server_flags()] + (["--workers", str(workers)] if workers > 1 else [])
    with servers.function_server(log_dir, *flags) as server:
        if workers > 1:  # every worker listening, not only the first
            port = int(server.address.rsplit(":", 1)[1])
            while servers.listening_sockets(port) < workers:
                time.sleep(0.05)
        pids = [server.proc.pid, *servers.child_pids(server.proc.pid)]
        server_cpu = sum(cpu_seconds(pid) for pid in pids)
        client_cpu = time.process_time()
        started = time.perf_counter()
        done = asyncio.run(_callers(server.address, payload, seconds))
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


def supports_workers() -> bool:
    """Whether this function's CLI has --workers."""
    out = subprocess.run([*ours(), "--help"], cwd=ROOT, capture_output=True, text=True, check=False)
    return "--workers" in out.stdout


def same_composition(a: bytes, b: bytes) -> bool:
    """Whether two responses desire the same resources and XR status."""
    x, y = fnv1.RunFunctionResponse.FromString(a), fnv1.RunFunctionResponse.FromString(b)
    if set(x.desired.resources) != set(y.desired.resources):
        return False
    return all(
        resource.struct_to_dict(x.desired.resources[k].resource)
        == resource.struct_to_dict(y.desired.resources[k].resource)
        for k in x.desired.resources
    ) and resource.struct_to_dict(x.desired.composite.resource) == resource.struct_to_dict(
        y.desired.composite.resource
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
    }


def run_size(
    n: int, work: Path, args: argparse.Namespace, peer_reason: str | None
) -> dict[str, Any]:
    """All three servers on one environment size."""
    req = environments.steady_request(n)
    payload = req.SerializeToString()
    prebuilt = FunctionRunner().run(req)
    response_file = work / f"response-{n}.bin"
    response_file.write_bytes(prebuilt.SerializeToString())
    programs: dict[str, Program] = {
        "ours": ours(),
        "ours_changed": ours(),
        "floor": floor(response_file),
    }
    if peer_reason is None:
        programs["peer"] = peer()
    row: dict[str, Any] = {"control_planes": n, "resources": len(prebuilt.desired.resources)}
    answers: dict[str, bytes] = {}
    for name, command in programs.items():
        program = pinned(command, SERVER_CPU) if args.pin else command
        changed = name == "ours_changed"
        with servers.function_server(work / f"{name}-{n}", *server_flags(), program=program) as s:
            figures = measure(s, payload, args.seconds, args.min_calls, changed=changed)
        answers[name] = figures.pop("response")
        row[name] = figures
        print(f"  {n:>4} control planes  {name:<5} p50 {figures['p50_ms']:8.2f} ms", flush=True)
    row["ours_equals_floor"] = same_composition(answers["ours"], answers["floor"])
    row["ours_changed_equals_ours"] = same_composition(answers["ours_changed"], answers["ours"])
    if "peer" in answers:
        row["peer_equals_ours"] = same_composition(answers["peer"], answers["ours"])
    row["ratios"] = {
        f"{mine}/{ref}_p50": row[mine]["p50_ms"] / row[ref]["p50_ms"]
        for mine in ("ours", "ours_changed")
        for ref in ("floor", "peer")
        if ref in row
    }
    for mine in ("ours", "ours_changed"):
        row["ratios"][f"{mine}/floor_cpu"] = (
            row[mine]["cpu_ms_per_call"] / row["floor"]["cpu_ms_per_call"]
        )
    return row


def ttl_figures(per_call_cpu_ms: float | None) -> dict[str, Any]:
    """Calls per hour of one steady 100-control-plane XR under each TTL, vs the SDK default."""
    runner = FunctionRunner()
    ready = runner.run(environments.steady_request(100)).meta.ttl.seconds
    waiting = runner.run(environments.steady_request(100, not_ready=1)).meta.ttl.seconds
    rows = {}
    for label, ttl in (("ready", ready), ("waiting", waiting), ("sdk_default", SDK_DEFAULT_TTL)):
        calls = 3600 / ttl
        cpu = calls * per_call_cpu_ms / 1000 if per_call_cpu_ms else None
        rows[label] = {"ttl_seconds": ttl, "calls_per_hour": calls, "cpu_seconds_per_hour": cpu}
    return rows


def peer_unavailable() -> str | None:
    """Why the peer cannot run here, or None."""
    if not PEER_PYTHON.exists():
        return f"{PEER_PYTHON.relative_to(ROOT)} is missing (scripts/bench creates it)"
    probe = subprocess.run(
        [str(PEER_PYTHON), "-c", "import crossplane.pythonic"], capture_output=True, check=False
    )
    if probe.returncode:
        return "crossplane-function-pythonic does not import: " + probe.stderr.decode()[-300:]
    return None


def table(result: dict[str, Any]) -> str:
    """The results as a Markdown table, as the README shows them."""
    lines = [
        "| control planes | resources | server | p50 ms | p99 ms | calls/s (1 core) "
        "| request KiB | response KiB | peak RSS MiB |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    for row in result["sizes"]:
        for name in ("ours", "ours_changed", "floor", "peer"):
            if name not in row:
                continue
            f = row[name]
            rate = f["calls_per_cpu_second"]
            lines.append(
                f"| {row['control_planes']} | {row['resources']} | {name} | {f['p50_ms']:.2f} "
                f"| {f['p99_ms']:.2f} | {rate:.0f} | {f['request_bytes'] / 1024:.0f} "
                f"| {f['response_bytes'] / 1024:.0f} | {f['peak_rss_mib']:.0f} |"
                if rate
                else f"| {row['control_planes']} | {row['resources']} | {name} | ... |"
            )
    return "\n".join(lines)


def ratio_table(result: dict[str, Any]) -> str:
    """The ratios against the targets, as a Markdown table (medians: p50)."""
    rows = result["sizes"]
    header = "| p50 ratio | " + " | ".join(str(r["control_planes"]) for r in rows) + " | target |"
    lines = [header, "|---|" + "---:|" * len(rows) + "---|"]
    targets = {
        "ours/floor": "<= 1.5 at 100 and 500",
        "ours_changed/floor": "",
        "ours/peer": "<= 0.33",
        "ours_changed/peer": "<= 0.33",
    }
    for name, target in targets.items():
        key = f"{name}_p50"
        if all(key in r["ratios"] for r in rows):
            cells = " | ".join(f"{r['ratios'][key]:.2f}" for r in rows)
            lines.append(f"| {name} | {cells} | {target} |")
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> str:
    """Growth, cold start, concurrency and TTL figures, one per line."""
    out = []
    by_size = {row["control_planes"]: row for row in result["sizes"]}
    if 100 in by_size and 500 in by_size:
        for mine in ("ours", "ours_changed"):
            growth = by_size[500][mine]["p50_ms"] / by_size[100][mine]["p50_ms"]
            out.append(f"500 vs 100 control planes ({mine}, p50): {growth:.2f}x")
        floor = by_size[500]["floor"]["p50_ms"] / by_size[100]["floor"]["p50_ms"]
        out.append(f"500 vs 100 control planes (floor, p50): {floor:.2f}x")
    cold = result["cold_start"]
    out.append(
        f"cold start (process start to first answer): {cold['seconds']:.2f} s; "
        f"idle RSS {cold['idle_rss_mib']:.0f} MiB"
    )
    for c in result["concurrency"]:
        out.append(
            f"{CONCURRENT_CALLERS} concurrent callers, {c['workers']} worker(s), "
            f"{CONCURRENCY_SIZE} control planes: {c['calls_per_second']:.1f} calls/s "
            f"(median of {len(c['rounds'])}; server cores busy "
            f"{statistics.median(r['server_cores_busy'] for r in c['rounds']):.2f}, client "
            f"{statistics.median(r['client_cores_busy'] for r in c['rounds']):.2f})"
        )
    for label, t in result["ttl"].items():
        cpu = t["cpu_seconds_per_hour"]
        out.append(
            f"TTL {label} ({t['ttl_seconds']} s): {t['calls_per_hour']:.0f} calls/h"
            + (f", {cpu:.2f} CPU s/h" if cpu is not None else "")
        )
    if result.get("peer_unavailable"):
        out.append(f"peer not measured: {result['peer_unavailable']}")
    return "\n".join(out)


def missed_targets(result: dict[str, Any]) -> list[str]:
    """The issue's targets that this run missed, each with its figure (ratios of one run)."""
    missed = []
    by_size = {row["control_planes"]: row for row in result["sizes"]}
    for n in (100, 500):
        ratio = by_size.get(n, {}).get("ratios", {}).get("ours/floor_p50")
        if ratio is not None and ratio > 1.5:
            missed.append(f"ours/floor at {n} control planes is {ratio:.2f} (> 1.5)")
    for row in result["sizes"]:
        ratio = row["ratios"].get("ours/peer_p50")
        if ratio is not None and ratio > 1 / 3:
            missed.append(f"ours/peer at {row['control_planes']} is {ratio:.2f} (> 0.33)")
    if 100 in by_size and 500 in by_size:
        growth = by_size[500]["ours"]["p50_ms"] / by_size[100]["ours"]["p50_ms"]
        if growth > 5.5:
            missed.append(f"500 control planes cost {growth:.2f}x 100 (> 5.5)")
    cold = result["cold_start"]
    if cold["seconds"] >= 1.5:
        missed.append(f"cold start {cold['seconds']:.2f} s (>= 1.5)")
    if cold["idle_rss_mib"] >= 80:
        missed.append(f"idle RSS {cold['idle_rss_mib']:.0f} MiB (>= 80)")
    return missed


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """The benchmark's options."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=",".join(map(str, environments.SIZES)))
    parser.add_argument("--seconds", type=float, default=3.0, help="per server and size")
    parser.add_argument("--min-calls", type=int, default=10, help="per server and size")
    parser.add_argument("--concurrency-seconds", type=float, default=4.0)
    parser.add_argument(
        "--concurrency-rounds", type=int, default=3, help="1 and 2 workers, alternately"
    )
    parser.add_argument("--no-peer", action="store_true", help="skip function-pythonic")
    parser.add_argument("--no-pin", dest="pin", action="store_false", help="do not use taskset")
    parser.add_argument(
        "--default-malloc",
        dest="fixed_malloc",
        action="store_false",
        help="run the servers with glibc's default malloc thresholds",
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if a target of the issue is missed"
    )
    parser.add_argument("--out", type=Path, help="result file (bench/results/run-<time>.json)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Run the benchmark, print the figures and store them as JSON."""
    args = parse_args(argv)
    logging.configure(level=logging.Level.INFO)  # the in-process runs that build the inputs
    sizes = [int(s) for s in args.sizes.split(",")]
    args.pin = args.pin and (os.cpu_count() or 1) > 1
    if args.fixed_malloc:
        os.environ.update(FIXED_MALLOC)  # servers.start passes the environment on
    peer_reason = "skipped (--no-peer)" if args.no_peer else peer_unavailable()
    started = datetime.datetime.now(datetime.UTC)
    result: dict[str, Any] = {
        "command": "scripts/bench " + " ".join(sys.argv[1:] if argv is None else argv),
        "started": started.isoformat(timespec="seconds"),
        "machine": machine(),
        "pinned": args.pin,
        "server_environment": FIXED_MALLOC if args.fixed_malloc else {},
        "peer_unavailable": peer_reason,
        "sizes": [],
    }
    with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
        work = Path(tmp)
        # First, before this process pins itself (and the gRPC threads it starts) to a CPU.
        payload = environments.steady_request(CONCURRENCY_SIZE).SerializeToString()
        pools = (1, 2) if supports_workers() else (1,)
        rounds = [
            concurrency(work / f"workers-{w}-{r}", payload, w, args.concurrency_seconds)
            for r in range(args.concurrency_rounds)
            for w in pools
        ]
        result["concurrency"] = [
            {
                "workers": w,
                "calls_per_second": statistics.median(
                    c["calls_per_second"] for c in rounds if c["workers"] == w
                ),
                "rounds": [c for c in rounds if c["workers"] == w],
            }
            for w in pools
        ]
        if args.pin:
            os.sched_setaffinity(0, {CLIENT_CPU})
        for n in sizes:
            result["sizes"].append(run_size(n, work, args, peer_reason))
        small = environments.steady_request(1).SerializeToString()
        starts = [cold_start(ours(), work / f"cold-{i}", small) for i in range(3)]
        result["cold_start"] = {
            "seconds": statistics.median(s["seconds"] for s in starts),
            "idle_rss_mib": statistics.median(s["idle_rss_mib"] for s in starts),
            "runs": starts,
        }
    per_call = next(
        (r["ours"]["cpu_ms_per_call"] for r in result["sizes"] if r["control_planes"] == 100),
        None,
    )
    result["ttl"] = ttl_figures(per_call)
    print()
    print(table(result))
    print()
    print(ratio_table(result))
    print()
    print(summary(result))
    result["missed_targets"] = missed_targets(result)
    for target in result["missed_targets"]:
        print(f"missed: {target}")
    out = args.out or RESULTS / f"run-{started:%Y%m%dT%H%M%SZ}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {out.relative_to(ROOT) if out.is_relative_to(ROOT) else out}")
    if args.check and result["missed_targets"]:
        sys.exit(1)
    return result


if __name__ == "__main__":
    main()
