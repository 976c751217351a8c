"""The gRPC servicer: request -> spec -> builders -> status -> response. Glue only.

What it reuses between calls (responses, parsed specs, serialized resources) lives in
function/reuse.py.
"""

import asyncio
import threading
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
        self._lock = threading.Lock()
        self._in_flight = 0  # calls handed to the worker; touched only by the event loop
        self._queued = False  # whether calls queued since the queue last drained

    async def RunFunction(  # noqa: N802 - gRPC requires this name.
        self, req: fnv1.RunFunctionRequest, _: ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Run the function. Never raises: an unexpected error becomes one Fatal result.

        A request answered as before (see `_as_before`) is answered here, on the event loop's
        thread, when no call is being composed. Other work runs in one worker thread so that
        the event loop stays free to accept the calls that arrive meanwhile (up to the
        server's bound, function/server.py) and to stop the server on SIGTERM: accepted calls
        queue here and finish within the grace period. One thread: the work holds the GIL, so
        more would add memory (an allocator arena each), not speed. The memos are touched
        only under a lock. When a queue has drained, the worker gives the memory it grew back
        to the system.
        """
        rsp, checked = self._as_before(req)
        if rsp is None:
            loop = asyncio.get_running_loop()
            self._in_flight += 1
            self._queued = self._queued or self._in_flight > 1
            try:
                rsp = await loop.run_in_executor(self._worker, self.answer, req, not checked)
            finally:
                self._in_flight -= 1
                if self._in_flight == 0 and self._queued:
                    self._queued = False
                    loop.run_in_executor(self._worker, memory.release)
        # A kept response carries the tag of the call it last answered. The tag is set here,
        # on the event loop's thread, where gRPC serializes the response as soon as this
        # returns, with no other call's code in between; nothing else writes to a kept
        # response. So each call gets its own tag without a copy of the response.
        rsp.meta.tag = req.meta.tag
        return rsp

    def _as_before(
        self, req: fnv1.RunFunctionRequest
    ) -> tuple[fnv1.RunFunctionResponse | None, bool]:
        """The kept response for a repeat, or for a request that observes the same, if any.

        Also whether the memos were checked: never waits for another call that holds them.
        Never parses a spec, never composes, never raises.
        """
        if not self._lock.acquire(blocking=False):
            return None, False
        try:
            xr = xr_identity(req.observed.composite.resource)
            kept = self._memos.response(xr, req.meta.tag)
            if kept is None:
                kept = self._memos.composed_before(xr, req, Observed(req.observed.resources))
                if kept is not None:
                    self._memos.keep_response(xr, req.meta.tag, kept)
        except Exception:  # The worker answers instead, and reports what fails there.
            return None, False
        finally:
            self._lock.release()
        return kept, True

    def answer(self, req: fnv1.RunFunctionRequest, reuse: bool = True) -> fnv1.RunFunctionResponse:
        """The response to a request: kept from last time if unchanged, else run. Never raises.

        The response may be one kept from an earlier call, with that call's meta.tag: the
        caller sets the tag (RunFunction does). `run` gives a response of its own instead.
        `reuse` False: the caller checked the memos a moment ago and found nothing; compose.
        """
        with self._lock:
            return self._answer(req, reuse)

    def _answer(self, req: fnv1.RunFunctionRequest, reuse: bool) -> fnv1.RunFunctionResponse:
        tag = req.meta.tag
        xr = xr_identity(req.observed.composite.resource)
        kept = self._memos.response(xr, tag) if reuse else None
        if kept is not None:
            self.log.debug("unchanged request; answered as before", tag=tag)
            return kept
        try:
            rsp, _ = self._respond(req, reuse)
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
        """Compose the environment, or answer with one Fatal result that lists every problem.

        The response is the caller's own, tagged like the request.
        """
        with self._lock:
            rsp, shared = self._respond(req, reuse=True)
        if shared:
            own = fnv1.RunFunctionResponse()
            own.CopyFrom(rsp)
            own.meta.tag = req.meta.tag
            return own
        return rsp

    def _respond(
        self, req: fnv1.RunFunctionRequest, reuse: bool
    ) -> tuple[fnv1.RunFunctionResponse, bool]:
        """The response, and whether it is kept for later calls (then not to be changed)."""
        xr = xr_identity(req.observed.composite.resource)
        log = self.log.bind(xr=xr[1])
        try:
            env = self._memos.environment(req)
        except resolve.SpecError as e:
            log.info("invalid spec", problems=len(e.problems))
            rsp = response.to(req)
            response.fatal(rsp, _invalid(_kind(req), e.problems))
            return rsp, False

        observed = Observed(req.observed.resources)
        kept = self._memos.composed_before(xr, req, observed, env) if reuse else None
        if kept is not None:
            log.debug("observed state answers as before; composed as before")
            return kept, True

        rsp = response.to(req)
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
            return rsp, False
        self._memos.write_desired(rsp, out.desired, xr)
        ttl = status.write(rsp, env, observed, out)
        log.debug("composed", resources=len(out.desired), waiting=len(out.waiting), ttl_seconds=ttl)
        too_large = ceilings.over_crossplane_limit(req, rsp, env, shards.sharded(env, observed))
        if too_large is not None:
            log.info("response over Crossplane's receive limit", size=rsp.ByteSize())
            rsp = too_large
        self._memos.keep_composed(xr, req, env, observed, rsp)
        return rsp, True


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
