"""The benchmark's figures as Markdown: the tables it prints and docs/performance.md.

`missed_targets` lists the targets of issues 4 and 12 that a run missed, each with its figure.
"""

from __future__ import annotations

from typing import Any

MIB = 1 << 20
SERVERS = ("ours", "ours_changed", "ours_recomposed", "floor")


def _peers(row: dict[str, Any]) -> list[str]:
    return [k for k in row if k.startswith("peer-")]


def _ms(value: float | None) -> str:
    return "" if value is None else f"{value:.2f}"


def calls_table(result: dict[str, Any]) -> str:
    """Per size, mode and server: latency per call, CPU per pass, bytes and memory."""
    lines = [
        "| control planes | mode | calls per pass | server | p50 ms | p99 ms "
        "| other calls p50/p99 ms | CPU ms to reconcile all | largest request MiB "
        "| largest response MiB | fits 4 MiB | peak RSS MiB |",
        "|---:|---|---:|---|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for row in result["sizes"]:
        if "refused" in row:
            lines.append(
                f"| {row['control_planes']} | {row['mode']} | {row['calls']} | (refused: "
                f"{row['refused']}) | | | | | {row['request_bytes'] / MIB:.2f} "
                f"| {row['response_bytes_uncapped'] / MIB:.2f} (uncapped) | no | |"
            )
            continue
        for name in (*SERVERS, *_peers(row)):
            f = row[name]
            others = (
                f"{f['others_p50_ms']:.2f} / {f['others_p99_ms']:.2f}"
                if f.get("others_p50_ms") is not None
                else ""
            )
            lines.append(
                f"| {row['control_planes']} | {row['mode']} | {row['calls']} | {name} "
                f"| {_ms(f['p50_ms'])} | {_ms(f['p99_ms'])} | {others} "
                f"| {f['cpu_ms_per_pass']:.1f} | {f['request_bytes'] / MIB:.2f} "
                f"| {f['response_bytes'] / MIB:.2f} | {'yes' if row['fits_ceilings'] else 'no'} "
                f"| {f['peak_rss_mib']:.0f} |"
            )
    return "\n".join(lines)


def ratio_table(result: dict[str, Any]) -> str:
    """p50 ratios of one run: ours against the floor and each peer."""
    rows = [r for r in result["sizes"] if r["ratios"]]
    refs = ["floor", *sorted({p for r in rows for p in _peers(r)}, reverse=True)]
    header = "| ratio | " + " | ".join(f"{r['control_planes']} {r['mode']}" for r in rows)
    lines = [header + " |", "|---|" + "---:|" * len(rows)]
    for mine in ("ours", "ours_changed", "ours_recomposed"):
        for ref in refs:
            for figure in ("p50", "cpu"):
                key = f"{mine}/{ref}_{figure}"
                if not any(key in r["ratios"] for r in rows):
                    continue
                cells = " | ".join(
                    f"{r['ratios'][key]:.3g}" if key in r["ratios"] else "" for r in rows
                )
                lines.append(f"| {mine}/{ref} ({figure}) | {cells} |")
    return "\n".join(lines)


def summary(result: dict[str, Any]) -> str:
    """Throughput, cold start, TTLs and what was not measured, one per line."""
    out = []
    for c in result["concurrency"]:
        out.append(
            f"- {c['mode']} environment of {c['control_planes']} control planes, 16 concurrent "
            f"callers, {c['workers']} worker(s): {c['calls_per_second']:.1f} calls/s, "
            f"{c['server_cores_busy']:.2f} server cores busy (medians of "
            f"{len(c['rounds'])} rounds)"
        )
    cold = result["cold_start"]
    out.append(
        f"- cold start (process start to first answer): {cold['seconds']:.2f} s; idle RSS "
        f"{cold['idle_rss_mib']:.0f} MiB"
    )
    for label, t in result["ttl"].items():
        cpu = t["cpu_seconds_per_hour"]
        out.append(
            f"- TTL {label} ({t['ttl_seconds']} s): {t['calls_per_hour']:.0f} calls/h"
            + (f", {cpu:.2f} CPU s/h at 100 control planes" if cpu is not None else "")
        )
    for version, state in result["peers"].items():
        if state != "measured":
            out.append(f"- peer {version} not measured: {state}")
    out.extend(f"- not measured: {reason}" for reason in result.get("not_measured", []))
    out.extend(f"- missed: {target}" for target in result["missed_targets"])
    return "\n".join(out)


def markdown(result: dict[str, Any]) -> str:
    """The three blocks the benchmark prints."""
    return "\n\n".join((calls_table(result), ratio_table(result), summary(result)))


def missed_targets(result: dict[str, Any]) -> list[str]:
    """The issues' targets that this run missed, each with its figure (ratios of one run)."""
    missed = []
    for row in result["sizes"]:
        n, mode, ratios = row["control_planes"], row["mode"], row["ratios"]
        if n in (100, 500):
            ratio = ratios.get("ours/floor_p50")
            if ratio is not None and ratio > 1.5:
                missed.append(f"ours/floor at {n} ({mode}) is {ratio:.2f} (> 1.5)")
        if n == 100:
            for figure in ("p50", "cpu"):
                ratio = ratios.get(f"ours_changed/floor_{figure}")
                if ratio is not None and ratio > 1.5:
                    missed.append(
                        f"ours_changed/floor ({figure}) at {n} ({mode}) is {ratio:.2f} (> 1.5)"
                    )
        for key, ratio in ratios.items():
            if "/peer-" in key and key.startswith("ours/") and ratio > 1 / 3:
                missed.append(f"{key} at {n} ({mode}) is {ratio:.2f} (> 0.33)")
    cold = result["cold_start"]
    if cold["seconds"] >= 1.5:
        missed.append(f"cold start {cold['seconds']:.2f} s (>= 1.5)")
    if cold["idle_rss_mib"] >= 80:
        missed.append(f"idle RSS {cold['idle_rss_mib']:.0f} MiB (>= 80)")
    return missed


def document(result: dict[str, Any], results_file: str) -> str:
    """docs/performance.md: how the figures were made, then the figures of this run."""
    machine = result["machine"]
    return f"""# Performance

The figures below come from one command, on the machine described under it:

```shell
{result["command"]}
```

It wrote `{results_file}`; every figure here is in that file. To look into one call:
`.venv/bin/python -m bench.profile --size 500` (pyinstrument over in-process calls).

## What is measured

`scripts/bench` (bench/bench.py, bench/modes.py) builds environments of N control planes
(groups of 10, at most the API's 100 groups; N/5 teams, robots and repositories, at most 200
each; every composed resource observed ready; the token Secret supplied as a required
resource; requests tagged by content as Crossplane tags them). For each N and mode it starts
each server as its own process, pinned to CPU 0 while the client runs on CPU 1, and sends
every call of the mode, one at a time, over gRPC on localhost:

- **single-XR** (`spec.sharding: Disabled`): the whole environment is one XR, one call.
  Where its response would pass the 4 MiB that Crossplane's function client accepts (it sets
  no receive limit, so gRPC's default applies), the function answers with one Fatal result
  instead (function/ceilings.py): the row says "refused" and gives the request's size and the
  size the response would have had. "fits 4 MiB" also checks the request against the
  function's default receive limit (32 MiB).
- **sharded** (`spec.sharding: Enabled`): the parent XR's call plus one call per
  ControlPlaneGroup XR (one per group); measured whenever the function composes child XRs of
  its own API group (bench/modes.py builds their requests as Crossplane would, and the
  parent's request observes each child with the status the child's call wrote). "p50/p99"
  is the parent's call, "other calls" the children's; "CPU ms to reconcile all" is the
  parent's call plus every child's.

Servers, each sent the same bytes:

- **ours**: the function, the same request again (steady state: Crossplane resends it at every
  TTL);
- **ours_changed**: every call a new tag and one observed managed resource's status moved on
  (new resourceVersion and atProvider, same readiness): what a provider's status update
  costs (a child XR's status is what its own call wrote: it changes only with what the
  parent rolls up, which the parent then composes again);
- **ours_recomposed**: every call a new tag and one observed resource's Ready condition flipped:
  the function composes everything from scratch;
- **floor**: `bench/floor.py`, a minimal SDK function answering with a prebuilt copy of our
  response: what gRPC and protobuf alone cost in Python;
- **peer-VERSION**: [function-pythonic](https://pypi.org/project/crossplane-function-pythonic/)
  at each release, running `bench/peer/peer_composition.py` (the same resources in its
  style), sent the `changed` calls; only where its request fits its 4 MB receive limit.

Every server's last answer to every call must equal what this function composes in-process,
from scratch, for that request (desired resources and XR status); a server that composes
something else stops the run with exit code 2, naming the first difference.

"CPU ms to reconcile all" is the server's CPU time (user + system) for one pass over every
call of the mode: reconciling the whole environment once. Peak RSS is the server's VmHWM.
Every server runs with glibc's `MALLOC_MMAP_THRESHOLD_`/`MALLOC_TRIM_THRESHOLD_` fixed
(`--default-malloc` drops that).

## Why a changed call costs little more than the floor

Crossplane resends an XR's request at every TTL, and again whenever anything it observes
changes; most changes are a provider writing a composed resource's status, which changes
nothing the function composes. The function keeps, per XR (function/reuse.py):

- the last response and its request's tag: a repeated request gets that response again;
- what that response was composed from: the parsed spec, the rest of the request but the
  observed resources, and the facts: every question the builders and the status asked of the
  observed state, with its answer (function/observed.py records every public query of
  `Observed`). A request with a new tag whose observed state gives the same answers gets
  the same response, with its own tag, without composing. Questions about a resource are not
  asked again while the resource keeps its `metadata.resourceVersion` (the API server changes
  it with every change of the object), so the check reads one string per resource.

Both checks run on the event loop's thread when no call is being composed, and the tag is
set there too, right before gRPC serializes the response: no thread handoff, no copy. A call
that changes an answer (a readiness flip, a new spec) composes from scratch: the
`ours_recomposed` rows.

## Figures

Machine: {machine["nproc"]} CPUs ({machine["cpu"]}), {machine["mem_gib"]:.0f} GiB, Python
{machine["python"]}, Linux {machine["kernel"]}; started {result["started"]}. The machine is
shared with other sessions, so single figures move by 10-20 %; ratios come from one run.

{calls_table(result)}

Ratios of p50 latency and of CPU per pass, same run (a server against the floor, or against
a peer):

{ratio_table(result)}

{summary(result)}
"""  # noqa: S608 - Markdown, not SQL.
