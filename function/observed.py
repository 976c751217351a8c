"""A read-only view of the composed resources Crossplane observed, read once per call.

Every public query is a fact: its answer is recorded under the query (method and arguments)
the first time it is asked. Builders and the status read the observed state only through
these queries, so the response is a function of the environment, the rest of the request and
the facts; `confirms(observed, facts)` tells whether another request's observed state gives
the same answers, which is what function/reuse.py needs to answer as before.
"""

import copy
import functools
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar, cast

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource
from google.protobuf import struct_pb2

# Fields of an observed resource that a desired copy of it keeps.
_KEPT_METADATA = ("name", "namespace", "labels", "annotations")

# A query and its arguments (positional, then keyword), as recorded.
Query = tuple[str, tuple[Any, ...], tuple[tuple[str, Any], ...]]
# Every query asked of one Observed, with its answer.
Facts = dict[Query, Any]
# Answers that cannot change once returned: kept as they are and handed out again.
_IMMUTABLE = (bool, str, bytes, int, float, tuple, type(None))
_UNASKED = object()

C = TypeVar("C")


def _records_facts(cls: type[C]) -> type[C]:
    """Make every public method of `cls` a recorded query (see the module docstring).

    An immutable answer is recorded and handed out again; a mutable one (a dict) is computed
    afresh for every caller, who may change it, and a deep copy of the first is recorded. An
    iterator is answered as a tuple.
    """
    queries: dict[str, Callable[..., Any]] = {}
    for name, method in list(vars(cls).items()):
        if name.startswith("_") or not callable(method):
            continue
        queries[name] = method
        setattr(cls, name, _recorded(name, method))
    cls._queries = queries  # type: ignore[attr-defined]
    return cls


def _recorded(name: str, method: Callable[..., Any]) -> Callable[..., Any]:
    """`method`, answering through the instance's facts."""

    @functools.wraps(method)
    def ask(self: "Observed", *args: Any, **kwargs: Any) -> Any:
        query: Query = (name, args, tuple(sorted(kwargs.items())))
        known = self._facts.get(query, _UNASKED)
        if known is not _UNASKED and isinstance(known, _IMMUTABLE):
            return known
        answer = _answer(method(self, *args, **kwargs))
        if known is _UNASKED:
            self._facts[query] = answer if isinstance(answer, _IMMUTABLE) else copy.deepcopy(answer)
        return answer

    return ask


def _answer(value: Any) -> Any:
    """An answer as recorded and returned: iterators become tuples."""
    return tuple(value) if isinstance(value, Iterator) else value


def confirms(observed: "Observed", facts: Facts) -> bool:
    """Whether `observed` answers every query in `facts` as recorded there.

    A query that fails now was answered then: that is a different answer (composing again
    meets the failure where it is handled).
    """
    queries = Observed._queries
    try:
        for (name, args, kwargs), answer in facts.items():
            query = queries[name]
            fresh = query(observed, *args, **dict(kwargs)) if kwargs else query(observed, *args)
            if fresh != answer and _answer(fresh) != answer:
                return False
    except Exception:  # Any failure means "not the same answer".
        return False
    return True


@_records_facts
class Observed:
    """What exists, what is ready, and the connection details, by composition resource name."""

    _queries: dict[str, Callable[..., Any]]

    def __init__(self, resources: Mapping[str, fnv1.Resource]) -> None:
        """Wrap the observed composed resources of a RunFunctionRequest."""
        self._resources = resources
        self._facts: Facts = {}

    @property
    def facts(self) -> Facts:
        """Every query asked so far, with its answer."""
        return self._facts

    def exists(self, name: str) -> bool:
        """Whether the composed resource exists."""
        return name in self._resources

    def ready(self, name: str) -> bool:
        """Whether the composed resource exists and its Ready condition is True."""
        observed = self._resources.get(name)
        return observed is not None and _ready_condition(observed.resource) == "True"

    def connection_detail(self, name: str, key: str) -> bytes | None:
        """One connection detail of a composed resource, if Crossplane sent it."""
        observed = self._resources.get(name)
        if observed is None or key not in observed.connection_details:
            return None
        return bytes(observed.connection_details[key])

    def names(self, kind: str) -> tuple[str, ...]:
        """The observed composition resource names of one kind (`kind.` prefix), sorted."""
        prefix = f"{kind}."
        return tuple(sorted(n for n in self._resources if n.startswith(prefix)))

    def spec(self, name: str) -> dict[str, Any]:
        """The observed spec of a composed resource ({} when it does not exist)."""
        observed = self._resources.get(name)
        if observed is None or "spec" not in observed.resource:
            return {}
        return resource.struct_to_dict(cast(struct_pb2.Struct, observed.resource["spec"]))

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
