"""The gRPC servicer: request -> spec -> builders -> response. Glue only."""

import asyncio
import datetime
import traceback
from concurrent.futures import ThreadPoolExecutor

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging, resource, response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from pydantic import SecretStr

from function import credentials, spec, status
from function.compose import compose
from function.observed import Observed


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """Composes an Upbound environment from an UpboundEnvironment XR."""

    def __init__(self) -> None:
        """Create a new FunctionRunner."""
        self.log = logging.get_logger()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-function")

    async def RunFunction(  # noqa: N802 - gRPC requires this name.
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Run the function. Never raises: an unexpected error becomes one Fatal result.

        The work runs in a worker thread so that the event loop stays free to accept every
        call that arrives meanwhile: the SDK's graceful stop on SIGTERM lets accepted calls
        finish, but cancels calls the busy loop had not yet accepted. One worker: the work
        holds the GIL, so more threads would add memory (an allocator arena each), not speed.
        """
        try:
            loop = asyncio.get_running_loop()
            return await loop.run_in_executor(self._worker, self.run, req)
        except Exception as e:  # The last resort that keeps Crossplane safe.
            # Log where it failed, not the exception's text or locals: they may hold secrets.
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.log.error(
                "unexpected error", error=type(e).__name__, at=f"{where.filename}:{where.lineno}"
            )
            rsp = response.to(req)
            response.fatal(rsp, f"internal error ({type(e).__name__}); see the function's logs")
            return rsp

    def run(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """Compose the environment, or answer with one Fatal result that lists every problem."""
        rsp = response.to(req)
        xr = resource.struct_to_dict(req.observed.composite.resource)
        log = self.log.bind(xr=xr.get("metadata", {}).get("name", ""))
        function_input = resource.struct_to_dict(req.input) if req.HasField("input") else None
        try:
            env = spec.parse(xr, function_input)
        except spec.SpecError as e:
            log.info("invalid spec", problems=len(e.problems))
            response.fatal(rsp, _invalid("UpboundEnvironment", e.problems))
            return rsp

        token: SecretStr | None = None
        if env.uses_token:
            ref = env.argocd.token_secret_ref
            credentials.require_token(rsp, ref)
            try:
                token = credentials.read_token(req, ref)
            except credentials.CredentialError as e:
                response.fatal(rsp, _invalid("UpboundEnvironment", [str(e)]))
                return rsp

        observed = Observed(req.observed.resources)
        out = compose(env, observed, token)
        for desired in sorted(out.desired, key=lambda d: d.name):
            composed = rsp.desired.resources[desired.name]
            composed.resource.update(desired.resource)
            composed.ready = fnv1.READY_TRUE if desired.ready else fnv1.READY_FALSE

        entries = status.control_planes(env, observed, out)
        xr_status = resource.struct_to_dict(rsp.desired.composite.resource).get("status", {})
        xr_status.update(controlPlanes=entries, summary=status.summary(env, entries))
        resource.update(rsp.desired.composite, {"status": xr_status})
        response.set_conditions(rsp, status.condition(entries, out))
        for warning in out.warnings:
            response.warning(rsp, warning)
        ttl = env.ttl.ready_seconds
        if out.waiting:
            response.normal(rsp, status.waiting_message(out))
            rsp.desired.composite.ready = fnv1.READY_FALSE
            ttl = env.ttl.waiting_seconds
        elif not all(d.ready for d in out.desired):
            ttl = env.ttl.waiting_seconds
        rsp.meta.ttl.FromTimedelta(datetime.timedelta(seconds=ttl))
        log.debug("composed", resources=len(out.desired), waiting=len(out.waiting), ttl_seconds=ttl)
        return rsp


def _invalid(what: str, problems: list[str]) -> str:
    """The Fatal message for invalid input: every problem, and that nothing was changed."""
    listed = "\n".join(f"- {p}" for p in problems)
    return f"invalid {what}; nothing was changed until it is fixed:\n{listed}"
