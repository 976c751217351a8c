"""The gRPC servicer: request -> spec -> builders -> response. Glue only."""

import asyncio
import datetime
import traceback
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import grpc
from crossplane.function import logging, resource, response
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from pydantic import SecretStr

from function import credentials, spec, status, structs
from function.compose import compose
from function.compose.common import Desired
from function.memo import Lru
from function.observed import Observed

# XRs whose last response is kept for when their request comes again unchanged.
RESPONSES_KEPT = 16
# Parsed specs kept: a readiness change leaves the spec as it was.
ENVIRONMENTS_KEPT = 16

_EnvironmentKey = tuple[tuple[str, object], ...]
# XR metadata that changes with every write of its status, and that parsing never reads.
_VOLATILE_METADATA = frozenset({"resourceVersion", "managedFields"})


class FunctionRunner(grpcv1.FunctionRunnerServiceServicer):
    """Composes an Upbound environment from an UpboundEnvironment XR."""

    def __init__(self) -> None:
        """Create a new FunctionRunner."""
        self.log = logging.get_logger()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="run-function")
        self._responses: Lru[tuple[str, str], tuple[str, fnv1.RunFunctionResponse]] = Lru(
            RESPONSES_KEPT
        )
        self._environments: Lru[_EnvironmentKey, spec.Environment] = Lru(ENVIRONMENTS_KEPT)
        self._written: Lru[tuple[str, str], dict[str, tuple[dict[str, Any], bool, bytes]]] = Lru(
            RESPONSES_KEPT
        )

    async def RunFunction(  # noqa: N802 - gRPC requires this name.
        self, req: fnv1.RunFunctionRequest, _: grpc.aio.ServicerContext | None = None
    ) -> fnv1.RunFunctionResponse:
        """Run the function. Never raises: an unexpected error becomes one Fatal result.

        The work runs in one worker thread so that the event loop stays free to accept every
        call that arrives meanwhile: the SDK's graceful stop on SIGTERM lets accepted calls
        finish, but cancels calls the busy loop had not yet accepted. One thread: the work
        holds the GIL, so more would add memory (an allocator arena each), not speed; and the
        memos below are only ever touched from it.
        """
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, self.answer, req)

    def answer(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """The response to a request: kept from last time if unchanged, else composed.

        Crossplane tags each request with a hash of its content ("requests with identical
        tags will be otherwise identical"), and in steady state it sends the same request at
        every TTL. When an XR's request has the tag of its previous one, it gets the response
        composed then (the same object: callers must not change it).
        """
        tag = req.meta.tag
        xr = _xr_identity(req.observed.composite.resource)
        if tag:
            kept = self._responses.get(xr)
            if kept is not None and kept[0] == tag:
                self.log.debug("unchanged request; answered as before", tag=tag)
                return kept[1]
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
        if tag:
            self._responses.put(xr, (tag, rsp))
        return rsp

    def run(self, req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
        """Compose the environment, or answer with one Fatal result that lists every problem."""
        rsp = response.to(req)
        log = self.log.bind(xr=_xr_identity(req.observed.composite.resource)[1])
        try:
            env = self._environment(req)
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
        self._write_desired(rsp, out.desired, _xr_identity(req.observed.composite.resource))

        entries = status.control_planes(env, observed, out)
        # The XR's status from earlier steps stays; controlPlanes and summary are this step's.
        xr_status = rsp.desired.composite.resource.fields["status"]
        if xr_status.WhichOneof("kind") != "struct_value":
            xr_status.struct_value.Clear()
        structs.write(
            xr_status.struct_value,
            {"controlPlanes": entries, "summary": status.summary(env, entries)},
        )
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

    def _write_desired(
        self, rsp: fnv1.RunFunctionResponse, desired: list[Desired], xr: tuple[str, str]
    ) -> None:
        """Write the desired resources, reusing what was serialized for the XR's last call.

        Most resources come out the same call after call. Each one that no earlier step
        desired is kept as the bytes of a State holding just its entry; those that equal
        what was written last time are merged in one go, concatenated (protobuf merges the
        map entries), instead of being converted again. Builders give each field one type,
        so dict equality (where True == 1) is enough to tell.
        """
        previous = self._written.get(xr) or {}
        written: dict[str, tuple[dict[str, Any], bool, bytes]] = {}
        reused: list[bytes] = []
        resources = rsp.desired.resources
        for item in sorted(desired, key=lambda d: d.name):
            if item.name in resources:  # an earlier step desired it too: update it
                composed = resources[item.name]
                structs.write(composed.resource, item.resource)
                composed.ready = _ready(item.ready)
                continue
            kept = previous.get(item.name)
            if kept is not None and kept[1] == item.ready and kept[0] == item.resource:
                reused.append(kept[2])
                written[item.name] = kept
                continue
            entry = fnv1.State()
            composed = entry.resources[item.name]
            structs.write(composed.resource, item.resource)
            composed.ready = _ready(item.ready)
            chunk = entry.SerializeToString()
            reused.append(chunk)
            written[item.name] = (item.resource, item.ready, chunk)
        rsp.desired.MergeFromString(b"".join(reused))
        self._written.put(xr, written)

    def _environment(self, req: fnv1.RunFunctionRequest) -> spec.Environment:
        """The parsed spec; parsed again only when the XR (but its status) or the input change."""
        xr = req.observed.composite.resource
        key = _environment_key(xr, req.input if req.HasField("input") else None)
        env = self._environments.get(key)
        if env is None:
            function_input = resource.struct_to_dict(req.input) if req.HasField("input") else None
            env = spec.parse(resource.struct_to_dict(xr), function_input)
            self._environments.put(key, env)
        return env


def _environment_key(xr: Any, function_input: Any) -> _EnvironmentKey:
    """The XR but its status, and the input, serialized: what spec.parse may read.

    Metadata fields that change with every write of the XR's status are left out.
    """
    parts: list[tuple[str, object]] = []
    for name, value in sorted(xr.fields.items()):
        if name == "status":
            continue
        if name == "metadata" and value.WhichOneof("kind") == "struct_value":
            kept = value.struct_value.fields.items()
            metadata = tuple(
                sorted((k, _serialized(v)) for k, v in kept if k not in _VOLATILE_METADATA)
            )
            parts.append((name, metadata))
        else:
            parts.append((name, _serialized(value)))
    parts.append(("input", _serialized(function_input)))
    return tuple(parts)


def _serialized(message: Any) -> bytes | None:
    return None if message is None else bytes(message.SerializeToString())


def _xr_identity(xr: Any) -> tuple[str, str]:
    """The XR's namespace and name, without converting the XR ("" when absent)."""
    metadata = xr.fields.get("metadata")
    if metadata is None or metadata.WhichOneof("kind") != "struct_value":
        return "", ""
    fields = metadata.struct_value.fields
    namespace, name = fields.get("namespace"), fields.get("name")
    return (
        str(namespace.string_value) if namespace is not None else "",
        str(name.string_value) if name is not None else "",
    )


def _ready(ready: bool) -> Any:
    """A composed resource's readiness as the protobuf enum."""
    return fnv1.READY_TRUE if ready else fnv1.READY_FALSE


def _invalid(what: str, problems: list[str]) -> str:
    """The Fatal message for invalid input: every problem, and that nothing was changed."""
    listed = "\n".join(f"- {p}" for p in problems)
    return f"invalid {what}; nothing was changed until it is fixed:\n{listed}"
