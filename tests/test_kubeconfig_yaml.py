"""Kubeconfig YAML: libyaml's loader, parsed once per content, and hostile nesting refused.

A Disconnected environment's every call carries every control plane's kubeconfig; parsing
them with PyYAML's pure-Python loader made a changed call of 500 control planes take about
a second (issue 9, item 10; bench/disconnected.py measures it). The function parses with
libyaml where PyYAML has it, and only kubeconfigs whose bytes it has not parsed lately.
"""

from __future__ import annotations

from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
import yaml

from function import credentials
from tests import factories as f
from tests import server as fnserver

DEEP = b"[" * 2000  # PyYAML's pure-Python loader recurses once per level


@pytest.fixture
def parsed(monkeypatch: pytest.MonkeyPatch) -> list[bytes]:
    """A fresh memo, and the documents it parses (what reached the YAML loader)."""
    seen: list[bytes] = []
    parse = credentials._parse

    def counting(raw: bytes) -> Any:
        seen.append(raw)
        return parse(raw)

    monkeypatch.setattr(credentials, "_parse", counting)
    monkeypatch.setattr(credentials, "_parsed", credentials._ParsedYaml(4))
    return seen


def test_libyaml_is_used_where_pyyaml_has_it() -> None:
    assert yaml.__with_libyaml__  # the pinned PyYAML wheels are built with it
    assert credentials._YAML_LOADER is yaml.CSafeLoader


@pytest.mark.parametrize("loader", [yaml.CSafeLoader, yaml.SafeLoader])
def test_nesting_too_deep_for_either_loader_is_not_yaml(
    monkeypatch: pytest.MonkeyPatch, loader: type, parsed: list[bytes]
) -> None:
    monkeypatch.setattr(credentials, "_YAML_LOADER", loader)
    assert credentials._load(DEEP) is None
    with pytest.raises(credentials.CredentialError, match="not a YAML kubeconfig"):
        credentials.parse_kubeconfig(DEEP)


def test_a_kubeconfig_is_parsed_again_only_when_its_bytes_change(parsed: list[bytes]) -> None:
    first, second = f.kubeconfig(), f.kubeconfig("https://other.example.com:6443")
    for _ in range(3):
        assert credentials.parse_kubeconfig(first).server == "https://ctp1.edge.example.com:6443"
    assert parsed == [first]
    assert credentials.parse_kubeconfig(second).server == "https://other.example.com:6443"
    assert credentials.parse_kubeconfig(first).bearer_token.get_secret_value() == f.KUBECONFIG_TOKEN
    assert parsed == [first, second]


def test_invalid_yaml_is_remembered_as_invalid(parsed: list[bytes]) -> None:
    for _ in range(2):
        assert credentials._load(DEEP) is None
    assert parsed == [DEEP]


def test_the_memo_is_bounded_and_keyed_by_a_hash_not_the_bytes(parsed: list[bytes]) -> None:
    configs = [f.kubeconfig(f"https://ctp{i}.example.com:6443") for i in range(6)]
    for raw in configs:
        credentials.parse_kubeconfig(raw)
    memo = credentials._parsed
    assert len(memo) == 4  # the fixture's bound
    assert all(len(key) == 32 for key in memo._items)  # SHA-256 digests
    assert not any(f.KUBECONFIG_TOKEN.encode() in key for key in memo._items)
    credentials.parse_kubeconfig(configs[0])  # forgotten: parsed again
    assert parsed == [*configs, configs[0]]


def test_a_kubeconfig_nested_2000_deep_is_reported_on_its_control_plane(
    debug_server: fnserver.Server,
) -> None:
    """Over gRPC: before, PyYAML's RecursionError made the whole call an internal error."""
    xr = f.xr(f.spec(space={"type": "Disconnected"}))
    observed, _ = f.reconcile(xr, call=debug_server.call)[-1]
    bad = "controlplane.dev.ctp1"
    observed[bad].connection_details["kubeconfig"] = DEEP
    del observed["argocd-cluster.dev.ctp1"]  # not there yet: nothing to keep
    rsp = debug_server.call(f.request(xr, observed=observed))
    assert f.fatal(rsp) == []
    warnings = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]
    assert len(warnings) == 1, warnings
    assert "control plane dev/ctp1" in warnings[0] and "kubeconfig" in warnings[0]
    clusters = sorted(n for n in rsp.desired.resources if n.startswith("argocd-cluster."))
    assert clusters == ["argocd-cluster.dev.ctp2", "argocd-cluster.prod.ctp1"]
