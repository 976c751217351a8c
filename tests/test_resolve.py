"""Precedence as data: `first_set` and the settings it resolves, XR > function input > built-in.

Table-driven: each case has a reason, its input and what it wants.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from function.resolve import first_set, parse
from tests import factories as f


@dataclass(frozen=True)
class FirstSetCase:
    reason: str
    layers: tuple[Any, ...]
    default: Any
    want: Any


FIRST_SET_CASES = [
    FirstSetCase("the XR wins over the input", ("xr", "input"), "built-in", want="xr"),
    FirstSetCase("the input when the XR is silent", (None, "input"), "built-in", want="input"),
    FirstSetCase("the built-in when both are silent", (None, None), "built-in", want="built-in"),
    FirstSetCase("no layers at all: the built-in", (), "built-in", want="built-in"),
    FirstSetCase("an empty string is a choice, not silence", ("", "input"), "built-in", want=""),
    FirstSetCase("False is a choice, not silence", (False,), True, want=False),
    FirstSetCase("0 is a choice, not silence", (None, 0), 7, want=0),
]


@pytest.mark.parametrize("case", FIRST_SET_CASES, ids=lambda c: c.reason)
def test_first_set(case: FirstSetCase) -> None:
    assert first_set(*case.layers, default=case.default) == case.want


@dataclass(frozen=True)
class SettingCase:
    reason: str
    xr_argocd: dict[str, Any]
    input_argocd: dict[str, Any] | None
    want_namespace: str
    want_prefix: str


SETTING_CASES = [
    SettingCase("built-in defaults", {}, None, "argocd", "controlplane-"),
    SettingCase(
        "the input over the built-in",
        {},
        {"namespace": "gitops", "clusterNamePrefix": "ctp-"},
        "gitops",
        "ctp-",
    ),
    SettingCase(
        "the XR over the input",
        {"namespace": "argo", "clusterNamePrefix": "x-"},
        {"namespace": "gitops", "clusterNamePrefix": "ctp-"},
        "argo",
        "x-",
    ),
    SettingCase(
        "an empty prefix in the XR is a choice: no prefix",
        {"clusterNamePrefix": ""},
        {"clusterNamePrefix": "ctp-"},
        "argocd",
        "",
    ),
]


@pytest.mark.parametrize("case", SETTING_CASES, ids=lambda c: c.reason)
def test_argocd_settings(case: SettingCase) -> None:
    spec = f.spec(argocd={**f.spec()["argocd"], **case.xr_argocd})
    function_input = None if case.input_argocd is None else {"argocd": case.input_argocd}
    argocd = parse(f.xr(spec), function_input).argocd
    assert (argocd.namespace, argocd.cluster_name_prefix) == (
        case.want_namespace,
        case.want_prefix,
    )
