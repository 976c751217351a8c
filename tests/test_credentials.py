"""The token from the required Secret, and kubeconfig parsing."""

import base64
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from function import credentials
from function.api.types import SecretKeyRef
from tests import factories as f

REF = SecretKeyRef(name="upbound-token", namespace="crossplane-system")


def supplied(*secrets: dict[str, Any], legacy: bool = False) -> fnv1.RunFunctionRequest:
    req = fnv1.RunFunctionRequest()
    field = req.extra_resources if legacy else req.required_resources
    items = [fnv1.Resource(resource=resource.dict_to_struct(s)) for s in secrets]
    field[credentials.TOKEN_REQUIREMENT].CopyFrom(fnv1.Resources(items=items))
    return req


def test_the_token_is_required_under_both_field_names() -> None:
    rsp = fnv1.RunFunctionResponse()
    credentials.require_token(rsp, REF)
    for selectors in (rsp.requirements.resources, rsp.requirements.extra_resources):
        selector = selectors[credentials.TOKEN_REQUIREMENT]
        assert (selector.api_version, selector.kind) == ("v1", "Secret")
        assert (selector.match_name, selector.namespace) == ("upbound-token", "crossplane-system")


def test_not_supplied_yet_is_none() -> None:
    assert credentials.read_token(fnv1.RunFunctionRequest(), REF) is None


@pytest.mark.parametrize("legacy", [False, True])
def test_the_token_is_read_and_masked(legacy: bool) -> None:
    token = credentials.read_token(supplied(f.TOKEN_SECRET, legacy=legacy), REF)
    assert token is not None
    assert token.get_secret_value() == f.TOKEN
    assert f.TOKEN not in repr(token) and f.TOKEN not in str(token)


def test_trailing_newlines_are_stripped() -> None:
    secret = {**f.TOKEN_SECRET, "data": {"token": base64.b64encode(b"abc\n").decode()}}
    token = credentials.read_token(supplied(secret), REF)
    assert token is not None and token.get_secret_value() == "abc"


@pytest.mark.parametrize(
    ("secrets", "expected"),
    [
        ((), "Secret crossplane-system/upbound-token was not found"),
        (({**f.TOKEN_SECRET, "data": {"other": "eA=="}},), "has no key 'token'"),
        (({**f.TOKEN_SECRET, "data": {"token": ""}},), "key 'token' is empty"),
        (({**f.TOKEN_SECRET, "data": {"token": "!!"}},), "is not valid base64"),
        (({**f.TOKEN_SECRET, "data": None},), "has no key 'token'"),
        (({**f.TOKEN_SECRET, "data": "dG9rZW4="},), "has no key 'token'"),
        (({**f.TOKEN_SECRET, "data": ["token"]},), "has no key 'token'"),
        (({**f.TOKEN_SECRET, "data": {"token": 5}},), "is not valid base64"),
        (({**f.TOKEN_SECRET, "data": {"token": {"a": "b"}}},), "is not valid base64"),
    ],
)
def test_missing_or_broken_tokens_say_how_to_fix_them(
    secrets: tuple[dict[str, Any], ...], expected: str
) -> None:
    with pytest.raises(credentials.CredentialError, match=expected):
        credentials.read_token(supplied(*secrets), REF)


def test_kubeconfig_as_yaml_or_base64() -> None:
    for raw in (f.kubeconfig(), base64.b64encode(f.kubeconfig())):
        access = credentials.parse_kubeconfig(raw)
        assert access.server == "https://ctp1.edge.example.com:6443"
        assert access.bearer_token.get_secret_value() == f.KUBECONFIG_TOKEN
        assert access.ca_data == f.CA_DATA.decode()


def test_kubeconfig_follows_the_current_context() -> None:
    raw = f.kubeconfig().decode().replace("current-context: ctp", "current-context: other")
    raw += """- name: other
  user: {token: other-token}
"""
    raw = raw.replace(
        "contexts:\n", "contexts:\n- name: other\n  context: {cluster: ctp, user: other}\n"
    )
    access = credentials.parse_kubeconfig(raw.encode())
    assert access.bearer_token.get_secret_value() == "other-token"


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"not: [valid", "not a YAML kubeconfig"),
        (b"\xff\xfe", "not a YAML kubeconfig"),
        (b"- a list", "not a YAML kubeconfig"),
        (f.kubeconfig().replace(b"https://", b"http://"), "no https server"),
        (f.kubeconfig().replace(b"token: ", b"tokn: "), "no bearer token"),
        (b"clusters: []\ncontexts: []\n", "no current-context"),
        (f.kubeconfig().replace(b"current-context: ctp", b"current-context: other"), "names no"),
        (f.kubeconfig().replace(b"current-context: ctp", b"current-context: [ctp]"), "no current"),
        (f.kubeconfig().replace(b"current-context: ctp\n", b""), "no current-context"),
        (
            f.kubeconfig().replace(b"contexts:\n- name: ctp", b"contexts: [1]\nx:\n- name: ctp"),
            "names no",
        ),
        (f.kubeconfig().replace(b"users:\n", b"users: 5\nx:\n"), "no bearer token"),
        (f.kubeconfig().replace(b"clusters:\n", b"clusters: [1]\nx:\n"), "no https server"),
        (
            f.kubeconfig().replace(
                b"certificate-authority-data: ", b"certificate-authority-data: [x] #"
            ),
            "not text",
        ),
        (b"x" * (1 << 21), "larger than 1 MiB"),
    ],
)
def test_unusable_kubeconfigs_are_described_without_quoting(raw: bytes, expected: str) -> None:
    with pytest.raises(credentials.CredentialError, match=expected) as e:
        credentials.parse_kubeconfig(raw)
    assert f.KUBECONFIG_TOKEN not in str(e.value)


@pytest.mark.parametrize(
    ("namespace", "xr_namespace", "allowed"),
    [
        pytest.param(None, "team-a", True, id="a namespaced XR that names no namespace: its own"),
        pytest.param("team-a", "team-a", True, id="a namespaced XR naming its own namespace"),
        pytest.param("kube-system", "team-a", False, id="a namespaced XR naming another"),
        pytest.param("kube-system", None, True, id="a cluster-scoped XR may name any"),
    ],
)
def test_namespace_problem(namespace: str | None, xr_namespace: str | None, allowed: bool) -> None:
    problem = credentials.namespace_problem("spec.x.namespace", namespace, xr_namespace)
    assert (problem is None) == allowed
    if problem is not None:
        assert problem.startswith("spec.x.namespace: ")
        assert repr(xr_namespace) in problem
