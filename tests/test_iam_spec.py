"""Checks of the IAM parts of a spec: access, tokens, external names (table-driven)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from function.resolve import SpecError, parse
from tests import factories as f


@dataclass(frozen=True)
class Case:
    reason: str
    edit: Callable[[dict[str, Any]], None]
    namespace: str | None = "platform"
    problems: tuple[str, ...] = ()  # each a substring of one problem; () means valid


def _token(secret_ref: dict[str, Any], robot: int = 0) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        spec["iam"]["robots"][robot]["tokens"] = [{"name": "argocd", "secretRef": secret_ref}]

    return edit


def _second_robot_writing(secret: str) -> Callable[[dict[str, Any]], None]:
    def edit(spec: dict[str, Any]) -> None:
        spec["iam"]["robots"].append(
            {"name": "deployer", "tokens": [{"name": "t", "secretRef": {"name": secret}}]}
        )

    return edit


CASES = [
    Case("the example spec is valid", lambda s: None),
    Case(
        "access names a team that is not in spec.iam.teams",
        lambda s: s["groups"][0]["access"].append({"team": "ghosts", "role": "viewer"}),
        problems=(
            "spec.groups[0].access[2].team: unknown team 'ghosts'; add it to spec.iam.teams",
        ),
    ),
    Case(
        "a team gets two roles on one group",
        lambda s: s["groups"][0]["access"].append({"team": "platform", "role": "viewer"}),
        problems=("spec.groups[0].access: names a team more than once",),
    ),
    Case(
        "a role the Spaces API does not know",
        lambda s: s["groups"][0]["access"][0].update(role="owner"),
        problems=("spec.groups[0].access[0].role:",),
    ),
    Case(
        "a namespaced XR writes a token to its own namespace",
        _token({"name": "argocd-up", "namespace": "platform"}),
    ),
    Case(
        "a namespaced XR may not write a token to another namespace",
        _token({"name": "argocd-up", "namespace": "argocd"}),
        problems=(
            "spec.iam.robots[0].tokens[0].secretRef.namespace: a namespaced "
            "UpboundEnvironment may only name Secrets in its own namespace 'platform'",
        ),
    ),
    Case(
        "a cluster-scoped XR may write a token to any namespace",
        _token({"name": "argocd-up", "namespace": "argocd"}),
        namespace=None,
    ),
    Case(
        "two tokens may not write one Secret",
        _second_robot_writing("ci-upbound-token"),
        problems=(
            "spec.iam.robots[1].tokens[0].secretRef.name: Secret 'ci-upbound-token' is also "
            "written by spec.iam.robots[0].tokens[0].secretRef",
        ),
    ),
    Case(
        "a robot's token names repeat",
        lambda s: s["iam"]["robots"][0]["tokens"].append(
            {"name": "ci", "secretRef": {"name": "other"}}
        ),
        problems=("spec.iam.robots[0].tokens[1].name: duplicate token 'ci'",),
    ),
    Case(
        "a team's externalName is an Upbound ID",
        lambda s: s["iam"]["teams"][0].update(externalName="918a6338-abbe-420d-81cf-9e87642a87c6"),
    ),
    Case(
        "a team's externalName cannot name a binding subject",
        lambda s: s["iam"]["teams"][0].update(externalName="not--an-id"),
        problems=("spec.iam.teams[0].externalName:",),
    ),
    Case(
        "a robot's externalName must be a UUID, as provider-upbound parses it",
        lambda s: s["iam"]["robots"][0].update(externalName="ci-robot"),
        problems=("spec.iam.robots[0].externalName:",),
    ),
    Case(
        "protect is a boolean per entry and for IAM",
        lambda s: s["iam"].update(protect=["yes"]),
        problems=("spec.iam.protect:",),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.reason for c in CASES])
def test_iam_spec(case: Case) -> None:
    spec = f.spec()
    case.edit(spec)
    xr = f.xr(spec, namespace=case.namespace)
    if not case.problems:
        parse(xr, None)
        return
    with pytest.raises(SpecError) as raised:
        parse(xr, None)
    for wanted in case.problems:
        assert any(wanted in p for p in raised.value.problems), (wanted, raised.value.problems)
