"""What the runner reuses between calls, so that an XR in steady state costs little.

In steady state Crossplane resends an XR's request, unchanged, at every TTL. It tags each
request with a hash of its content ("requests with identical tags will be otherwise
identical"), so meta.tag identifies a repeat. Keyed by the XR, `Memos` keeps:

- its last response and that request's tag: a repeat gets the same response object back;
- what that response was composed from: the parsed spec, the rest of the request but the
  observed resources, and the facts (function/observed.py: every question the builders and
  the status asked of the observed state, with its answer). A request with a new tag whose
  observed state answers every question the same way (one resource's status moved on, but
  nothing composed reads that) gets that response with its own tag, uncomposed. Questions
  about a resource whose resourceVersion is the same as then are not asked again;
- its parsed spec, keyed on the XR but its status, and the input: a readiness change rewrites
  only the status, so the spec is not parsed again;
- its desired resources as last serialized: those that come out the same are merged from
  their bytes instead of being converted again.

Nothing here is locked: the runner touches it only while it holds its lock.
"""

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from function import resolve, structs
from function.compose.common import Desired
from function.observed import Evidence, Observed, confirms, evidence

# XRs whose last response is kept for when their request comes again (ControlPlaneGroups too).
RESPONSES_KEPT = 1024
# What the kept responses, and the serialized resources kept beside them, may weigh (bytes
# each): a sharded environment of 2,000 control planes is 101 XRs of about 0.6 MiB in all.
BYTES_KEPT = 64 << 20
# Parsed specs kept (within BYTES_KEPT of what they were parsed from): a readiness change
# leaves the spec as it was, and a sharded environment's XRs each have one.
ENVIRONMENTS_KEPT = RESPONSES_KEPT

K = TypeVar("K")
V = TypeVar("V")

# An XR's namespace and name.
Xr = tuple[str, str]
_EnvironmentKey = tuple[tuple[str, object], ...]
# Request fields that are not the observed state or the tag, serialized.
_RestOfRequest = bytes
# A desired resource as last written: its dict, its readiness, its serialized State entry.
_Written = tuple[dict[str, Any], bool, bytes]
# XR metadata that changes with every write of its status, and that parsing never reads.
_VOLATILE_METADATA = frozenset({"resourceVersion", "managedFields"})


class Lru(Generic[K, V]):
    """Keeps the most recently used values: at most `size` of them, weighing at most `budget`."""

    def __init__(self, size: int, budget: int | None = None) -> None:
        """An empty memo that holds at most `size` values and `budget` of their weight."""
        self._size = size
        self._budget = budget
        self._items: OrderedDict[K, tuple[V, int]] = OrderedDict()
        self._weight = 0

    def get(self, key: K) -> V | None:
        """The value for `key`, or None."""
        item = self._items.get(key)
        if item is None:
            return None
        self._items.move_to_end(key)
        return item[0]

    def put(self, key: K, value: V, weight: int = 1) -> None:
        """Remember `value`, forgetting the least recently used values past size or budget."""
        old = self._items.pop(key, None)
        if old is not None:
            self._weight -= old[1]
        self._items[key] = (value, weight)
        self._weight += weight
        budget = self._budget
        while len(self._items) > self._size or (
            budget is not None and self._weight > budget and len(self._items) > 1
        ):
            _, (_, dropped) = self._items.popitem(last=False)
            self._weight -= dropped

    def __len__(self) -> int:
        """How many values are kept."""
        return len(self._items)


@dataclass(frozen=True, slots=True)
class _Composed:
    """A response and what it was composed from."""

    env: resolve.Environment
    rest: _RestOfRequest
    evidence: Evidence
    response: fnv1.RunFunctionResponse
    size: int  # the response's, serialized


class Memos:
    """The responses, parsed specs and serialized resources kept for recent XRs."""

    def __init__(self) -> None:
        """Empty memos."""
        kept = (RESPONSES_KEPT, BYTES_KEPT)
        self._responses: Lru[Xr, tuple[str, fnv1.RunFunctionResponse]] = Lru(*kept)
        self._environments: Lru[_EnvironmentKey, resolve.Environment] = Lru(
            ENVIRONMENTS_KEPT, BYTES_KEPT
        )
        self._written: Lru[Xr, dict[str, _Written]] = Lru(*kept)
        self._composed: Lru[Xr, _Composed] = Lru(*kept)

    def response(self, xr: Xr, tag: str) -> fnv1.RunFunctionResponse | None:
        """The response kept for the XR's request with this tag, or None (always when untagged).

        The same object as before: callers must not change it.
        """
        if not tag:
            return None
        kept = self._responses.get(xr)
        return kept[1] if kept is not None and kept[0] == tag else None

    def keep_response(self, xr: Xr, tag: str, rsp: fnv1.RunFunctionResponse) -> None:
        """Keep the response to the XR's request with this tag (nothing when untagged)."""
        if tag:
            composed = self._composed.get(xr)
            size = composed.size if composed is not None and composed.response is rsp else None
            self._responses.put(xr, (tag, rsp), rsp.ByteSize() if size is None else size)

    def composed_before(
        self,
        xr: Xr,
        req: fnv1.RunFunctionRequest,
        observed: Observed,
        env: resolve.Environment | None = None,
    ) -> fnv1.RunFunctionResponse | None:
        """The XR's last composed response, if this request would compose it again.

        That is when the spec is the same (the same parsed Environment), the request but its
        observed resources and tag is the same, and the observed resources answer every
        question the last composition asked as they did then. Without `env`, the parsed spec
        is looked up, never parsed. The same object as before,
        with the tag it was last answered with: callers must not change it but for the tag.
        """
        kept = self._composed.get(xr)
        if kept is None or kept.rest != _rest_of(req):
            return None
        if env is None:  # the parsed spec if it is kept, without parsing it
            env = self._environments.get(_environment_key(req))
        if kept.env is not env:
            return None
        if not confirms(observed, kept.evidence):
            return None
        return kept.response

    def keep_composed(
        self,
        xr: Xr,
        req: fnv1.RunFunctionRequest,
        env: resolve.Environment,
        observed: Observed,
        rsp: fnv1.RunFunctionResponse,
    ) -> None:
        """Keep a composed response with what it was composed from (see `composed_before`)."""
        size = rsp.ByteSize()
        composed = _Composed(env, _rest_of(req), evidence(observed), rsp, size)
        self._composed.put(xr, composed, size)

    def environment(self, req: fnv1.RunFunctionRequest) -> resolve.Environment:
        """The parsed spec; parsed again only when the XR (but its status) or the input change.

        Raises:
            resolve.SpecError: the spec or the input is invalid.
        """
        key = _environment_key(req)
        env = self._environments.get(key)
        if env is None:
            function_input = resource.struct_to_dict(req.input) if req.HasField("input") else None
            xr = req.observed.composite.resource
            env = resolve.parse(resource.struct_to_dict(xr), function_input)
            self._environments.put(key, env, _size(key))
        return env

    def write_desired(self, rsp: fnv1.RunFunctionResponse, desired: list[Desired], xr: Xr) -> None:
        """Write the desired resources, reusing what was serialized for the XR's last call.

        Most resources come out the same call after call. Each one that no earlier step
        desired is kept as the bytes of a State holding just its entry; those that equal
        what was written last time are merged in one go, concatenated (protobuf merges the
        map entries), instead of being converted again. Builders give each field one type,
        so dict equality (where True == 1) is enough to tell.
        """
        previous = self._written.get(xr) or {}
        written: dict[str, _Written] = {}
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
        self._written.put(xr, written, sum(len(w[2]) for w in written.values()))


def xr_identity(xr: Any) -> Xr:
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


def _environment_key(req: fnv1.RunFunctionRequest) -> _EnvironmentKey:
    """The XR but its status, and the input, serialized: what resolve.parse may read.

    Metadata fields that change with every write of the XR's status are left out.
    """
    xr = req.observed.composite.resource
    function_input = req.input if req.HasField("input") else None
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


def _size(key: _EnvironmentKey) -> int:
    """About what a parsed spec weighs: the bytes of what it was parsed from."""
    size = 0
    for _, value in key:
        if isinstance(value, bytes):
            size += len(value)
        elif isinstance(value, tuple):
            size += sum(len(part) for _, part in value if isinstance(part, bytes))
    return size


def _rest_of(req: fnv1.RunFunctionRequest) -> _RestOfRequest:
    """Every field of the request but its tag and observed state, serialized."""
    rest = fnv1.RunFunctionRequest()
    for field, value in req.ListFields():
        if field.name not in ("meta", "observed"):
            getattr(rest, field.name).MergeFrom(value)
    return rest.SerializeToString(deterministic=True)


def _serialized(message: Any) -> bytes | None:
    return None if message is None else bytes(message.SerializeToString())


def _ready(ready: bool) -> Any:
    """A composed resource's readiness as the protobuf enum."""
    return fnv1.READY_TRUE if ready else fnv1.READY_FALSE
