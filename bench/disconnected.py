"""A changed call of a large environment, Disconnected against Cloud, over gRPC on localhost.

    .venv/bin/python -m bench.disconnected [--control-planes 500] [--seconds 5]

In a Disconnected Space each control plane's kubeconfig comes back as connection details,
and the function reads server, token and CA from it. This starts the function server as
tests/server.py does and sends the steady-state request of bench/environments.py, every
call with a new tag (as after any change), so the function composes it from scratch; once
for a Cloud Space and once for a Disconnected one. It prints p50/p99 latency, server CPU
per call, and request and response sizes.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench import environments
from bench.bench import measure
from tests import server as servers

MESSAGE_MB = 16  # 500 Disconnected control planes' request is about 6 MB


def main(argv: list[str] | None = None) -> None:
    """Measure both Spaces and print one line each."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--control-planes", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=5.0, help="per Space")
    parser.add_argument("--min-calls", type=int, default=5, help="per Space")
    args = parser.parse_args(argv)
    flags = ("--insecure", "--max-recv-message-size", str(MESSAGE_MB))
    print(f"changed calls, {args.control_planes} control planes")
    print("space          calls   p50 ms   p99 ms  CPU ms/call  request MB  response MB")
    for space in ("Cloud", "Disconnected"):
        req = environments.steady_request(args.control_planes, space=space)
        with (
            tempfile.TemporaryDirectory() as logs,
            servers.function_server(Path(logs), *flags) as server,
        ):
            row = measure(
                server, req.SerializeToString(), args.seconds, args.min_calls, changed=True
            )
        print(
            f"{space:<13} {row['calls']:6d} {row['p50_ms']:8.1f} {row['p99_ms']:8.1f} "
            f"{row['cpu_ms_per_call']:12.1f} {row['request_bytes'] / 1e6:11.2f} "
            f"{row['response_bytes'] / 1e6:12.2f}"
        )


if __name__ == "__main__":
    main()
