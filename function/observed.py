"""A read-only view of the composed resources Crossplane observed, read once per call."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource
from google.protobuf import struct_pb2

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
        """The observed resource as a desired one, so that Crossplane keeps it as it is."""
        observed = resource.struct_to_dict(self._resources[name].resource)
        metadata = observed.get("metadata", {})
        return {
            "apiVersion": observed["apiVersion"],
            "kind": observed["kind"],
            "metadata": {k: metadata[k] for k in _KEPT_METADATA if k in metadata},
            "spec": observed.get("spec", {}),
        }


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
    """The Ready condition of a resource whose status is not the usual shape (or is absent)."""
    status = struct["status"] if "status" in struct else None  # noqa: SIM401 - Struct has no get().
    if not status or "conditions" not in status:
        return "Unknown"
    for condition in status["conditions"]:
        if condition["type"] == "Ready":
            return str(condition["status"])
    return "Unknown"
