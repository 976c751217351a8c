"""The function's command line: the SDK's standard flags, then serve."""

import click
from crossplane.function import cli as sdkcli

from function import fn


@click.command()
@sdkcli.standard_options
def cli(**kwargs: object) -> None:
    """Serve function-upbound-environment over gRPC."""
    sdkcli.run(fn.FunctionRunner(), **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    cli()
