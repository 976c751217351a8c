"""Load: many concurrent gRPC clients drive the real server with large valid and invalid calls.

    .venv/bin/python -m bench.load [--clients 16] [--requests 400] [--rounds 5] [--burst 64]

Starts the function server (`python -m function.main --insecure`) as tests/server.py does,
then runs rounds of a fixed number of RunFunction calls from `--clients` threads, each with
its own channel. The calls mix large valid environments (hundreds to thousands of composed
resources) and large invalid ones, which must be answered with one Fatal result and no
desired resources. Anything else, including any gRPC error, counts as an error.

More than 16 clients exceed the server's default `--max-calls-in-flight`: the calls past it
are refused with RESOURCE_EXHAUSTED, which counts as an error here.

Per round it prints throughput, p50/p99 latency, errors and the server's peak RSS (VmHWM).
Exits 1 if any call erred, or if the peak RSS grew by more than `--max-growth-mib` from the
end of the warm-up rounds to the end of the last round. The warm-up matters: the peak is a
high-water mark that rises until the allocator has seen the worst overlap of concurrent large
calls; a leak keeps it rising afterwards, round after round.

Then a burst: `--burst` concurrent calls of a valid request just under the 4 MiB limit, on a
fresh server for each of `--burst-bounds` (its `--max-calls-in-flight`; one as large as the
burst accepts every call, as before the bound). It prints how the calls ended and the
server's RSS idle, at its peak, right after the burst and after `--settle` seconds idle.
Exits 1 if a burst call ended other than OK or RESOURCE_EXHAUSTED (the bound's refusal).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from tests import factories as f
from tests import server as fnserver

CALL_TIMEOUT = 120  # a hang guard, far above any latency seen
BURST_PADDING = 9800  # description characters that make the burst's request 3.8 MiB


@dataclass(frozen=True)
class Case:
    """A request and whether the function must accept it."""

    name: str
    request: fnv1.RunFunctionRequest
    valid: bool


def cases() -> list[Case]:
    """The mix: valid environments of three sizes, each fresh and half-way, and invalid ones."""
    out = []
    for groups in (10, 50, 100):
        spec = f.big_spec(groups, control_planes=10, padding=2000)
        xr = f.xr(spec)
        out.append(Case(f"valid-{groups}x10", f.request(xr), valid=True))
        # Everything the first call composed observed Ready: this call composes the rest.
        out.append(Case(f"valid-{groups}x10-observed", f.second_round(xr), valid=True))
        bad = f.big_spec(groups, control_planes=10, padding=5000)  # as large as the above
        bad["organization"] = "Not An Org"
        bad["iam"]["teams"][-1]["name"] = "Bad_Name"
        bad["groups"][-1]["controlPlanes"].append({"name": "ctp-0"})
        out.append(Case(f"invalid-{groups}x10", f.request(f.xr(bad)), valid=False))
    return out


def check(case: Case, rsp: fnv1.RunFunctionResponse) -> bool:
    """Whether the answer is right: composed resources, or one Fatal result and nothing."""
    fatal = f.fatal(rsp)
    if case.valid:
        return not fatal and len(rsp.desired.resources) > 0
    return len(rsp.results) == 1 and len(fatal) == 1 and len(rsp.desired.resources) == 0


@dataclass
class RoundResult:
    """What one round measured."""

    seconds: float
    latencies: list[float]
    errors: list[str]
    peak_rss_kib: int


def run_round(server: fnserver.Server, mix: list[Case], requests: int, clients: int) -> RoundResult:
    """`requests` calls, spread over `clients` threads, each thread with its own channel."""
    local = threading.local()
    channels: list[grpc.Channel] = []
    lock = threading.Lock()

    def stub() -> grpcv1.FunctionRunnerServiceStub:
        if not hasattr(local, "stub"):
            channel = server.channel()
            with lock:
                channels.append(channel)
            local.stub = grpcv1.FunctionRunnerServiceStub(channel)
        made: grpcv1.FunctionRunnerServiceStub = local.stub
        return made

    def one(i: int) -> tuple[float, str | None]:
        case = mix[i % len(mix)]
        start = time.perf_counter()
        try:
            rsp: fnv1.RunFunctionResponse = stub().RunFunction(case.request, timeout=CALL_TIMEOUT)
        except grpc.RpcError as e:
            return time.perf_counter() - start, f"{case.name}: gRPC {e.code().name}"
        elapsed = time.perf_counter() - start
        return elapsed, None if check(case, rsp) else f"{case.name}: wrong answer"

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        outcomes = list(pool.map(one, range(requests)))
    seconds = time.perf_counter() - start
    for channel in channels:
        channel.close()
    return RoundResult(
        seconds=seconds,
        latencies=[latency for latency, _ in outcomes],
        errors=[error for _, error in outcomes if error],
        peak_rss_kib=server.peak_rss_kib(),
    )


@dataclass
class BurstResult:
    """How a burst's calls ended, and the server's RSS around it (KiB)."""

    outcomes: dict[str, int]
    idle_kib: int
    peak_kib: int
    after_kib: int
    settled_kib: int


def burst(bound: int, calls: int, settle: float) -> BurstResult:
    """`calls` concurrent calls of 3.8 MiB on one connection, to a fresh server."""
    req = f.request(f.xr(f.big_spec(4, padding=BURST_PADDING)))
    flags = ("--insecure", "--max-calls-in-flight", str(bound))
    with (
        tempfile.TemporaryDirectory() as logs,
        fnserver.function_server(Path(logs), *flags) as server,
    ):
        idle = server.rss_kib()
        outcomes: dict[str, int] = {}
        with server.channel() as channel:
            stub = grpcv1.FunctionRunnerServiceStub(channel)
            futures = [stub.RunFunction.future(req, timeout=CALL_TIMEOUT) for _ in range(calls)]
            for future in futures:
                try:
                    code = "OK" if not f.fatal(future.result()) else "Fatal"
                except grpc.RpcError as e:
                    code = e.code().name
                outcomes[code] = outcomes.get(code, 0) + 1
        after = server.rss_kib()
        time.sleep(settle)
        return BurstResult(outcomes, idle, server.peak_rss_kib(), after, server.rss_kib())


def percentile(values: list[float], q: int) -> float:
    """The q-th percentile (nearest rank above)."""
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


def main(argv: list[str] | None = None) -> int:
    """Run the rounds and print one line per round; 1 on errors or RSS growth."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, default=16, help="concurrent client threads")
    parser.add_argument("--requests", type=int, default=400, help="calls per round")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--warmup", type=int, default=2, help="rounds before the RSS baseline")
    parser.add_argument(
        "--max-growth-mib",
        type=float,
        default=32,
        help="allowed growth of the server's peak RSS after the warm-up rounds",
    )
    parser.add_argument("--burst", type=int, default=64, help="concurrent calls of 3.8 MiB")
    parser.add_argument(
        "--burst-bounds",
        default="16,64",
        help="the servers' --max-calls-in-flight, one burst each (comma-separated)",
    )
    parser.add_argument("--settle", type=float, default=2.0, help="idle seconds after a burst")
    args = parser.parse_args(argv)
    passed = load_rounds(args) if args.rounds else True
    if args.burst:
        passed = bursts(args) and passed
    return 0 if passed else 1


def load_rounds(args: argparse.Namespace) -> bool:
    """The rounds of the mix: whether no call erred, the peak held and the server exited 0."""
    mix = cases()
    sizes = ", ".join(f"{c.name} {c.request.ByteSize() / 1e6:.2f} MB" for c in mix)
    print(f"mix of {len(mix)} requests: {sizes}")
    print(f"{args.clients} clients, {args.requests} calls per round, {args.rounds} rounds")
    print("round  calls/s   p50 ms   p99 ms  errors  peak RSS MiB")
    peaks: list[int] = []
    errors = 0
    with (
        tempfile.TemporaryDirectory() as logs,
        fnserver.function_server(Path(logs), "--insecure") as server,
    ):
        for number in range(1, args.rounds + 1):
            result = run_round(server, mix, args.requests, args.clients)
            peaks.append(result.peak_rss_kib)
            errors += len(result.errors)
            latencies_ms = [s * 1000 for s in result.latencies]
            print(
                f"{number:5d} {len(result.latencies) / result.seconds:8.1f} "
                f"{percentile(latencies_ms, 50):8.1f} {percentile(latencies_ms, 99):8.1f} "
                f"{len(result.errors):7d} {result.peak_rss_kib / 1024:13.1f}"
            )
            for error in sorted(set(result.errors))[:5]:
                print(f"      error: {error}")
        exit_code = server.terminate()
    baseline = peaks[min(args.warmup, len(peaks)) - 1]
    growth = (peaks[-1] - baseline) / 1024
    print(
        f"peak RSS growth after round {args.warmup}: {growth:.1f} MiB "
        f"(bound {args.max_growth_mib:g} MiB)"
    )
    print(f"errors: {errors}; server exit code after SIGTERM: {exit_code}")
    return errors == 0 and growth <= args.max_growth_mib and exit_code == 0


def bursts(args: argparse.Namespace) -> bool:
    """A burst per bound: whether every call was answered or refused by the bound."""
    print(f"burst of {args.burst} concurrent calls of 3.8 MiB, a fresh server each")
    print("bound  outcomes                      RSS MiB:  idle    peak   after  settled")
    unexpected = 0
    for bound in (int(b) for b in args.burst_bounds.split(",")):
        b = burst(bound, args.burst, args.settle)
        unexpected += sum(n for code, n in b.outcomes.items() if code not in _BURST_CODES)
        outcomes = ", ".join(f"{n} {code}" for code, n in sorted(b.outcomes.items()))
        print(
            f"{bound:5d}  {outcomes:<29} {b.idle_kib / 1024:14.1f} {b.peak_kib / 1024:7.1f}"
            f" {b.after_kib / 1024:7.1f} {b.settled_kib / 1024:8.1f}"
        )
    return unexpected == 0


_BURST_CODES = {"OK", "RESOURCE_EXHAUSTED"}


if __name__ == "__main__":
    sys.exit(main())
