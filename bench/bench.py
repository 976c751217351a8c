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
import contextlib
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import logging

from bench import environments, modes, report
from bench.calls import Program, cold_start, concurrency, measure, pinned, server_flags
from bench.compare import CompositionMismatch, check_answers
from function import ceilings
from function.fn import FunctionRunner
from function.reuse import xr_identity
from tests import server as servers

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
SERVER_CPU, CLIENT_CPU = 0, 1
# The ceilings a call meets in a cluster: the function's default receive limit and gRPC's
# default receive limit on Crossplane's side for the response (function/ceilings.py).
REQUEST_CEILING = ceilings.DEFAULT_MAX_RECV_MIB << 20
RESPONSE_CEILING = ceilings.CROSSPLANE_RECEIVE_LIMIT
CONCURRENCY_SIZE = 100
# glibc gives multi-MB buffers back to the kernel after every call in a process whose heap
# has not grown yet (the floor's), and maps them again on the next: that costs the floor
# more than gRPC and protobuf do. Every server runs with these fixed thresholds instead.
FIXED_MALLOC = {"MALLOC_MMAP_THRESHOLD_": str(64 << 20), "MALLOC_TRIM_THRESHOLD_": str(128 << 20)}
# What each of our servers is sent (bench/modes.py).
OURS = {"ours": "steady", "ours_changed": "changed", "ours_recomposed": "recomposed"}


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
