"""The gRPC servicer: request -> spec -> builders -> status -> response. Glue only.

What it reuses between calls (responses, parsed specs, serialized resources) lives in
function/reuse.py.
"""

import asyncio
import traceback
from concurrent.futures import ThreadPoolExecutor

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging, response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from pydantic import SecretStr

from function import ceilings, credentials, memory, resolve, status
from function.compose import compose, shards, uses_token
from function.observed import Observed
from function.reuse import Memos, xr_identity

# What grpc.aio passes a servicer's method beside the request.
ServicerContext = grpc.aio.ServicerContext[fnv1.RunFunctionRequest, fnv1.RunFunctionResponse]


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """Composes an Upbound environment from an UpboundEnvironment XR."""

    def __init__(self) -> None:
        """Create a new FunctionRunner."""
        self.log = logging.get_logger()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-function")
        self._memos = Memos()
        self._in_flight = 0  # calls in RunFunction; touched only by the event loop
        self._queued = False  # whether calls queued since the queue last drained

    async def RunFunction(  # noqa: N802 - gRPC requires this name.
        self, req: fnv1.RunFunctionRequest, _: ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Run the function. Never raises: an unexpected error becomes one Fatal result.

        The work runs in one worker thread so that the event loop stays free to accept the
        calls that arrive meanwhile (up to the server's bound, function/server.py) and to
        stop the server on SIGTERM: accepted calls queue here and finish within the grace
        period. One thread: the work holds the GIL, so more would add memory (an allocator
        arena each), not speed; and the memos are only ever touched from it. When a queue
        has drained, the worker gives the memory it grew back to the system.
        """
        loop = asyncio.get_running_loop()
        self._in_flight += 1
        self._queued = self._queued or self._in_flight > 1
        try:
            return await loop.run_in_executor(self._worker, self.answer, req)
        finally:
            self._in_flight -= 1
            if self._in_flight == 0 and self._queued:
                self._queued = False
                loop.run_in_executor(self._worker, memory.release)

    def answer(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """The response to a request: kept from last time if unchanged, else run. Never raises."""
        tag = req.meta.tag
        xr = xr_identity(req.observed.composite.resource)
        kept = self._memos.response(xr, tag)
        if kept is not None:
            self.log.debug("unchanged request; answered as before", tag=tag)
            return kept
        try:
            rsp = self.run(req)
        except Exception as e:  # The last resort that keeps Crossplane safe.
            # Log where it failed, not the exception's text or locals: they may hold secrets.
            where = traceback.extract_tb(e.__traceback__)[-1]
            self.log.error(
                "unexpected error", error=type(e).__name__, at=f"{where.filename}:{where.lineno}"
            )
            rsp = response.to(req)
            response.fatal(rsp, f"internal error ({type(e).__name__}); see the function's logs")
            return rsp
        self._memos.keep_response(xr, tag, rsp)
        return rsp

    def run(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """Compose the environment, or answer with one Fatal result that lists every problem."""
        rsp = response.to(req)
        xr = xr_identity(req.observed.composite.resource)
        log = self.log.bind(xr=xr[1])
        try:
            env = self._memos.environment(req)
        except resolve.SpecError as e:
            log.info("invalid spec", problems=len(e.problems))
            response.fatal(rsp, _invalid(_kind(req), e.problems))
            return rsp

        observed = Observed(req.observed.resources)
        token: SecretStr | None = None
        token_problem: str | None = None  # Not Fatal: only Argo CD clusters wait for it.
        if uses_token(env, observed):
            ref = env.argocd.token_secret_ref
            credentials.require_token(rsp, ref)
            try:
                token = credentials.read_token(req, ref)
            except credentials.CredentialError as e:
                token_problem = str(e)

        try:
            out = compose(env, observed, token, token_problem)
        except resolve.SpecError as e:
            response.fatal(rsp, _invalid(_kind(req), e.problems))
            return rsp
        self._memos.write_desired(rsp, out.desired, xr)
        ttl = status.write(rsp, env, observed, out)
        log.debug("composed", resources=len(out.desired), waiting=len(out.waiting), ttl_seconds=ttl)
        too_large = ceilings.over_crossplane_limit(req, rsp, env, shards.sharded(env, observed))
        if too_large is not None:
            log.info("response over Crossplane's receive limit", size=rsp.ByteSize())
            return too_large
        return rsp


def _kind(req: fnv1.RunFunctionRequest) -> str:
    """The XR's kind, as the request names it (UpboundEnvironment when it names none)."""
    kind = req.observed.composite.resource.fields.get("kind")
    return (
        str(kind.string_value) if kind is not None and kind.string_value else "UpboundEnvironment"
    )


def _invalid(what: str, problems: list[str]) -> str:
    """The Fatal message for invalid input: every problem, and that nothing was changed."""
    listed = "\n".join(f"- {p}" for p in problems)
    return f"invalid {what}; nothing was changed until it is fixed:\n{listed}"
