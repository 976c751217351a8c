"""The function's command line: the SDK's standard flags and --workers, then serve.

--max-recv-message-size defaults to function/ceilings.py's DEFAULT_MAX_RECV_MIB, not the SDK's 4.
"""

import gc
import sys

import click
from crossplane.function import cli as sdkcli

from function import fn, workers
from function.ceilings import DEFAULT_MAX_RECV_MIB


# Crossplane sends requests of any size: the default receive limit fits the largest one
# (function/ceilings.py, docs/sharding.md).
@click.command(context_settings={"default_map": {"max_recv_message_size": DEFAULT_MAX_RECV_MIB}})
@sdkcli.standard_options
@click.option(
    "--workers",
    "worker_count",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    envvar="WORKERS",
    help="Serve with this many processes sharing the address (SO_REUSEPORT), to use "
    "more than one core. The address needs a fixed port.",
)
@click.option(workers.WORKER_FLAG, "pool_worker", is_flag=True, hidden=True)
def cli(worker_count: int, pool_worker: bool, **kwargs: object) -> None:
    """Serve function-upbound-environment over gRPC."""
    # What the imports made lives as long as the process: keep the collector off it, so a
    # collection during a call walks only what calls allocate.
    gc.freeze()
    if pool_worker:
        workers.serve_worker(fn.FunctionRunner(), **kwargs)
    elif worker_count == 1:
        sdkcli.run(fn.FunctionRunner(), **kwargs)  # type: ignore[arg-type]
    else:
        command = workers.worker_command(kwargs)
        sys.exit(workers.run_pool(worker_count, command, debug=bool(kwargs["debug"])))


if __name__ == "__main__":
    cli()
