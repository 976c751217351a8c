"""Whether a server composes what this function composes: the check that stops a run."""

from __future__ import annotations

from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from function.fn import FunctionRunner


class CompositionMismatch(SystemExit):
    """A server composed something else than this function does for the same request."""


def first_difference(expected: bytes, got: bytes) -> str | None:
    """Where a response differs from ours in desired resources or XR, or None when it does not."""
    x, y = fnv1.RunFunctionResponse.FromString(expected), fnv1.RunFunctionResponse.FromString(got)
    ours_, theirs = set(x.desired.resources), set(y.desired.resources)
    if ours_ != theirs:
        missing, extra = sorted(ours_ - theirs)[:3], sorted(theirs - ours_)[:3]
        return f"resources missing: {missing}; resources extra: {extra}"
    pairs = [("XR", x.desired.composite.resource, y.desired.composite.resource)] + [
        (name, x.desired.resources[name].resource, y.desired.resources[name].resource)
        for name in sorted(ours_)
    ]
    for name, a, b in pairs:
        diff = _first_path(resource.struct_to_dict(a), resource.struct_to_dict(b), name)
        if diff:
            return diff
    return None


def _first_path(a: Any, b: Any, path: str) -> str | None:
    """The first path where two plain values differ, with both values."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: ours {a.get(key)!r:.200}, theirs {b.get(key)!r:.200}"
            diff = _first_path(a[key], b[key], f"{path}.{key}")
            if diff:
                return diff
        return None
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            diff = _first_path(x, y, f"{path}[{i}]")
            if diff:
                return diff
        return None
    return None if a == b else f"{path}: ours {a!r:.200}, theirs {b!r:.200}"


def check_answers(server: str, n: int, last: list[tuple[bytes, bytes]]) -> None:
    """Stop the run (exit 2) unless every last answer is what this function composes for it."""
    for body, answer in last:
        expected = FunctionRunner().run(fnv1.RunFunctionRequest.FromString(body))
        diff = first_difference(expected.SerializeToString(), answer)
        if diff is not None:
            raise CompositionMismatch(
                f"{server} at {n} control planes composes something else than this function "
                f"for the same request; first difference: {diff}"
            )
