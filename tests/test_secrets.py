"""Secrets stay secret: the whole pipeline through the real server, logging at debug level.

With credentials ClusterSecret, the Upbound token (from the required token Secret) and a
Disconnected control plane's bearer token (from its kubeconfig connection details) may
appear in exactly one place: the Argo CD cluster Secret's base64 `data`. Never in the
server's logs, results, conditions or the XR's status, in plain text or base64; and an
unusable token or kubeconfig is reported without quoting it. With credentials Environment
(the default) the token appears nowhere at all, and the function never asks for it.
"""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Iterator
from typing import cast

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import pytest
from crossplane.function import resource
from google.protobuf import json_format, struct_pb2

from tests import factories as f
from tests import server as fnserver

SECRETS = (f.TOKEN, f.KUBECONFIG_TOKEN)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[fnserver.Server]:
    """A server of its own, so that its logs hold only these tests' calls."""
    with fnserver.function_server(
        tmp_path_factory.mktemp("secrets"), "--insecure", "--debug"
    ) as running:
        yield running


def forms(secret: str) -> list[str]:
    """The secret as text, and as it looks inside any base64 text (each of 3 alignments)."""
    out = [secret]
    for pad in range(3):
        encoded = base64.b64encode(b"x" * pad + secret.encode()).decode()
        # The first and last 4 characters may mix in neighbouring bytes; the rest cannot.
        out.append(encoded[4:-4])
    return out


def leaks(text: str) -> list[str]:
    """The secret forms found in a text."""
    return [form for secret in SECRETS for form in forms(secret) if form in text]


def _at(struct: struct_pb2.Struct, *keys: str) -> struct_pb2.Struct:
    """The object at a path of keys in a Struct."""
    for key in keys:
        struct = cast(struct_pb2.Struct, struct[key])
    return struct


def outside_argo_data(rsp: fnv1.RunFunctionResponse) -> str:
    """The whole response as JSON, with the Argo CD cluster Secrets' `data` taken out."""
    copied = fnv1.RunFunctionResponse()
    copied.CopyFrom(rsp)
    for name, composed in copied.desired.resources.items():
        if name.startswith("argocd-cluster."):
            manifest = _at(composed.resource, "spec", "forProvider", "manifest")
            del manifest["data"]
    text: str = json_format.MessageToJson(copied)
    return text


def test_forms_find_a_secret_inside_base64() -> None:
    for prefix in (b"", b"a", b"ab", b"abc:"):
        text = base64.b64encode(prefix + f.TOKEN.encode() + b"tail").decode()
        assert any(form in text for form in forms(f.TOKEN)), prefix


@pytest.mark.parametrize("space", [{"type": "Cloud", "name": "gcp"}, {"type": "Disconnected"}])
@pytest.mark.parametrize("namespace", ["platform", None])
def test_secrets_reach_only_the_argo_cluster_secret_data(
    server: fnserver.Server, space: dict[str, str], namespace: str | None
) -> None:
    xr = f.xr(f.spec(space=space, argocd=f.CLUSTER_SECRET), namespace=namespace)
    rounds = f.reconcile(xr, call=server.call)
    for _, rsp in rounds:
        assert leaks(outside_argo_data(rsp)) == []
    _, last = rounds[-1]
    secret = f.TOKEN if space["type"] == "Cloud" else f.KUBECONFIG_TOKEN
    for name, composed in f.desired(last).items():
        if name.startswith("argocd-cluster."):
            assert secret in json.dumps(json.loads(f.secret_data(composed)["config"]))
    logs = server.logs()
    assert "composed" in logs, "debug logging is on"
    assert leaks(logs) == []


def _token_secret(data: dict[str, str]) -> dict[str, object]:
    secret = copy.deepcopy(f.TOKEN_SECRET)
    secret["data"] = data
    return secret


BAD_TOKEN_SECRETS = {
    "not base64": {"token": f"!{f.TOKEN}!"},
    "not UTF-8": {"token": base64.b64encode(b"\xff" + f.TOKEN.encode()).decode()},
    "wrong key": {"tokn": base64.b64encode(f.TOKEN.encode()).decode()},
    "blank": {"token": base64.b64encode(b"  \n").decode(), "other": f.TOKEN},
}


@pytest.mark.parametrize("case", sorted(BAD_TOKEN_SECRETS))
def test_an_unusable_token_secret_is_a_warning_without_quoting_it(
    server: fnserver.Server, case: str
) -> None:
    xr = f.xr(f.spec(argocd=f.CLUSTER_SECRET))
    ready = ["group.dev", "group.prod", "controlplane.dev.ctp1"]
    rsp = server.call(
        f.request(xr, observed=ready, token_secret=_token_secret(BAD_TOKEN_SECRETS[case]))
    )
    assert f.fatal(rsp) == []
    warnings = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]
    assert len(warnings) == 1
    assert warnings[0].startswith("spec.argocd.tokenSecretRef")
    assert "Secret platform/upbound-token" in warnings[0]
    # Everything else composes; the Argo CD cluster waits, and the XR's status says why.
    assert {"controlplane.dev.ctp2", "team.platform"} <= set(rsp.desired.resources)
    assert not any(n.startswith("argocd-cluster.") for n in rsp.desired.resources)
    assert rsp.desired.composite.ready == fnv1.READY_FALSE
    status = resource.struct_to_dict(rsp.desired.composite.resource)["status"]
    (ctp1,) = [e for e in status["controlPlanes"] if (e["group"], e["name"]) == ("dev", "ctp1")]
    assert ctp1["message"].startswith(
        "ControlPlane ready; Argo CD cluster Secret: spec.argocd.tokenSecretRef"
    )
    assert "Secret platform/upbound-token" in ctp1["message"]
    assert leaks(json_format.MessageToJson(rsp)) == []
    assert leaks(server.logs()) == []


def test_an_existing_cluster_stays_while_the_token_secret_is_missing(
    server: fnserver.Server,
) -> None:
    xr = f.xr(f.spec(argocd=f.CLUSTER_SECRET))
    rounds = f.reconcile(xr, call=server.call)
    observed, settled = rounds[-1]
    rsp = server.call(f.request(xr, observed=observed, token_secret=None))
    assert f.fatal(rsp) == []
    kept = f.desired(rsp)["argocd-cluster.dev.ctp1"]
    assert (
        kept["spec"]
        == resource.struct_to_dict(observed["argocd-cluster.dev.ctp1"].resource)["spec"]
    )
    assert set(rsp.desired.resources) == set(settled.desired.resources)
    warnings = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]
    assert ["was not found" in w for w in warnings] == [True]
    assert rsp.desired.composite.ready == fnv1.READY_FALSE


@pytest.mark.parametrize(
    "space",
    [
        {"type": "Cloud", "name": "gcp"},
        {"type": "Connected", "host": "proxy.acme.example.com"},
        {"type": "Connected"},
    ],
)
@pytest.mark.parametrize("namespace", ["platform", None])
def test_environment_credentials_never_touch_the_token(
    server: fnserver.Server, space: dict[str, str], namespace: str | None
) -> None:
    """The token appears in no response, Secret data included, log line, status or result.

    Every request carries the token Secret anyway, as if Crossplane had been asked for it.
    """
    xr = f.xr(f.spec(space=space), namespace=namespace)
    rounds = f.reconcile(xr, call=server.call)
    for _, rsp in rounds:
        assert leaks(json_format.MessageToJson(rsp)) == []
        assert not rsp.requirements.resources
        assert not rsp.requirements.extra_resources
    _, last = rounds[-1]
    clusters = [c for n, c in f.desired(last).items() if n.startswith("argocd-cluster.")]
    assert len(clusters) == 3
    for composed in clusters:
        config = json.loads(f.secret_data(composed)["config"])
        assert config["execProviderConfig"]["env"] == {"ORGANIZATION": "acme"}
    assert leaks(server.logs()) == []


BAD_KUBECONFIGS = {
    "not YAML": f"users: [{{token: {f.KUBECONFIG_TOKEN}".encode(),
    "plain http": f.kubeconfig("http://ctp.example.com").replace(b"https", b"http"),
    "no server": f.kubeconfig().replace(b"server:", b"sever:"),
    "token in the wrong place": f.kubeconfig().replace(b"token:", b"password:"),
    "binary": b"\xff\xfe" + f.KUBECONFIG_TOKEN.encode(),
    "base64 of nonsense": base64.b64encode(f"clusters: {f.KUBECONFIG_TOKEN}".encode()),
}


@pytest.mark.parametrize("case", sorted(BAD_KUBECONFIGS))
def test_an_unusable_kubeconfig_is_reported_without_quoting_it(
    server: fnserver.Server, case: str
) -> None:
    xr = f.xr(f.spec(space={"type": "Disconnected"}))
    rounds = f.reconcile(xr, call=server.call)
    observed, _ = rounds[-1]
    for name, composed in list(observed.items()):
        if composed.connection_details:
            composed.connection_details["kubeconfig"] = BAD_KUBECONFIGS[case]
        if name.startswith("argocd-cluster."):  # not there yet: nothing to keep
            del observed[name]
    rsp = server.call(f.request(xr, observed=observed))
    warnings = [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_WARNING]
    assert len(warnings) == 3, warnings
    assert all("kubeconfig" in w for w in warnings)
    assert not any(n.startswith("argocd-cluster.") for n in rsp.desired.resources)
    assert leaks(json_format.MessageToJson(rsp)) == []
    assert leaks(server.logs()) == []
