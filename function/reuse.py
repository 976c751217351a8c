"""What the runner reuses between calls, so that an XR in steady state costs little.

In steady state Crossplane resends an XR's request, unchanged, at every TTL. It tags each
request with a hash of its content ("requests with identical tags will be otherwise
identical"), so meta.tag identifies a repeat. Keyed by the XR, `Memos` keeps:

- its last response and that request's tag: a repeat gets the same response object back;
- its parsed spec, keyed on the XR but its status, and the input: a readiness change rewrites
  only the status, so the spec is not parsed again;
- its desired resources as last serialized: those that come out the same are merged from
  their bytes instead of being converted again.

Nothing here is locked: the runner touches all of it only from its single worker thread.
"""

from collections import OrderedDict
from typing import Any, Generic, TypeVar

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from function import resolve, structs
from function.compose.common import Desired

# XRs whose last response is kept for when their request comes again unchanged.
RESPONSES_KEPT = 16
# Parsed specs kept: a readiness change leaves the spec as it was.
ENVIRONMENTS_KEPT = 16

K = TypeVar("K")
V = TypeVar("V")

# An XR's namespace and name.
Xr = tuple[str, str]
_EnvironmentKey = tuple[tuple[str, object], ...]
# A desired resource as last written: its dict, its readiness, its serialized State entry.
_Written = tuple[dict[str, Any], bool, bytes]
# XR metadata that changes with every write of its status, and that parsing never reads.
_VOLATILE_METADATA = frozenset({"resourceVersion", "managedFields"})


class Lru(Generic[K, V]):
    """Keeps the `size` most recently used values."""

    def __init__(self, size: int) -> None:
        """An empty memo that holds at most `size` values."""
        self._size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        """The value for `key`, or None."""
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        """Remember `value`, forgetting the least recently used value when full."""
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        """How many values are kept."""
        return len(self._items)


class Memos:
    """The responses, parsed specs and serialized resources kept for recent XRs."""

    def __init__(self) -> None:
        """Empty memos."""
        self._responses: Lru[Xr, tuple[str, fnv1.RunFunctionResponse]] = Lru(RESPONSES_KEPT)
        self._environments: Lru[_EnvironmentKey, resolve.Environment] = Lru(ENVIRONMENTS_KEPT)
        self._written: Lru[Xr, dict[str, _Written]] = Lru(RESPONSES_KEPT)

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
            self._responses.put(xr, (tag, rsp))

    def environment(self, req: fnv1.RunFunctionRequest) -> resolve.Environment:
        """The parsed spec; parsed again only when the XR (but its status) or the input change.

        Raises:
            resolve.SpecError: the spec or the input is invalid.
        """
        xr = req.observed.composite.resource
        key = _environment_key(xr, req.input if req.HasField("input") else None)
        env = self._environments.get(key)
        if env is None:
            function_input = resource.struct_to_dict(req.input) if req.HasField("input") else None
            env = resolve.parse(resource.struct_to_dict(xr), function_input)
            self._environments.put(key, env)
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
        self._written.put(xr, written)


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


def _environment_key(xr: Any, function_input: Any) -> _EnvironmentKey:
    """The XR but its status, and the input, serialized: what resolve.parse may read.

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


def _ready(ready: bool) -> Any:
    """A composed resource's readiness as the protobuf enum."""
    return fnv1.READY_TRUE if ready else fnv1.READY_FALSE
