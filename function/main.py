"""The function's command line: the SDK's standard flags, ours, then serve.

--max-recv-message-size defaults to function/ceilings.py's DEFAULT_MAX_RECV_MIB, not the SDK's 4.
"""

import gc
import sys

import click
from crossplane.function import cli as sdkcli
from crossplane.function import logging

from function import fn, server, workers
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
@click.option(
    "--max-calls-in-flight",
    "max_calls",
    type=click.IntRange(min=1),
    default=server.DEFAULT_MAX_CALLS,
    show_default=True,
    envvar="MAX_CALLS_IN_FLIGHT",
    help="Calls a process accepts at once (they queue: it works one at a time); past "
    "them it refuses calls with RESOURCE_EXHAUSTED, and Crossplane retries them.",
)
@click.option(
    "--grace-period",
    type=click.FloatRange(min=0),
    default=server.DEFAULT_GRACE_PERIOD,
    show_default=True,
    envvar="GRACE_PERIOD",
    help="Seconds that SIGTERM gives the calls in flight to finish; new calls are refused "
    "at once. Keep it under the pod's terminationGracePeriodSeconds.",
)
@click.option(workers.WORKER_FLAG, "pool_worker", is_flag=True, hidden=True)
def cli(
    worker_count: int,
    max_calls: int,
    grace_period: float,
    pool_worker: bool,
    debug: bool,
    **kwargs: object,
) -> None:
    """Serve function-upbound-environment over gRPC."""
    logging.configure(level=logging.Level.DEBUG if debug else logging.Level.INFO)
    options = server.Options(
        **kwargs,  # type: ignore[arg-type]
        max_calls=max_calls,
        grace_period=grace_period,
        reuse_port=pool_worker,
    )
    try:
        # Workers share the port (SO_REUSEPORT) once their parent found it free.
        if not pool_worker:
            server.refuse_taken_address(options.address)
        if worker_count > 1 and not pool_worker:
            sys.exit(workers.run_pool(worker_count, workers.worker_command(options, debug=debug)))
        if pool_worker:
            workers.become_worker()
        # What the imports made lives as long as the process: keep the collector off it, so
        # a collection during a call walks only what calls allocate.
        gc.freeze()
        server.serve(fn.FunctionRunner(), options)
    except server.AddressError as e:
        raise click.ClickException(str(e)) from None


if __name__ == "__main__":
    cli()
