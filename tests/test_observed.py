"""The observed state: what exists, what is ready, connection details, desired copies.

Table-driven: each case has a reason, its input and what it wants.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function.observed import Observed

NAME = "controlplane.dev.ctp1"


def observed(**bodies: Mapping[str, Any]) -> Observed:
    """An Observed of raw bodies, keyed by composition resource name (`.` written as `__`)."""
    resources = {
        name.replace("__", "."): fnv1.Resource(resource=resource.dict_to_struct(dict(body)))
        for name, body in bodies.items()
    }
    return Observed(resources)


def with_status(status: Any) -> dict[str, Any]:
    """An Object body with the given status."""
    return {"apiVersion": "v1", "kind": "Object", "metadata": {"name": "x"}, "status": status}


def ready_is(value: str) -> dict[str, Any]:
    """A status whose Ready condition has the given status."""
    return {
        "conditions": [{"type": "Synced", "status": "True"}, {"type": "Ready", "status": value}]
    }


@dataclass(frozen=True)
class ReadyCase:
    reason: str
    status: Any
    want: bool
    exists: bool = True


READY_CASES = [
    ReadyCase("a Ready condition that is True is ready", ready_is("True"), want=True),
    ReadyCase("a Ready condition that is False is not ready", ready_is("False"), want=False),
    ReadyCase("an Unknown Ready condition is not ready", ready_is("Unknown"), want=False),
    ReadyCase(
        "conditions without Ready are not ready",
        {"conditions": [{"type": "Synced", "status": "True"}]},
        want=False,
    ),
    ReadyCase("no conditions at all is not ready", {}, want=False),
    ReadyCase("a status that is not a mapping is not ready", "Ready", want=False),
    ReadyCase(
        "a boolean Ready status (an odd shape) reads as its text",
        {"conditions": [{"type": "Ready", "status": True}]},
        want=True,
    ),
    ReadyCase(
        "conditions that are not a list are not ready",
        {"conditions": {"type": "Ready", "status": "True"}},
        want=False,
    ),
    ReadyCase("a condition that is not a mapping is not ready", {"conditions": ["Ready"]}, False),
    ReadyCase("a resource that does not exist is not ready", ready_is("True"), False, False),
]


@pytest.mark.parametrize("case", READY_CASES, ids=lambda c: c.reason)
def test_ready(case: ReadyCase) -> None:
    state = (
        observed(controlplane__dev__ctp1=with_status(case.status)) if case.exists else observed()
    )
    assert state.ready(NAME) is case.want
    assert state.ready(NAME) is case.want, "asked again, from the cache"
    assert state.exists(NAME) is case.exists


@dataclass(frozen=True)
class NamesCase:
    reason: str
    names: tuple[str, ...]
    kind: str
    want: list[str]


NAMES_CASES = [
    NamesCase("none observed", (), "group", want=[]),
    NamesCase(
        "only the kind's prefix, sorted",
        ("group.prod", "controlplane.dev.ctp1", "group.dev"),
        "group",
        want=["group.dev", "group.prod"],
    ),
    NamesCase(
        "a kind that starts like another is not that kind",
        ("robot.ci", "robot-membership.ci.platform"),
        "robot",
        want=["robot.ci"],
    ),
]


@pytest.mark.parametrize("case", NAMES_CASES, ids=lambda c: c.reason)
def test_names(case: NamesCase) -> None:
    state = Observed({n: fnv1.Resource() for n in case.names})
    assert list(state.names(case.kind)) == case.want


@dataclass(frozen=True)
class DetailCase:
    reason: str
    details: dict[str, bytes] | None
    want: bytes | None


DETAIL_CASES = [
    DetailCase("the key Crossplane sent", {"kubeconfig": b"apiVersion: v1"}, b"apiVersion: v1"),
    DetailCase("another key only", {"other": b"x"}, want=None),
    DetailCase("no details", {}, want=None),
    DetailCase("no such resource", None, want=None),
]


@pytest.mark.parametrize("case", DETAIL_CASES, ids=lambda c: c.reason)
def test_connection_detail(case: DetailCase) -> None:
    resources = (
        {} if case.details is None else {NAME: fnv1.Resource(connection_details=case.details)}
    )
    assert Observed(resources).connection_detail(NAME, "kubeconfig") == case.want


FULL: dict[str, Any] = {
    "apiVersion": "kubernetes.m.crossplane.io/v1alpha1",
    "kind": "Object",
    "metadata": {
        "name": "acme-controlplane-dev-ctp1-1a2b3",
        "namespace": "platform",
        "labels": {"a": "b"},
        "annotations": {"c": "d"},
        "uid": "0000",
        "resourceVersion": "7",
        "generation": 2,
    },
    "spec": {"forProvider": {"manifest": {}}, "deletionPolicy": "Orphan"},
    "status": ready_is("True"),
}


@dataclass(frozen=True)
class DesiredCase:
    reason: str
    body: dict[str, Any]
    want: dict[str, Any]
    want_spec: dict[str, Any] = field(default_factory=dict)


DESIRED_CASES = [
    DesiredCase(
        "keeps identity, labels, annotations and spec; drops status and server fields",
        FULL,
        want={
            "apiVersion": FULL["apiVersion"],
            "kind": "Object",
            "metadata": {
                k: FULL["metadata"][k] for k in ("name", "namespace", "labels", "annotations")
            },
            "spec": FULL["spec"],
        },
        want_spec=FULL["spec"],
    ),
    DesiredCase(
        "a resource without metadata or spec keeps empty ones",
        {"apiVersion": "v1", "kind": "Object"},
        want={"apiVersion": "v1", "kind": "Object", "metadata": {}, "spec": {}},
    ),
]


@pytest.mark.parametrize("case", DESIRED_CASES, ids=lambda c: c.reason)
def test_as_desired_and_spec(case: DesiredCase) -> None:
    state = observed(controlplane__dev__ctp1=case.body)
    assert state.as_desired(NAME) == case.want
    assert state.spec(NAME) == case.want_spec
    assert observed().spec(NAME) == {}, "no such resource"


@dataclass(frozen=True)
class StringCase:
    reason: str
    body: Any
    want: str | None


EXTERNAL_NAME = "crossplane.io/external-name"
STRING_CASES = [
    StringCase("an annotation", {"metadata": {"annotations": {EXTERNAL_NAME: "id-1"}}}, "id-1"),
    StringCase("no annotations", {"metadata": {"name": "t"}}, None),
    StringCase("no metadata", {"spec": {}}, None),
    StringCase("metadata that is a string", {"metadata": "m"}, None),
    StringCase("annotations that are a list", {"metadata": {"annotations": ["a"]}}, None),
    StringCase(
        "a value that is a list", {"metadata": {"annotations": {EXTERNAL_NAME: ["a"]}}}, None
    ),
    StringCase("a value that is a number", {"metadata": {"annotations": {EXTERNAL_NAME: 1}}}, None),
    StringCase(
        "an empty string is a string", {"metadata": {"annotations": {EXTERNAL_NAME: ""}}}, ""
    ),
]


@pytest.mark.parametrize("case", STRING_CASES, ids=lambda c: c.reason)
def test_annotation(case: StringCase) -> None:
    """Reading a string from an observed resource of any shape never raises."""
    state = observed(team__platform=case.body)
    assert state.annotation("team.platform", EXTERNAL_NAME) == case.want
    assert state.annotation("team.absent", EXTERNAL_NAME) is None


def test_string_at_reads_a_nested_spec_field() -> None:
    state = observed(p=({"spec": {"forProvider": {"permission": "read"}}}))
    assert state.string_at("p", "spec", "forProvider", "permission") == "read"
    assert state.string_at("p", "spec", "forProvider", "missing") is None
    assert state.string_at("p", "spec", "forProvider") is None  # a struct, not a string
