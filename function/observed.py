"""A read-only view of the composed resources Crossplane observed, read once per call."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource
from google.protobuf import struct_pb2

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Fields of an observed resource that a desired copy of it keeps.
_KEPT_METADATA = ("name", "namespace", "labels", "annotations")


class Observed:
    """What exists, what is ready, and the connection details, by composition resource name."""

    def __init__(self, resources: Mapping[str, fnv1.Resource]) -> None:
        """Wrap the observed composed resources of a RunFunctionRequest."""
        self._resources = resources
        self._ready: dict[str, bool] = {}

    def exists(self, name: str) -> bool:
        """Whether the composed resource exists."""
        return name in self._resources

    def ready(self, name: str) -> bool:
        """Whether the composed resource exists and its Ready condition is True."""
        cached = self._ready.get(name)
        if cached is None:
            observed = self._resources.get(name)
            cached = observed is not None and _ready_condition(observed.resource) == "True"
            self._ready[name] = cached
        return cached

    def connection_detail(self, name: str, key: str) -> bytes | None:
        """One connection detail of a composed resource, if Crossplane sent it."""
        observed = self._resources.get(name)
        if observed is None or key not in observed.connection_details:
            return None
        return bytes(observed.connection_details[key])

    def annotation(self, name: str, key: str) -> str | None:
        """One annotation of a composed resource; None when absent or not a string."""
        return self.string_at(name, "metadata", "annotations", key)

    def string_at(self, name: str, *path: str) -> str | None:
        """The string at `path` in a composed resource; None when absent or of another shape."""
        observed = self._resources.get(name)
        if observed is None:
            return None
        struct = observed.resource
        *parents, leaf = path
        for field in parents:
            value = struct.fields.get(field)
            if value is None or value.WhichOneof("kind") != "struct_value":
                return None
            struct = value.struct_value
        value = struct.fields.get(leaf)
        if value is None or value.WhichOneof("kind") != "string_value":
            return None
        return str(value.string_value)

    def without(self, leave_out: Callable[[str], bool]) -> Observed:
        """A view of the same observed state without the resources `leave_out` names."""
        return Observed({n: r for n, r in self._resources.items() if not leave_out(n)})

    def all_names(self) -> Iterator[str]:
        """Every observed composition resource name, sorted."""
        return iter(sorted(self._resources))

    def names(self, kind: str) -> Iterator[str]:
        """The observed composition resource names of one kind (`kind.` prefix), sorted."""
        prefix = f"{kind}."
        return iter(sorted(n for n in self._resources if n.startswith(prefix)))

    def spec(self, name: str) -> dict[str, Any]:
        """The observed spec of a composed resource ({} when absent or not a mapping)."""
        return self._mapping(name, "spec")

    def metadata_name(self, name: str) -> str | None:
        """The observed resource's metadata.name, if it exists and is a DNS-1123 label."""
        observed = self._resources.get(name)
        value = None if observed is None else _at(observed.resource, "metadata", "name")
        return value if isinstance(value, str) and _DNS_LABEL.fullmatch(value) else None

    def malformed(self, name: str) -> str | None:
        """Why an observed resource cannot be read as a composed resource, or None if it can.

        Crossplane always sends apiVersion, kind and mappings for metadata and spec; anything
        else (from `crossplane render`'s observed files, or a bug) concerns this resource only.
        """
        observed = self._resources.get(name)
        if observed is None:
            return None
        body = observed.resource
        for key in ("apiVersion", "kind"):
            if key not in body or not isinstance(body[key], str) or not body[key]:
                return f"the observed resource has no {key}"
        for key in ("metadata", "spec"):
            if key in body and not isinstance(body[key], struct_pb2.Struct):
                return f"the observed resource's {key} is not a mapping"
        annotations = _at(body, "metadata", "annotations")
        if annotations is None:
            return None
        if not isinstance(annotations, struct_pb2.Struct) or not all(
            isinstance(v, str) for _, v in annotations.items()
        ):
            return "the observed resource's metadata.annotations are not a mapping of strings"
        return None

    def status(self, name: str) -> dict[str, Any]:
        """The observed status of a composed resource ({} when absent or not a mapping)."""
        return self._mapping(name, "status")

    def _mapping(self, name: str, key: str) -> dict[str, Any]:
        """A top-level field of a composed resource that should be a mapping, or {}."""
        observed = self._resources.get(name)
        if observed is None or key not in observed.resource:
            return {}
        value = observed.resource[key]
        return resource.struct_to_dict(value) if isinstance(value, struct_pb2.Struct) else {}

    def as_desired(self, name: str) -> dict[str, Any]:
        """The observed resource as a desired one, so that Crossplane keeps it as it is.

        A malformed one (see `malformed`) comes back as observed, without its status.
        """
        observed = resource.struct_to_dict(self._resources[name].resource)
        if self.malformed(name) is not None:
            return {k: v for k, v in observed.items() if k != "status"}
        metadata = observed.get("metadata", {})
        return {
            "apiVersion": observed["apiVersion"],
            "kind": observed["kind"],
            "metadata": {k: metadata[k] for k in _KEPT_METADATA if metadata.get(k) is not None},
            "spec": observed.get("spec", {}),
        }


def _at(struct: struct_pb2.Struct, *path: str) -> Any:
    """The value at `path` in a Struct, or None where a step is missing or not a mapping."""
    value: Any = struct
    for key in path:
        if not isinstance(value, struct_pb2.Struct) or key not in value:
            return None
        value = value[key]
    return value


def _ready_condition(struct: Any) -> str:
    """The status of the Ready condition in a resource Struct, read from its fields directly."""
    fields = struct.fields
    status = fields.get("status")
    if status is None or status.WhichOneof("kind") != "struct_value":
        return _ready_condition_of_odd_shape(struct)
    conditions = status.struct_value.fields.get("conditions")
    if conditions is None or conditions.WhichOneof("kind") != "list_value":
        return _ready_condition_of_odd_shape(struct)
    for condition in conditions.list_value.values:
        entry = condition.struct_value.fields
        kind, value = entry.get("type"), entry.get("status")
        if kind is None or value is None or value.WhichOneof("kind") != "string_value":
            return _ready_condition_of_odd_shape(struct)
        if kind.string_value == "Ready":
            return str(value.string_value)
    return "Unknown"


def _ready_condition_of_odd_shape(struct: Any) -> str:
    """The Ready condition of a resource whose status is not the usual shape (or is absent).

    Only a list of mappings is read; any other shape has no Ready condition.
    """
    conditions = _at(struct, "status", "conditions")
    if not isinstance(conditions, struct_pb2.ListValue):
        return "Unknown"
    for condition in conditions:
        if not isinstance(condition, struct_pb2.Struct) or "type" not in condition:
            continue
        if condition["type"] == "Ready":
            return str(condition["status"]) if "status" in condition else "Unknown"
    return "Unknown"
