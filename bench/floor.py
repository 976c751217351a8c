"""The floor: a minimal SDK function that answers every call with a prebuilt response.

It costs what gRPC and protobuf alone cost in Python for a request and a response of a given
size: no spec, no builders, no Struct conversions. Run it as the function runs:

    python -m bench.floor --response rsp.bin --insecure --address 127.0.0.1:9443

With several `--response NAMESPACE/NAME=FILE`, each XR (by namespace and name) gets its own.
"""

from pathlib import Path

import click
import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import cli as sdkcli
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

from function.reuse import xr_identity

# What grpc.aio passes a servicer's method beside the request.
ServicerContext = grpc.aio.ServicerContext[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse]


class FloorRunner(grpcv1.FunctionRunnerServiceServicer):
    """Answers with the prebuilt response (of the request's XR), tagged like the request."""

    first: fnv1.RunFunctionResponse

    def __init__(self, prebuilt: dict[tuple[str, str], fnv1.RunFunctionResponse]) -> None:
        """Keep the responses to send, by XR namespace and name."""
        self.prebuilt = prebuilt
        self.first = next(iter(prebuilt.values()))
        self.only = self.first if len(prebuilt) == 1 else None

    async def RunFunction(  # noqa: N802 - gRPC requires this name.
        self, req: fnv1.RunFunctionRequest, _: ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Return the prebuilt response with the request's tag."""
        rsp = self.only or self.prebuilt.get(xr_identity(req.observed.composite.resource))
        rsp = rsp or self.first  # an XR it has no response for: a probe
        rsp.meta.tag = req.meta.tag
        return rsp


def _prebuilt(spec: str) -> tuple[tuple[str, str], fnv1.RunFunctionResponse]:
    """`[NAMESPACE/NAME=]FILE` as an XR identity and its response."""
    xr, _, path = spec.rpartition("=")
    namespace, _, name = xr.rpartition("/")
    return (namespace, name), fnv1.RunFunctionResponse.FromString(Path(path).read_bytes())


@click.command()
@sdkcli.standard_options
@click.option("--response", "responses", required=True, multiple=True)
def cli(responses: tuple[str, ...], **kwargs: object) -> None:
    """Serve the prebuilt responses ([NAMESPACE/NAME=]FILE: a serialized RunFunctionResponse)."""
    sdkcli.run(FloorRunner(dict(map(_prebuilt, responses))), **kwargs)  # type: ignore[arg-type]


if __name__ == "__main__":
    cli()
