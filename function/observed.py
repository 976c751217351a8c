"""A read-only view of the composed resources Crossplane observed, read once per call.

Every public query is a fact: its answer is recorded under the query (method, arguments and
the view it was asked of) the first time it is asked. Builders and the status read the
observed state only through these queries, so the response is a function of the
environment, the rest of the request and the facts; `confirms(observed, evidence(earlier))`
tells whether another request's observed state gives the same answers, which is what
function/reuse.py needs to answer as before. A view `without` some resources records into
the same facts, under the names it leaves out.
"""

from __future__ import annotations

import bisect
import copy
import functools
import re
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from google.protobuf import struct_pb2

from function import structs

_DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")
# Fields of an observed resource that a desired copy of it keeps.
_KEPT_METADATA = ("name", "namespace", "labels", "annotations")

# The names a view leaves out of the observed state (() for the whole of it), sorted.
Scope = tuple[str, ...]
# A query: its method, its arguments (positional, then keyword) and the view's scope.
Query = tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...], Scope]
# Every query asked of one observed state and its views, with its answer.
Facts = dict[Query, Any]
# Queries whose answer depends only on the body of the resource named by their first argument
# (not on its connection details, nor on which other resources exist).
_BODY_QUERIES = frozenset(
    {"exists", "ready", "spec", "status", "as_desired"}
    | {"annotation", "string_at", "metadata_name", "malformed"}
)
# Answers that cannot change once returned: kept as they are and handed out again.
_IMMUTABLE = (bool, str, bytes, int, float, tuple, type(None))
_UNASKED = object()

C = TypeVar("C")
F = TypeVar("F", bound=Callable[..., Any])


def _view(method: F) -> F:
    """Mark a method that makes a view, not a query (its views record their own queries)."""
    method.__dict__["_view"] = True
    return method


def _records_facts(cls: type[C]) -> type[C]:
    """Make every public method of `cls` but views a recorded query (see the module docstring).

    An immutable answer is recorded and handed out again; a mutable one (a dict) is computed
    afresh for every caller, who may change it, and a copy of the first is recorded. An
    iterator is recorded as a tuple and handed out as an iterator over it.
    """
    queries: dict[str, Callable[..., Any]] = {}
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not callable(method) or getattr(method, "_view", False):
            continue
        queries[name] = method
        setattr(cls, name, _recorded(name, method))
    cls._queries = queries  # type: ignore[attr-defined]
    return cls


def _recorded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, answering through the facts."""

    @functools.wraps(method)
    def ask(self: Observed, *args: Any, **kwargs: Any) -> Any:
        keywords = tuple(sorted(kwargs.items())) if kwargs else ()
        query: Query = (name, args, keywords, self._scope)
        known = self._facts.get(query, _UNASKED)
        if known is not _UNASKED and isinstance(known, _IMMUTABLE):
            return iter(known) if isinstance(known, tuple) and name in _ITERATING else known
        raw = method(self, *args, **kwargs)
        if isinstance(raw, Iterator):
            _ITERATING.add(name)
            answer: Any = tuple(raw)
            handed: Any = iter(answer)
        else:
            answer = handed = raw
        if known is _UNASKED:
            self._facts[query] = answer if isinstance(answer, _IMMUTABLE) else _copy(answer)
        return handed

    return ask


# The queries that answer with an iterator (recorded as a tuple).
_ITERATING: set[str] = set()


def _copy(value: Any) -> Any:
    """A deep copy of a plain value (dicts and lists of JSON values), fast; else deepcopy."""
    kind = type(value)
    if kind is dict:
        return {k: _copy(v) for k, v in value.items()}
    if kind is list:
        return [_copy(v) for v in value]
    if kind in (str, int, float, bool) or value is None:
        return value
    return copy.deepcopy(value)


def _fresh(value: Any) -> Any:
    """An answer as recorded: iterators become tuples."""
    return tuple(value) if isinstance(value, Iterator) else value


@dataclass(frozen=True, slots=True)
class Evidence:
    """The facts of one composition, arranged to be confirmed quickly.

    A query about one resource's body (its first argument names the resource) holds while
    that resource keeps its metadata.resourceVersion: the API server changes it with every
    change of the object. Other queries, and those about a resource without a version, are
    asked again.
    """

    versions: dict[str, str]
    by_resource: dict[str, list[tuple[Query, Any]]]
    others: list[tuple[Query, Any]]


def evidence(observed: Observed) -> Evidence:
    """The evidence for what `observed` and its views answered so far."""
    versions: dict[str, str] = {}
    by_resource: dict[str, list[tuple[Query, Any]]] = {}
    others: list[tuple[Query, Any]] = []
    for query, answer in observed.facts.items():
        name, args = query[0], query[1]
        version = observed._version(args[0]) if name in _BODY_QUERIES and args else ""
        if version:
            versions[args[0]] = version
            by_resource.setdefault(args[0], []).append((query, answer))
        else:
            others.append((query, answer))
    return Evidence(versions, by_resource, others)


def confirms(observed: Observed, kept: Evidence) -> bool:
    """Whether `observed` (and its views) answer every query of `kept` as they were answered.

    A query that fails now was answered then: that is a different answer (composing again
    meets the failure where it is handled).
    """
    try:
        version = observed._version
        asked = list(kept.others)
        for name, was in kept.versions.items():
            if version(name) != was:
                asked += kept.by_resource[name]
        return all(_answers(observed, query, answer) for query, answer in asked)
    except Exception:  # Any failure means "not the same answer".
        return False


def _answers(observed: Observed, query: Query, answer: Any) -> bool:
    """Whether `observed`, in the query's view, gives `answer` to `query`."""
    name, args, kwargs, scope = query
    view = observed._scoped(scope)
    fresh = Observed._queries[name](view, *args, **dict(kwargs))
    return bool(fresh == answer or _fresh(fresh) == answer)


@_records_facts
class Observed:
    """What exists, what is ready, and the connection details, by composition resource name."""

    _queries: dict[str, Callable[..., Any]]

    def __init__(
        self,
        resources: Mapping[str, fnv1.Resource],
        *,
        _facts: Facts | None = None,
        _scope: Scope = (),
    ) -> None:
        """Wrap the observed composed resources of a RunFunctionRequest."""
        self._resources = resources
        self._facts: Facts = {} if _facts is None else _facts
        self._scope = _scope
        self._views: dict[Scope, Observed] = {}
        self._sorted_names: list[str] | None = None
        self._versions: dict[str, str] = {}

    @property
    def facts(self) -> Facts:
        """Every query asked so far, of this observed state and of its views, with its answer."""
        return self._facts

    @_view
    def without(self, leave_out: Callable[[str], bool]) -> Observed:
        """A view of the same observed state without the resources `leave_out` names.

        Which names it leaves out follows from the names there are (a recorded fact) and
        from what the caller computed from the facts before.
        """
        names = self.all_names()
        return self._scoped(tuple(sorted({*self._scope, *(n for n in names if leave_out(n))})))

    def _scoped(self, scope: Scope) -> Observed:
        """The view of the whole observed state without the names in `scope`."""
        if scope == self._scope:
            return self
        view = self._views.get(scope)
        if view is None:
            left_out = set(scope)
            resources = {n: r for n, r in self._resources.items() if n not in left_out}
            # A view of a view is still taken of the whole: only ever the root's resources.
            view = Observed(resources, _facts=self._facts, _scope=scope)
            self._views[scope] = view
        return view

    def _version(self, name: str) -> str:
        """The resource's metadata.resourceVersion, or "" (also when it does not exist)."""
        known = self._versions.get(name)
        if known is not None:
            return known
        version = ""
        resources = self._resources
        if name in resources:
            fields = resources[name].resource.fields
            if "metadata" in fields:
                metadata = fields["metadata"].struct_value.fields
                if "resourceVersion" in metadata:
                    version = metadata["resourceVersion"].string_value
        self._versions[name] = version
        return version

    def exists(self, name: str) -> bool:
        """Whether the composed resource exists."""
        return name in self._resources

    def ready(self, name: str) -> bool:
        """Whether the composed resource exists and its Ready condition is True."""
        resources = self._resources
        return name in resources and _ready_condition(resources[name].resource) == "True"

    def connection_detail(self, name: str, key: str) -> bytes | None:
        """One connection detail of a composed resource, if Crossplane sent it."""
        resources = self._resources
        if name not in resources or key not in resources[name].connection_details:
            return None
        return bytes(resources[name].connection_details[key])

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

    def all_names(self) -> Iterator[str]:
        """Every observed composition resource name, sorted."""
        return iter(self._names())

    def names(self, kind: str) -> Iterator[str]:
        """The observed composition resource names of one kind (`kind.` prefix), sorted."""
        names, prefix = self._names(), f"{kind}."
        start = bisect.bisect_left(names, prefix)
        end = bisect.bisect_left(names, f"{kind}/")  # "/" sorts right after "."
        return iter(names[start:end])

    def _names(self) -> list[str]:
        """Every name, sorted once per call."""
        if self._sorted_names is None:
            self._sorted_names = sorted(self._resources)
        return self._sorted_names

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
        resources = self._resources
        if name not in resources or key not in resources[name].resource:
            return {}
        value = resources[name].resource[key]
        return structs.read(value) if isinstance(value, struct_pb2.Struct) else {}

    def as_desired(self, name: str) -> dict[str, Any]:
        """The observed resource as a desired one, so that Crossplane keeps it as it is.

        A malformed one (see `malformed`) comes back as observed, without its status.
        """
        observed = structs.read(self._resources[name].resource)
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
    status = _field(struct.fields, "status")
    if status is None or status.WhichOneof("kind") != "struct_value":
        return _ready_condition_of_odd_shape(struct)
    conditions = _field(status.struct_value.fields, "conditions")
    if conditions is None or conditions.WhichOneof("kind") != "list_value":
        return _ready_condition_of_odd_shape(struct)
    for condition in conditions.list_value.values:
        entry = condition.struct_value.fields
        kind, value = _field(entry, "type"), _field(entry, "status")
        if kind is None or value is None or value.WhichOneof("kind") != "string_value":
            return _ready_condition_of_odd_shape(struct)
        if kind.string_value == "Ready":
            return str(value.string_value)
    return "Unknown"


def _field(fields: Any, key: str) -> Any:
    """A Struct's field, or None. Not `fields.get(key)`: that costs ten times as much here."""
    return fields[key] if key in fields else None  # noqa: SIM401 - see the docstring.


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
