"""Validation and resolution of the XR spec and the function input."""

from __future__ import annotations

import copy
import random
from typing import Any

import pytest

from function import resolve
from function.api.types import MAX_GROUPS
from tests import factories as f


def parse(
    spec: dict[str, Any], function_input: dict[str, Any] | None = None
) -> resolve.Environment:
    return resolve.parse(f.xr(spec), function_input)


def problems(spec: dict[str, Any], function_input: dict[str, Any] | None = None) -> list[str]:
    with pytest.raises(resolve.SpecError) as e:
        parse(spec, function_input)
    return e.value.problems


def with_path(path: str, value: Any) -> dict[str, Any]:
    """The standard spec with one value replaced, by a dotted path with [i] indexes."""
    spec = f.spec()
    node: Any = spec
    keys = [
        int(k) if k.isdigit() else k for k in path.replace("[", ".").replace("]", "").split(".")
    ]
    for key in keys[:-1]:
        node = node[key] if isinstance(key, int) else node.setdefault(key, {})
    if value is DELETE:
        del node[keys[-1]]
    else:
        node[keys[-1]] = value
    return spec


DELETE = object()


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        ("organization", DELETE, "spec.organization: required"),
        ("organization", "Acme Corp", "spec.organization: must be a DNS-1123 label"),
        ("space.type", "Cloudy", "spec.space.type: Input should be 'Cloud', 'Connected'"),
        ("space", DELETE, "spec.space: required"),
        ("space.name", "", "spec.space.name: required for Cloud spaces"),
        ("space.caBundle", "not base64!", "spec.space.caBundle: must be base64 of a PEM"),
        ("space.host", "http://x y", "spec.space.host: must be a host name"),
        ("groups[0].name", "Dev", "spec.groups[0].name: must be a DNS-1123 label"),
        ("groups[0].name", "dév", "spec.groups[0].name: must be a DNS-1123 label"),
        ("groups[0].name", "a" * 64, "spec.groups[0].name: String should have at most 63"),
        ("groups[1].name", "dev", "spec.groups[1].name: duplicate group 'dev'"),
        (
            "groups[0].controlPlanes[1].name",
            "ctp1",
            "spec.groups[0].controlPlanes[1].name: duplicate control plane 'ctp1'",
        ),
        (
            "groups[0].controlPlanes[0].crossplane.version",
            "v1.20.1",
            "spec.groups[0].controlPlanes[0].crossplane.version: must be a Crossplane version",
        ),
        (
            "groups[0].controlPlanes[0].crossplane.autoUpgrade.channel",
            "None",
            "spec.groups[0].controlPlanes[0].crossplane.version: required when autoUpgrade",
        ),
        (
            "groups[0].controlPlanes[0].crossplane.autoUpgrade.channel",
            "Fast",
            "spec.groups[0].controlPlanes[0].crossplane.autoUpgrade.channel: Input should be",
        ),
        (
            "groups[0].controlPlanes[0].tier",
            "gold",
            "spec.groups[0].controlPlanes[0].tier: unknown field",
        ),
        (
            "groups[0].controlPlanes[1].argocd.labels",
            {"argocd.argoproj.io/secret-type": "repository"},
            "spec.groups[0].controlPlanes[1].argocd.labels: must not set",
        ),
        ("argocd.labels", {"bad key!": "x"}, "spec.argocd.labels.bad key!.[key]: must be a Kub"),
        ("argocd.tokenSecretRef.key", "a/b", "spec.argocd.tokenSecretRef.key: String should"),
        ("iam.robots[0].teams", ["ghosts"], "spec.iam.robots[0].teams[0]: unknown team 'ghosts'"),
        (
            "iam.repositories[0].permissions[0].team",
            "ghosts",
            "spec.iam.repositories[0].permissions[0].team: unknown team 'ghosts'",
        ),
        (
            "iam.repositories[0].permissions[0].permission",
            "owner",
            "spec.iam.repositories[0].permissions[0].permission: Input should be 'admin'",
        ),
        ("iam.teams[1].name", "platform", "spec.iam.teams[1].name: duplicate team 'platform'"),
        (
            "iam.robots[0].teams",
            ["platform", "platform"],
            "spec.iam.robots[0].teams: lists a team more than once",
        ),
        ("groups", "dev", "spec.groups: Input should be a valid list"),
        # A name of the wrong type is named, not an internal error (team names are a set).
        ("iam.teams[0].name", {"name": "platform"}, "spec.iam.teams[0].name: Input should be"),
        ("iam.teams[0].name", ["platform"], "spec.iam.teams[0].name: Input should be a valid"),
        ("groups[0]", None, "spec.groups[0]: Input should be a valid dictionary"),
        (
            "controlPlaneDefaults.protect",
            "maybe",
            "spec.controlPlaneDefaults.protect: must be true",
        ),
    ],
)
def test_each_problem_is_named_with_its_path(path: str, value: Any, expected: str) -> None:
    found = problems(with_path(path, value))
    assert any(p.startswith(expected) for p in found), found


def test_every_problem_is_listed_at_once() -> None:
    spec = f.spec(organization="ACME")
    spec["groups"][0]["name"] = "Dev"
    spec["groups"].append({"name": "prod"})
    spec["iam"]["robots"][0]["teams"] = ["nobody"]
    found = problems(spec)
    assert [p.split(":")[0] for p in found] == [
        "spec.organization",
        "spec.groups[0].name",
        "spec.groups[1].name",
        "spec.groups[2].name",
        "spec.iam.robots[0].teams[0]",
    ]


def test_a_connected_space_may_leave_its_host_to_the_space() -> None:
    env = parse(with_path("space.type", "Connected"))
    assert (env.space.host, env.space.ca_bundle) == ("", "")


def test_argo_cluster_names_that_collide_are_rejected() -> None:
    spec = f.spec(
        groups=[
            {"name": "dev-a", "controlPlanes": [{"name": "b"}]},
            {"name": "dev", "controlPlanes": [{"name": "a-b"}]},
        ]
    )
    found = problems(spec)
    assert len(found) == 2
    assert all("Argo CD cluster name 'controlplane-dev-a-b'" in p for p in found)
    # Unregistering one of them resolves it.
    spec["groups"][1]["controlPlanes"][0]["argocd"] = {"register": False}
    assert parse(spec).groups


def test_missing_spec_and_bad_input_are_problems_too() -> None:
    with pytest.raises(resolve.SpecError) as e:
        resolve.parse({"metadata": {"name": "x"}}, {"argocd": {"namespace": "Argo CD"}})
    assert e.value.problems[0].startswith("input.argocd.namespace: must be a DNS-1123 label")
    assert e.value.problems[1].startswith("spec: required")


def test_crossplane_machinery_in_the_spec_is_ignored() -> None:
    spec = f.spec(crossplane={"compositionRef": {"name": "x"}}, compositionRef={"name": "y"})
    assert parse(spec).organization == "acme"


def test_defaults_then_input_then_xr() -> None:
    builtin = parse(f.spec(argocd={}))
    assert (builtin.provider_config_space, builtin.provider_config_argocd) == (
        "upbound-space",
        "argocd",
    )
    assert builtin.provider_config_upbound == "default"
    assert builtin.argocd.namespace == "argocd"
    assert builtin.argocd.cluster_name_prefix == "controlplane-"
    assert builtin.argocd.credentials == "Environment"
    assert builtin.argocd.upbound_domain == "https://upbound.io"
    # The default token Secret is in the XR's own namespace.
    assert builtin.argocd.token_secret_ref.name == "upbound-credentials"
    assert builtin.argocd.token_secret_ref.namespace == "platform"
    assert builtin.provider_config_kind == "ClusterProviderConfig"
    assert builtin.ttl.ready_seconds == 600
    cluster_scoped = resolve.parse(f.xr(f.spec(argocd={}), namespace=None), None)
    assert cluster_scoped.argocd.token_secret_ref.namespace == "crossplane-system"

    function_input = {
        "providerConfigs": {"space": "space-in", "upbound": "up-in", "kind": "ProviderConfig"},
        "argocd": {
            "namespace": "gitops",
            "clusterNamePrefix": "ctp-",
            "credentials": "ClusterSecret",
            "upboundDomain": "https://upbound.example.com",
            "tokenSecretRef": {"name": "tok", "namespace": "ops"},
        },
        "ttl": {"readySeconds": 900, "waitingSeconds": 5},
    }
    from_input = parse(f.spec(argocd={}), function_input)
    assert from_input.provider_config_space == "space-in"
    assert from_input.provider_config_argocd == "argocd"
    assert from_input.provider_config_upbound == "up-in"
    assert from_input.provider_config_kind == "ProviderConfig"
    assert from_input.argocd.namespace == "gitops"
    assert from_input.argocd.cluster_name_prefix == "ctp-"
    assert from_input.argocd.credentials == "ClusterSecret"
    assert from_input.argocd.upbound_domain == "https://upbound.example.com"
    assert from_input.argocd.token_secret_ref.namespace == "ops"
    assert (from_input.ttl.ready_seconds, from_input.ttl.waiting_seconds) == (900, 5)

    xr_wins = parse(
        f.spec(
            providerConfigs={"space": "space-xr"},
            argocd={
                "namespace": "argo",
                "clusterNamePrefix": "",
                "credentials": "Environment",
                "upboundDomain": "https://up.acme.example.com",
            },
        ),
        function_input,
    )
    assert xr_wins.provider_config_space == "space-xr"
    assert xr_wins.provider_config_upbound == "up-in"
    assert xr_wins.argocd.namespace == "argo"
    assert xr_wins.argocd.cluster_name_prefix == ""
    assert xr_wins.argocd.credentials == "Environment"
    assert xr_wins.argocd.upbound_domain == "https://up.acme.example.com"
    assert not xr_wins.uses_token


CLUSTER_SECRET_INPUT = {
    "argocd": {
        "credentials": "ClusterSecret",
        "tokenSecretRef": {"name": "tok", "namespace": "ops"},
    }
}
# (reason, XR namespace, the XR's argocd, function input, the problems, or the resolved ref)
TOKEN_SECRET_CASES = [
    (
        "a namespaced XR names its own namespace by omitting it",
        "platform",
        {"credentials": "ClusterSecret", "tokenSecretRef": {"name": "mine"}},
        None,
        "platform/mine",
    ),
    (
        "a namespaced XR may spell its own namespace out",
        "platform",
        {"credentials": "ClusterSecret", "tokenSecretRef": {"name": "m", "namespace": "platform"}},
        None,
        "platform/m",
    ),
    (
        "a namespaced XR may not reach into another namespace",
        "platform",
        {
            "credentials": "ClusterSecret",
            "tokenSecretRef": {"name": "m", "namespace": "kube-system"},
        },
        None,
        [
            "spec.argocd.tokenSecretRef.namespace: a namespaced UpboundEnvironment may only name "
            "Secrets in its own namespace 'platform'"
        ],
    ),
    (
        "a cluster-scoped XR is written by cluster admins and may name any namespace",
        None,
        {
            "credentials": "ClusterSecret",
            "tokenSecretRef": {"name": "m", "namespace": "kube-system"},
        },
        None,
        "kube-system/m",
    ),
    (
        "a cluster-scoped XR's omitted namespace is crossplane-system",
        None,
        {"credentials": "ClusterSecret", "tokenSecretRef": {"name": "m"}},
        None,
        "crossplane-system/m",
    ),
    (
        "the input, written by the platform team, may name any namespace",
        "platform",
        {},
        CLUSTER_SECRET_INPUT,
        "ops/tok",
    ),
    (
        "a namespaced XR may not replace the input's Secret, even in its own namespace",
        "platform",
        {"tokenSecretRef": {"name": "mine"}},
        CLUSTER_SECRET_INPUT,
        ["spec.argocd.tokenSecretRef: the Composition's function input names the token Secret"],
    ),
    (
        "repeating the input's Secret is no override",
        "platform",
        {"tokenSecretRef": {"name": "tok", "namespace": "ops"}},
        CLUSTER_SECRET_INPUT,
        "ops/tok",
    ),
    (
        "a cluster-scoped XR may replace the input's Secret",
        None,
        {"tokenSecretRef": {"name": "m", "namespace": "kube-system"}},
        CLUSTER_SECRET_INPUT,
        "kube-system/m",
    ),
    (
        "a tokenSecretRef in Environment mode would be silently unused: refused",
        "platform",
        {"tokenSecretRef": {"name": "mine"}},
        None,
        ["spec.argocd.tokenSecretRef: read only with credentials ClusterSecret"],
    ),
    (
        "the same for the input's",
        "platform",
        {},
        {"argocd": {"tokenSecretRef": {"name": "tok", "namespace": "ops"}}},
        ["input.argocd.tokenSecretRef: read only with credentials ClusterSecret"],
    ),
    (
        "the XR may choose ClusterSecret for the input's Secret",
        "platform",
        {"credentials": "ClusterSecret"},
        {"argocd": {"tokenSecretRef": {"name": "tok", "namespace": "ops"}}},
        "ops/tok",
    ),
]


@pytest.mark.parametrize(
    ("xr_namespace", "argocd", "function_input", "want"),
    [case[1:] for case in TOKEN_SECRET_CASES],
    ids=[case[0] for case in TOKEN_SECRET_CASES],
)
def test_where_the_token_secret_may_be(
    xr_namespace: str | None,
    argocd: dict[str, Any],
    function_input: dict[str, Any] | None,
    want: str | list[str],
) -> None:
    xr = f.xr(f.spec(argocd=argocd), namespace=xr_namespace)
    if isinstance(want, str):
        ref = resolve.parse(xr, function_input).argocd.token_secret_ref
        assert f"{ref.namespace}/{ref.name}" == want
        return
    with pytest.raises(resolve.SpecError) as e:
        resolve.parse(xr, function_input)
    assert len(e.value.problems) == len(want), e.value.problems
    for problem, start in zip(e.value.problems, want, strict=True):
        assert problem.startswith(start), problem


def test_control_plane_settings_merge_over_the_defaults() -> None:
    spec = f.spec(
        controlPlaneDefaults={
            "crossplane": {
                "version": "1.20.1-up.1",
                "autoUpgrade": {"channel": "Patch"},
                "state": "Running",
            },
            "protect": False,
        }
    )
    spec["groups"][0]["controlPlanes"][0] = {
        "name": "ctp1",
        "crossplane": {"autoUpgrade": {"channel": "None"}, "state": "Paused"},
        "protect": True,
    }
    env = parse(spec)
    ctp1, ctp2 = env.groups[0].control_planes
    assert ctp1.crossplane == {
        "version": "1.20.1-up.1",
        "autoUpgrade": {"channel": "None"},
        "state": "Paused",
    }
    assert ctp1.protect is True
    assert ctp2.crossplane == {
        "version": "1.20.1-up.1",
        "autoUpgrade": {"channel": "Patch"},
        "state": "Running",
    }
    assert ctp2.protect is False
    # A group is protected when any of its control planes is: deleting it deletes them all.
    assert [g.protect for g in env.groups] == [True, False]


def test_unset_channel_defaults_to_stable_and_no_version_is_sent() -> None:
    env = parse(f.spec())
    assert env.groups[1].control_planes[0].crossplane == {"autoUpgrade": {"channel": "Stable"}}


def test_resolution_does_not_depend_on_list_order() -> None:
    spec = f.spec()
    shuffled = copy.deepcopy(spec)
    rng = random.Random(7)
    for key in ("groups",):
        rng.shuffle(shuffled[key])
    for group in shuffled["groups"]:
        group["controlPlanes"].reverse()
    for key in ("teams", "robots", "repositories"):
        shuffled["iam"][key].reverse()
    a, b = parse(spec), parse(shuffled)
    assert control_planes(a) == control_planes(b)
    assert a.teams == b.teams
    assert a.repositories == b.repositories


def control_planes(env: resolve.Environment) -> list[tuple[Any, ...]]:
    return [(cp.group, cp.name, cp.crossplane, cp.protect) for cp in env.control_planes()]


def test_host_accepts_a_url_and_keeps_the_host() -> None:
    env = parse(with_path("space.host", "https://proxy.acme.example.com:8443/"))
    assert env.space.host == "proxy.acme.example.com:8443"


def test_lists_longer_than_the_xrd_allows_are_named_problems() -> None:
    groups = [{"name": f"g{i}"} for i in range(MAX_GROUPS + 1)]
    with pytest.raises(resolve.SpecError) as raised:
        resolve.parse(f.xr(f.spec(groups=groups)), None)
    assert raised.value.problems == [
        f"spec.groups: lists more than {MAX_GROUPS} entries; "
        "split them across several UpboundEnvironments"
    ]
