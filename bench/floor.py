"""The floor: a minimal SDK function that answers every call with one prebuilt response.

It costs what gRPC and protobuf alone cost in Python for a request and a response of a given
size: no spec, no builders, no Struct conversions. Run it as the function runs:

    python -m bench.floor --response rsp.bin --insecure --address 127.0.0.1:9443
"""

from pathlib import Path

import click
import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import cli as sdkcli
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

# What grpc.aio passes a servicer's method beside the request.
ServicerContext = grpc.aio.ServicerContext[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse]


class FloorRunner(grpcv1.FunctionRunnerServiceServicer):
    """Answers with the prebuilt response, tagged like the request."""

    def __init__(self, prebuilt: fnv1.RunFunctionResponse) -> None:
        """Keep the response to send."""
        self.prebuilt = prebuilt

    async def RunFunction(  # noqa: N802 - gRPC requires this name.
        self, req: fnv1.RunFunctionRequest, _: ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Return the prebuilt response with the request's tag."""
        self.prebuilt.meta.tag = req.meta.tag
        return self.prebuilt


@click.command()
@sdkcli.standard_options
@click.option("--response", "response_path", required=True, type=click.Path(exists=True))
def cli(response_path: str, **kwargs: object) -> None:
    """Serve the prebuilt response in RESPONSE (a serialized RunFunctionResponse)."""
    prebuilt = fnv1.RunFunctionResponse.FromString(Path(response_path).read_bytes())
    sdkcli.run(FloorRunner(prebuilt), **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    cli()
