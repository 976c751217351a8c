"""Hostile input over the real gRPC server: what issue 9 found, one regression test each.

Names never meet, a kubeconfig kubectl would refuse is refused, malformed observed or
required state is reported on its one resource (the rest composes), one Fatal lists every
problem, every name and label written is one Kubernetes accepts, and types are not coerced.
"""

from __future__ import annotations

import copy
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource

from tests import factories as f
from tests import names
from tests.schemas import assert_valid
from tests.server import Server

NAMESPACES = pytest.mark.parametrize("namespace", ["platform", None], ids=["namespaced", "cluster"])


def warnings(rsp: fnv1.RunFunctionResponse) -> list[str]:
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]


def status_of(rsp: fnv1.RunFunctionResponse, group: str, name: str) -> dict[str, Any]:
    status = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    (entry,) = [e for e in status["controlPlanes"] if (e["group"], e["name"]) == (group, name)]
    return dict(entry)


def fatal_problems(rsp: fnv1.RunFunctionResponse) -> list[str]:
    assert [r.severity for r in rsp.results] == [fnv1.SEVERITY_FATAL]
    assert len(rsp.desired.resources) == 0
    return [line[2:] for line in rsp.results[0].message.splitlines()[1:]]


# --- 2. Names are injective ------------------------------------------------------------------


@NAMESPACES
def test_long_control_plane_names_that_share_a_prefix_get_different_names(
    debug_server: Server, namespace: str | None
) -> None:
    """The issue's pair: both were named
    acme-prod-controlplane-team-a-preview-environment-for-pr-74bd2.
    """
    cps = [{"name": "preview-environment-for-pr-202"}, {"name": "preview-environment-for-pr-511"}]
    spec = f.spec(groups=[{"name": "team-a", "controlPlanes": cps}], iam={})
    rounds = f.reconcile(f.xr(spec, name="acme-prod", namespace=namespace), call=debug_server.call)
    _, rsp = rounds[-1]
    desired = f.desired(rsp)
    names = [desired[f"controlplane.team-a.{cp['name']}"]["metadata"]["name"] for cp in cps]
    assert names == [
        "acme-prod-controlplane-team-a-previe-os6s2ihoppa2jqfsdfodjcm7ai",
        "acme-prod-controlplane-team-a-previe-os6sd4bp4x6qh2hgrs3g7eks5p",
    ]
    assert len({d["metadata"]["name"] for d in desired.values()}) == len(desired)


def test_an_existing_resource_keeps_its_name(debug_server: Server) -> None:
    """An Object named by an earlier version (its long name cut to 5 hex digits) keeps it."""
    groups = [{"name": "team-a", "controlPlanes": [{"name": "p" * 50}]}]
    xr = f.xr(f.spec(space={"type": "Disconnected"}, groups=groups))
    rsp, observed = f.settle(xr)
    name = f"controlplane.team-a.{'p' * 50}"
    body = f.desired(rsp)[name]
    old = "acme-controlplane-team-a-pppppppppppppppppppppppppppppp-1a2b3"
    body["metadata"]["name"] = old
    observed = {**observed, name: f.observe({name: body})[name]}
    kept = f.desired(debug_server.call(f.request(xr, observed=observed)))[name]
    assert kept["metadata"]["name"] == old
    assert kept["spec"]["writeConnectionSecretToRef"]["name"] == old


def test_two_names_that_read_alike_and_share_a_short_digest_are_refused(
    debug_server: Server,
) -> None:
    """Found by search: these two pairs read alike and their 20-bit digests meet."""
    pairs = [("e-bb-i-fc-f", "f-jg-fg-i-bf-a-h-f-hh"), ("e-bb-i-fc-f-f-jg-fg-i", "bf-a-h-f-hh")]
    groups = [{"name": g, "controlPlanes": [{"name": c}]} for g, c in pairs]
    spec = f.spec(groups=groups, argocd={"enabled": False}, iam={})
    observed = [f"group.{g}" for g, _ in pairs]
    problems = fatal_problems(debug_server.call(f.request(f.xr(spec), observed=observed)))
    assert problems == [
        f"controlplane.{pairs[0][0]}.{pairs[0][1]} and controlplane.{pairs[1][0]}.{pairs[1][1]} "
        "would both be named 'acme-controlplane-e-bb-i-fc-f-f-jg-fg-i-bf-a-h-f-hh-c7d22'; "
        "rename one of the entries"
    ]


# --- 3. and 4. Kubeconfigs and observed state of any shape ---------------------------------


def disconnected(
    namespace: str | None = "platform",
) -> tuple[dict[str, Any], dict[str, fnv1.Resource]]:
    """A settled Disconnected environment: its XR and observed state."""
    xr = f.xr(f.spec(space={"type": "Disconnected"}), namespace=namespace)
    _, observed = f.settle(xr)
    return xr, observed


def with_kubeconfig(
    observed: dict[str, fnv1.Resource], name: str, raw: bytes
) -> dict[str, fnv1.Resource]:
    changed = copy.deepcopy(observed)
    changed[name].connection_details["kubeconfig"] = raw
    return changed


KUBECONFIG = f.kubeconfig(f.edge_server("controlplane.dev.ctp1")).decode()
UNUSABLE_KUBECONFIGS = {
    "current-context names no context": KUBECONFIG.replace(
        "current-context: ctp", "current-context: gone"
    )
    + "- name: gone-user\n  user: {token: other-token}\n",
    "current-context is not a string": KUBECONFIG.replace(
        "current-context: ctp", "current-context: [ctp]"
    ),
    "contexts: [1]": KUBECONFIG.replace("contexts:\n- name: ctp", "contexts: [1]\nx:\n- name: ctp"),
    "users: 5": KUBECONFIG.replace("users:\n", "users: 5\nx:\n"),
}


@pytest.mark.parametrize("raw", UNUSABLE_KUBECONFIGS.values(), ids=UNUSABLE_KUBECONFIGS.keys())
def test_an_unusable_kubeconfig_is_reported_on_its_control_plane(
    debug_server: Server, raw: str
) -> None:
    xr, observed = disconnected()
    settled = f.desired(debug_server.call(f.request(xr, observed=observed)))
    rsp = debug_server.call(
        f.request(xr, observed=with_kubeconfig(observed, "controlplane.dev.ctp1", raw.encode()))
    )
    assert f.fatal(rsp) == []
    (warning,) = warnings(rsp)
    assert warning.startswith("control plane dev/ctp1: kubeconfig")
    desired = f.desired(rsp)
    assert desired == settled, "the cluster Secret stays as it was; the rest composes"
    assert "other-token" not in str(rsp) and f.KUBECONFIG_TOKEN not in str(rsp.results)
    message = status_of(rsp, "dev", "ctp1")["message"]
    assert message.startswith(
        "ControlPlane ready; Argo CD cluster Secret: waiting for a usable kubeconfig"
    )


def observed_with(
    observed: dict[str, fnv1.Resource], name: str, body: dict[str, Any]
) -> dict[str, fnv1.Resource]:
    return {**observed, name: fnv1.Resource(resource=resource.dict_to_struct(body))}


OBJECT = {"apiVersion": "kubernetes.m.crossplane.io/v1alpha1", "kind": "Object"}
MALFORMED = {
    "no apiVersion": {"kind": "Object", "metadata": {"name": "x"}, "spec": {}},
    "no kind": {"apiVersion": OBJECT["apiVersion"], "metadata": {"name": "x"}, "spec": {}},
    "metadata a list": {**OBJECT, "metadata": ["x"], "spec": {}},
    "spec a string": {**OBJECT, "metadata": {"name": "x"}, "spec": "x"},
    "annotations a list": {**OBJECT, "metadata": {"annotations": ["x"]}, "spec": {}},
    "conditions a mapping": {**OBJECT, "spec": {}, "status": {"conditions": {"type": "Ready"}}},
    "a condition a string": {**OBJECT, "spec": {}, "status": {"conditions": ["Ready"]}},
}


def served_with(
    server: Server, name: str, body: dict[str, Any]
) -> tuple[dict[str, dict[str, Any]], fnv1.RunFunctionResponse]:
    """The settled environment's resources, and the answer once `name` is observed as `body`."""
    xr = f.xr()
    rsp, observed = f.settle(xr)
    answer = server.call(f.request(xr, observed=observed_with(observed, name, body)))
    assert f.fatal(answer) == []
    return f.desired(rsp), answer


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_removed_resource_is_kept_and_reported(
    debug_server: Server, body: dict[str, Any]
) -> None:
    settled, rsp = served_with(debug_server, "group.old", body)
    desired = f.desired(rsp)
    assert (desired["group.old"] == {k: v for k, v in body.items() if k != "status"}) or (
        "status" in body
    ), "a malformed one is kept exactly as observed"
    assert "group.old" in desired, "never dropped: Crossplane would delete it"
    assert {k: v for k, v in desired.items() if k != "group.old"} == settled
    if "status" not in body:  # a readable resource with odd conditions is just not ready
        assert any(w.startswith("group.old: the observed resource") for w in warnings(rsp))


@pytest.mark.parametrize("body", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_resource_the_spec_lists_is_composed_again(
    debug_server: Server, body: dict[str, Any]
) -> None:
    settled, rsp = served_with(debug_server, "controlplane.dev.ctp1", body)
    assert set(rsp.desired.resources) == set(settled)
    spec = f.desired(rsp)["controlplane.dev.ctp1"]["spec"]
    assert spec == settled["controlplane.dev.ctp1"]["spec"], "composed from the spec"
    assert status_of(rsp, "dev", "ctp1")["ready"] is False


@pytest.mark.parametrize("data", [None, "dG9rZW4=", ["token"], {"token": 5}])
def test_a_token_secret_of_odd_shape_is_a_warning_not_a_crash(
    debug_server: Server, data: Any
) -> None:
    """ClusterSecret mode: the token Secret concerns the Argo CD clusters; the rest composes."""
    secret = {**f.TOKEN_SECRET, "data": data}
    xr = f.xr(f.spec(argocd=f.CLUSTER_SECRET))
    rsp = debug_server.call(f.request(xr, token_secret=secret, observed=["group.dev"]))
    assert f.fatal(rsp) == []
    (warning,) = warnings(rsp)
    assert "tokenSecretRef" in warning, warning
    assert "controlplane.dev.ctp1" in rsp.desired.resources


# --- 5. One Fatal lists every problem ----------------------------------------------------------


def test_the_fatal_lists_every_problem_at_once(debug_server: Server) -> None:
    """The issue's spec: a bad group name no longer hides the other two problems."""
    spec = {
        "organization": "acme",
        "space": {"type": "Cloud"},
        "groups": [
            {
                "name": "Dev",
                "controlPlanes": [
                    {"name": "ctp1", "crossplane": {"autoUpgrade": {"channel": "None"}}}
                ],
            }
        ],
    }
    problems = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert [p.split(":")[0] for p in problems] == [
        "spec.groups[0].name",
        "spec.space.name",
        "spec.groups[0].controlPlanes[0].crossplane.version",
    ]


def test_argo_cd_names_are_checked_beside_shape_errors(debug_server: Server) -> None:
    groups = [
        {"name": "Dev"},
        {"name": "a-b", "controlPlanes": [{"name": "c"}]},
        {"name": "a", "controlPlanes": [{"name": "b-c"}]},
    ]
    spec = f.spec(groups=groups, organization="Acme")
    problems = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert [p.split(":")[0] for p in problems] == [
        "spec.organization",
        "spec.groups[0].name",
        "spec.groups[1].controlPlanes[0]",
        "spec.groups[2].controlPlanes[0]",
    ]
    assert "Argo CD cluster name 'controlplane-a-b-c' is also produced" in problems[-1]


# --- 6. Every name and label is one Kubernetes accepts -------------------------------------------


@pytest.mark.parametrize("prefix", ["x..", "a.-", ".a", "a-.b", "a..b-"])
def test_a_prefix_that_makes_invalid_secret_names_is_refused(
    debug_server: Server, prefix: str
) -> None:
    spec = f.spec(argocd={**f.spec()["argocd"], "clusterNamePrefix": prefix})
    (problem,) = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert problem.startswith("spec.argocd.clusterNamePrefix: must start the DNS-1123 subdomains")


@pytest.mark.parametrize("prefix", ["", "a.", "prod.", "a-", "a.b-c-", "x.y.z"])
def test_prefixes_that_make_valid_secret_names_compose(debug_server: Server, prefix: str) -> None:
    spec = f.spec(argocd={**f.spec()["argocd"], "clusterNamePrefix": prefix})
    rounds = f.reconcile(f.xr(spec), call=debug_server.call)
    _, rsp = rounds[-1]
    composed = f.desired(rsp)["argocd-cluster.dev.ctp1"]
    assert f.manifest(composed)["metadata"]["name"].startswith(f"{prefix}dev-ctp1-")
    assert names.object_problems(composed, "argocd-cluster.dev.ctp1") == []
    assert_valid(composed)


def test_a_label_key_with_a_prefix_longer_than_253_is_refused(debug_server: Server) -> None:
    key = ".".join(["a" * 63] * 4) + "a/x"  # a 256-character subdomain, then /x
    spec = f.spec(argocd={**f.spec()["argocd"], "labels": {key: "v"}})
    (problem,) = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert problem.startswith("spec.argocd.labels.")
    assert "prefix (before '/') has at most 253 characters" in problem


def test_a_space_name_longer_than_a_dns_label_is_refused(debug_server: Server) -> None:
    """Found by the thorough profile: <name>.space.mxe.upbound.io needs a DNS label."""
    spec = f.spec(space={"type": "Cloud", "name": "a" * 64})
    (problem,) = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert problem.startswith("spec.space.name: ")


# --- 7. No type coercion -----------------------------------------------------------------


COERCED = [
    ("controlPlaneDefaults", {"protect": "false"}, "spec.controlPlaneDefaults.protect"),
    ("controlPlaneDefaults", {"protect": "no"}, "spec.controlPlaneDefaults.protect"),
    ("controlPlaneDefaults", {"protect": 0}, "spec.controlPlaneDefaults.protect"),
    ("argocd", {"enabled": "yes"}, "spec.argocd.enabled"),
]


@pytest.mark.parametrize(("field", "value", "path"), COERCED)
def test_strings_and_numbers_are_not_booleans(
    debug_server: Server, field: str, value: Any, path: str
) -> None:
    spec = f.spec()
    spec[field] = {**spec.get(field, {}), **value}
    (problem,) = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert problem == f"{path}: must be true or false, unquoted (the XRD's type is boolean)"


def test_register_and_public_are_not_coerced(debug_server: Server) -> None:
    spec = f.spec()
    spec["groups"][0]["controlPlanes"][0]["argocd"] = {"register": "off"}
    spec["iam"]["repositories"][0]["public"] = "yes"
    spec["groups"][1]["controlPlanes"][0]["protect"] = 1
    problems = fatal_problems(debug_server.call(f.request(f.xr(spec))))
    assert [p.split(":")[0] for p in problems] == [
        "spec.groups[0].controlPlanes[0].argocd.register",
        "spec.groups[1].controlPlanes[0].protect",
        "spec.iam.repositories[0].public",
    ]


@pytest.mark.parametrize(
    ("value", "ok"), [(60.0, True), ("60", False), (True, False), (60.5, False)]
)
def test_ttl_seconds_are_whole_numbers(debug_server: Server, value: Any, ok: bool) -> None:
    function_input = {"ttl": {"readySeconds": value}}
    rsp = debug_server.call(f.request(f.xr(), function_input=function_input))
    if ok:
        assert f.fatal(rsp) == []
    else:
        (problem,) = fatal_problems(rsp)
        assert problem.startswith("input.ttl.readySeconds: must be a whole number")


@pytest.mark.parametrize("name", ["access", "group", "controlplane", "controlplanegroup"])
def test_an_observed_name_without_a_group_does_not_crash(name: str) -> None:
    """Found by the thorough property profile: an observed `access` made an IndexError."""
    observed = {n: f.observed_resource(n) for n in ("group.dev", "controlplane.dev.ctp1")}
    observed[name] = fnv1.Resource(resource=resource.dict_to_struct({}))
    rsp = f.run(f.request(f.xr(), observed=observed))
    assert not any("internal error" in r.message for r in rsp.results)
    assert "group.dev" in rsp.desired.resources
