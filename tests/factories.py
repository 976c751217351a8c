"""Builders of XRs, observed state and requests for the tests."""

from __future__ import annotations

import base64
import copy
import uuid
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource
from pydantic import SecretStr

from function.compose import iam
from function.compose.common import Composition, Context
from function.flavour import flavour_of
from function.fn import FunctionRunner
from function.naming import metadata_name
from function.observed import Observed
from function.resolve import parse

TOKEN = "upbound-token-7d1f0c2a9e"
TOKEN_SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "upbound-token", "namespace": "crossplane-system"},
    "data": {"token": base64.b64encode(TOKEN.encode()).decode()},
}
KUBECONFIG_TOKEN = "kubeconfig-bearer-5b3e9f"
CA_DATA = base64.b64encode(b"-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
# What a Connected Space's ConfigMap upbound-system/ingress-public holds (data keys as the
# `up` CLI reads them): the host, here with the scheme `up` trims, and the CA as PEM text.
INGRESS_HOST = "spaces.acme.example.com"
INGRESS_DATA = {
    "ingress-host": f"https://{INGRESS_HOST}",
    "ingress-ca": base64.b64decode(CA_DATA).decode(),
}


# Argo CD settings of ClusterSecret mode: the token from the Secret TOKEN_SECRET (namespace
# omitted: the XR's own).
CLUSTER_SECRET: dict[str, Any] = {
    "credentials": "ClusterSecret",
    "tokenSecretRef": {"name": "upbound-token"},
}


def spec(**overrides: Any) -> dict[str, Any]:
    """A valid Cloud spec with two groups, three control planes and some IAM.

    Argo CD uses the default credentials, Environment; `argocd=CLUSTER_SECRET` reads a token.
    """
    base: dict[str, Any] = {
        "organization": "acme",
        "space": {"type": "Cloud", "name": "upbound-gcp-us-west-1"},
        "groups": [
            {
                "name": "dev",
                "controlPlanes": [
                    {"name": "ctp1", "crossplane": {"autoUpgrade": {"channel": "Rapid"}}},
                    {"name": "ctp2", "argocd": {"project": "team-a", "labels": {"env": "dev"}}},
                ],
                "access": [
                    {"team": "platform", "role": "admin"},
                    {"team": "app-team", "role": "viewer"},
                ],
            },
            {"name": "prod", "controlPlanes": [{"name": "ctp1"}]},
        ],
        "argocd": {},
        "iam": {
            "teams": [{"name": "platform"}, {"name": "app-team"}],
            "robots": [
                {
                    "name": "ci",
                    "description": "CI robot",
                    "teams": ["platform"],
                    "tokens": [{"name": "ci", "secretRef": {"name": "ci-upbound-token"}}],
                }
            ],
            "repositories": [
                {
                    "name": "configs",
                    "permissions": [
                        {"team": "platform", "permission": "admin"},
                        {"team": "app-team", "permission": "read"},
                    ],
                }
            ],
        },
    }
    base.update(overrides)
    return base


def xr(
    spec_: Mapping[str, Any] | None = None,
    *,
    name: str = "acme",
    namespace: str | None = "platform",
) -> dict[str, Any]:
    """An UpboundEnvironment XR; namespace None makes it cluster-scoped."""
    metadata: dict[str, Any] = {"name": name}
    if namespace is not None:
        metadata["namespace"] = namespace
    return {
        "apiVersion": "platform.upbound.io/v1alpha1",
        "kind": "UpboundEnvironment",
        "metadata": metadata,
        "spec": copy.deepcopy(dict(spec_ if spec_ is not None else spec())),
    }


def kubeconfig(
    server: str = "https://ctp1.edge.example.com:6443",
    *,
    ca: str = CA_DATA.decode(),
    token: str = KUBECONFIG_TOKEN,
) -> bytes:
    """A kubeconfig as a Disconnected Space writes it."""
    return f"""apiVersion: v1
kind: Config
current-context: ctp
clusters:
- name: ctp
  cluster:
    server: {server}
    certificate-authority-data: {ca}
contexts:
- name: ctp
  context: {{cluster: ctp, user: ctp}}
users:
- name: ctp
  user:
    token: {token}
""".encode()


EXTERNAL_NAME = "crossplane.io/external-name"
# Kinds whose external name provider-upbound sets to the ID Upbound assigns, on Create.
ASSIGNED_IDS = {"Team": "team.", "Robot": "robot.", "Token": "robot-token."}


def upbound_id(metadata_name_: str) -> str:
    """The ID Upbound assigns a team, robot or token (a UUID), stable per resource."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, metadata_name_))


def observed_resource(
    name: str,
    *,
    ready: bool = True,
    xr_name: str = "acme",
    spec_: Mapping[str, Any] | None = None,
    connection_details: Mapping[str, bytes] | None = None,
) -> fnv1.Resource:
    """An observed composed resource with a Ready condition (and its ID, as provider-upbound
    sets it, if it is a team, robot or token)."""
    annotations = {"crossplane.io/composition-resource-name": name}
    if name.startswith(tuple(ASSIGNED_IDS.values())):
        annotations[EXTERNAL_NAME] = upbound_id(metadata_name(xr_name, name))
    body = {
        "apiVersion": "kubernetes.m.crossplane.io/v1alpha1",
        "kind": "Object",
        "metadata": {"name": metadata_name(xr_name, name), "annotations": annotations},
        "spec": dict(spec_ or {"forProvider": {"manifest": {}}}),
        "status": {"conditions": [{"type": "Ready", "status": "True" if ready else "False"}]},
    }
    return fnv1.Resource(
        resource=resource.dict_to_struct(body), connection_details=dict(connection_details or {})
    )


def request(
    xr_: Mapping[str, Any],
    *,
    observed: Mapping[str, fnv1.Resource] | Iterable[str] = (),
    token_secret: Mapping[str, Any] | None = TOKEN_SECRET,
    supply_token: bool = True,
    function_input: Mapping[str, Any] | None = None,
) -> fnv1.RunFunctionRequest:
    """A RunFunctionRequest; `observed` may be names of resources that exist and are ready."""
    resources = (
        dict(observed)
        if isinstance(observed, Mapping)
        else {n: observed_resource(n, xr_name=xr_["metadata"]["name"]) for n in observed}
    )
    req = fnv1.RunFunctionRequest(
        observed=fnv1.State(
            composite=fnv1.Resource(resource=resource.dict_to_struct(dict(xr_))),
            resources=resources,
        )
    )
    if function_input is not None:
        req.input.CopyFrom(resource.dict_to_struct(dict(function_input)))
    if supply_token:
        secrets = [token_secret] if token_secret is not None else []
        items = [fnv1.Resource(resource=resource.dict_to_struct(dict(s))) for s in secrets]
        req.required_resources["upbound-token"].CopyFrom(fnv1.Resources(items=items))
    return req


def run(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionResponse:
    """Run the function in-process."""
    return FunctionRunner().run(req)


def desired(rsp: fnv1.RunFunctionResponse) -> dict[str, dict[str, Any]]:
    """The desired composed resources of a response, by composition resource name."""
    return {k: resource.struct_to_dict(v.resource) for k, v in rsp.desired.resources.items()}


def manifest(composed: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest an Object wraps."""
    return dict(composed["spec"]["forProvider"]["manifest"])


def secret_data(composed: Mapping[str, Any]) -> dict[str, str]:
    """The decoded data of an Object that wraps a Secret."""
    data = manifest(composed)["data"]
    return {k: base64.b64decode(v).decode() for k, v in data.items()}


def observed_body(body: Mapping[str, Any], *, ready: bool = True) -> dict[str, Any]:
    """A desired composed resource as Crossplane observes it once it exists: with Ready.

    An observe-only Object of a Space's ingress ConfigMap reports it in atProvider.manifest,
    holding INGRESS_DATA, as provider-kubernetes does. A team, robot or token gets the ID
    provider-upbound records when it creates one (its external name).
    """
    out = copy.deepcopy(dict(body))
    if out.get("kind") in ASSIGNED_IDS:
        annotations = out.setdefault("metadata", {}).setdefault("annotations", {})
        annotations.setdefault(EXTERNAL_NAME, upbound_id(out["metadata"]["name"]))
    out["status"] = {
        "conditions": [
            {"type": "Ready", "status": "True" if ready else "False", "reason": "Available"}
        ]
    }
    wrapped = (out.get("spec") or {}).get("forProvider", {}).get("manifest", {})
    if wrapped.get("kind") == "ConfigMap" and ready:
        out["status"]["atProvider"] = {"manifest": {**wrapped, "data": dict(INGRESS_DATA)}}
    return out


def edge_server(composition_resource_name: str) -> str:
    """The API server a Disconnected control plane's kubeconfig names, one per control plane."""
    return f"https://{composition_resource_name.replace('.', '-')}.edge.example.com:6443"


def connection_details(name: str, body: Mapping[str, Any]) -> dict[str, bytes]:
    """What Crossplane reports as a composed resource's connection details.

    An Object that brings a Secret key back (`spec.connectionDetails`) gets a kubeconfig under
    that key, as the Space writes it; anything else gets none.
    """
    refs = (body.get("spec") or {}).get("connectionDetails") or []
    return {ref["toConnectionSecretKey"]: kubeconfig(edge_server(name)) for ref in refs}


def observe(
    desired_: Mapping[str, Mapping[str, Any]], *, ready: bool = True
) -> dict[str, fnv1.Resource]:
    """The observed state after Crossplane applied desired resources (composition name -> body)."""
    return {
        name: fnv1.Resource(
            resource=resource.dict_to_struct(observed_body(body, ready=ready)),
            connection_details=connection_details(name, body),
        )
        for name, body in desired_.items()
    }


def waiting(rsp: fnv1.RunFunctionResponse) -> bool:
    """Whether the function holds something back (a Normal result says what)."""
    return rsp.desired.composite.ready == fnv1.READY_FALSE or any(
        r.severity == fnv1.SEVERITY_NORMAL and r.message.startswith("Waiting") for r in rsp.results
    )


Round = tuple[dict[str, fnv1.Resource], fnv1.RunFunctionResponse]


def reconcile(
    xr_: Mapping[str, Any],
    observed: Mapping[str, fnv1.Resource] | None = None,
    *,
    function_input: Mapping[str, Any] | None = None,
    max_rounds: int = 8,
    call: Callable[[fnv1.RunFunctionRequest], fnv1.RunFunctionResponse] | None = None,
) -> list[Round]:
    """Reconcile until nothing waits, each round observing the last as ready.

    Calls the function in-process, or through `call` (e.g. a real server's).

    Returns:
        Every round: the observed state, and the response computed from it.

    Raises:
        AssertionError: It did not settle within max_rounds, or a round was Fatal.
    """
    rounds: list[Round] = []
    current = dict(observed or {})
    for _ in range(max_rounds):
        rsp = (call or run)(request(xr_, observed=current, function_input=function_input))
        assert not fatal(rsp), fatal(rsp)
        rounds.append((current, rsp))
        settled = set(rsp.desired.resources) == set(current) and not waiting(rsp)
        if settled and all(r.ready == fnv1.READY_TRUE for r in rsp.desired.resources.values()):
            return rounds
        current = observe(desired(rsp))
    raise AssertionError(
        f"not settled after {max_rounds} rounds: {[r.message for r in rsp.results]}"
    )


def settle(
    xr_: Mapping[str, Any],
    observed: Mapping[str, fnv1.Resource] | None = None,
    *,
    function_input: Mapping[str, Any] | None = None,
) -> tuple[fnv1.RunFunctionResponse, dict[str, fnv1.Resource]]:
    """The last response of `reconcile`, and the observed state it was computed from."""
    current, rsp = reconcile(xr_, observed, function_input=function_input)[-1]
    return rsp, current


def fatal(rsp: fnv1.RunFunctionResponse) -> list[str]:
    """The messages of the response's Fatal results."""
    return [r.message for r in rsp.results if r.severity == fnv1.SEVERITY_FATAL]


def everything_ready(xr_: Mapping[str, Any], rounds: int = 4) -> fnv1.RunFunctionResponse:
    """Call the function until nothing waits, marking everything it composed ready."""
    observed: dict[str, fnv1.Resource] = {}
    rsp = run(request(xr_, observed=observed))
    for _ in range(rounds):
        observed = {
            n: observed_resource(n, xr_name=xr_["metadata"]["name"]) for n in rsp.desired.resources
        }
        rsp = run(request(xr_, observed=observed))
    return rsp


def context(
    xr_: Mapping[str, Any],
    observed: Mapping[str, fnv1.Resource] | Iterable[str] = (),
    function_input: Mapping[str, Any] | None = None,
    *,
    token: SecretStr | None = None,
) -> Context:
    """A builder Context for an XR, an observed state and the Upbound token."""
    env = parse(xr_, function_input)
    resources = (
        dict(observed)
        if isinstance(observed, Mapping)
        else {n: observed_resource(n, xr_name=env.xr_name) for n in observed}
    )
    observed_ = Observed(resources)
    return Context(
        env=env,
        flavour=flavour_of(env),
        observed=observed_,
        token=token,
        team_ids=iam.team_ids(env, observed_),
    )


def by_name(composition: Composition) -> dict[str, dict[str, Any]]:
    """The desired resources of a composition, by composition resource name."""
    return {d.name: d.resource for d in composition.desired}


def big_spec(
    groups: int,
    *,
    control_planes: int = 5,
    iam: int = 200,
    padding: int = 0,
    sharding: str | None = "Disabled",
) -> dict[str, Any]:
    """A large valid spec, within the XRD's list bounds (function/api/types.py MAX_*).

    Args:
        groups: How many groups (at most MAX_GROUPS).
        control_planes: Control planes in each group.
        iam: How many teams, robots (two teams each) and repositories (one grant each).
        padding: Characters of description on every team and robot, to grow the request
            without growing the work.
        sharding: spec.sharding; Disabled by default, so that a large spec is one large
            call (Auto would shard it above 500 control planes); None leaves it unset.
    """
    teams = [f"team-{i}" for i in range(iam)]
    description = "d" * padding
    extra = {} if sharding is None else {"sharding": sharding}
    return spec(
        **extra,
        groups=[
            {
                "name": f"group-{g}",
                "controlPlanes": [{"name": f"ctp-{c}"} for c in range(control_planes)],
            }
            for g in range(groups)
        ],
        iam={
            "teams": [{"name": t, "description": description} for t in teams],
            "robots": [
                {
                    "name": f"robot-{i}",
                    "description": description or "robot",
                    "teams": teams[i : i + 2],
                }
                for i in range(iam)
            ],
            "repositories": [
                {"name": f"repo-{i}", "permissions": [{"team": teams[i], "permission": "read"}]}
                for i in range(iam)
            ],
        },
    )


def second_round(xr_: Mapping[str, Any]) -> fnv1.RunFunctionRequest:
    """A request whose observed state is everything the first call composed, Ready."""
    first = run(request(xr_))
    return request(xr_, observed=observe(desired(first)))
