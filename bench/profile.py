"""Where the time of one call goes: pyinstrument over in-process calls of one size.

    .venv/bin/python -m bench.profile --size 500            # every call a changed state
    .venv/bin/python -m bench.profile --size 100 --steady   # the same request again

It calls `FunctionRunner.answer`, what RunFunction hands to its worker thread, in this thread
(no gRPC, no executor), so the profile shows the function's own work.
"""

import argparse

from crossplane.function import logging
from pyinstrument import Profiler

from bench import environments
from function.fn import FunctionRunner


def main() -> None:
    """Profile `--calls` calls of one environment size and print the call tree."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=500, help="control planes")
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--steady", action="store_true", help="repeat one tagged request")
    args = parser.parse_args()
    logging.configure(level=logging.Level.INFO)
    req = environments.steady_request(args.size)
    runner = FunctionRunner()
    tag = req.meta.tag

    profiler = Profiler(interval=0.0005)
    for i in range(args.calls + 1):
        req.meta.tag = tag if args.steady else f"{tag}-{i}"
        if i == 1:  # the first call fills the memos
            profiler.start()
        runner.answer(req)
    profiler.stop()
    print(profiler.output_text(unicode=True, color=False))


if __name__ == "__main__":
    main()
