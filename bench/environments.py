"""Benchmark inputs: UpboundEnvironment XRs of a given size and a steady, all-ready observed state.

An environment of `n` control planes has n/5 groups (at least one), and n/5 teams, robots and
repositories; each robot is in two teams and each repository grants two teams. The observed
state is what Crossplane sends once everything exists and is ready: every composed resource as
the function desires it, with the metadata and status the API server and the providers add,
and the Upbound token Secret as a required resource.
"""

from __future__ import annotations

import base64
import copy
import hashlib
import random
from typing import Any, Literal

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from function.credentials import KUBECONFIG_KEY, TOKEN_REQUIREMENT
from function.fn import FunctionRunner
from tests import factories

SIZES = (1, 10, 100, 500)
XR_NAME = "acme"
XR_NAMESPACE = "platform"
TOKEN_SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "upbound-credentials", "namespace": "crossplane-system"},
    "data": {"token": base64.b64encode(b"benchmark-upbound-token").decode()},
}
# The peer (function-pythonic) reads its composition from the step input; this function
# ignores unknown input fields, so one request serves all three servers.
PEER_COMPOSITE = "peer_composition.UpboundEnvironmentComposite"
PEER_STEP = "compose-environment"
_TIMESTAMP = "2026-01-01T00:00:00Z"
Space = Literal["Cloud", "Disconnected"]
# As large as a Space's: a PEM CA certificate (base64 again) and a service account token.
_CA_BYTES, _TOKEN_CHARS = 1100, 900


def spec(control_planes: int, space: Space = "Cloud") -> dict[str, Any]:
    """The spec of an environment with `control_planes` control planes in a Cloud Space.

    A Disconnected Space instead: Argo CD reaches each control plane with its kubeconfig.
    """
    share = max(1, control_planes // 5)
    groups: list[dict[str, Any]] = [
        {"name": f"g{i:03d}", "controlPlanes": []} for i in range(share)
    ]
    for i in range(control_planes):
        cp: dict[str, Any] = {"name": f"ctp{i:04d}"}
        if i % 3 == 0:
            cp["argocd"] = {"project": f"team-{i % 7}", "labels": {"tier": "gold"}}
        groups[i % share]["controlPlanes"].append(cp)
    teams = [{"name": f"team{i:03d}"} for i in range(share)]
    robots = [
        {"name": f"robot{i:03d}", "teams": sorted({f"team{i:03d}", f"team{(i + 1) % share:03d}"})}
        for i in range(share)
    ]
    permissions = ("admin", "read")
    repositories = [
        {
            "name": f"repo{i:03d}",
            "permissions": [
                {"team": team, "permission": permissions[k]}
                for k, team in enumerate(sorted({f"team{i:03d}", f"team{(i + 1) % share:03d}"}))
            ],
        }
        for i in range(share)
    ]
    return {
        "organization": "acme",
        "space": (
            {"type": "Cloud", "name": "upbound-gcp-us-west-1"}
            if space == "Cloud"
            else {"type": "Disconnected"}
        ),
        "groups": groups,
        "argocd": {"labels": {"managed-by": "crossplane"}},
        "iam": {"teams": teams, "robots": robots, "repositories": repositories},
    }


def xr(control_planes: int, space: Space = "Cloud") -> dict[str, Any]:
    """The observed XR, with the fields Crossplane and the API server add."""
    return {
        "apiVersion": "platform.upbound.io/v1alpha1",
        "kind": "UpboundEnvironment",
        "metadata": {
            "name": XR_NAME,
            "namespace": XR_NAMESPACE,
            "uid": "6f1c7e9a-0000-4000-8000-000000000001",
            "generation": 3,
            "resourceVersion": "4711",
            "creationTimestamp": _TIMESTAMP,
        },
        "spec": {
            **spec(control_planes, space),
            "crossplane": {"compositionRef": {"name": "upboundenvironments"}},
        },
    }


def function_input() -> dict[str, Any]:
    """The step input: this function's defaults, plus the peer's composition class."""
    return {
        "apiVersion": "upboundenvironment.fn.crossplane.io/v1beta1",
        "kind": "Input",
        # ClusterSecret, named by the input (which may name any namespace): this function
        # reads the token as the peer does, so both do the same work.
        "argocd": {
            "namespace": "argocd",
            "credentials": "ClusterSecret",
            "tokenSecretRef": {
                "name": TOKEN_SECRET["metadata"]["name"],
                "namespace": TOKEN_SECRET["metadata"]["namespace"],
            },
        },
        "composite": PEER_COMPOSITE,
        "step": PEER_STEP,
    }


def _peer_context() -> dict[str, Any]:
    """What the peer stored in the context on its first pass: the token is already required."""
    required = {
        "apiVersion": "v1",
        "kind": "Secret",
        "namespace": TOKEN_SECRET["metadata"]["namespace"],
        "matchName": TOKEN_SECRET["metadata"]["name"],
    }
    return {"_pythonic": {PEER_STEP: {"iteration": 1, "requireds": {TOKEN_REQUIREMENT: required}}}}


def _as_observed(name: str, desired: dict[str, Any], *, ready: bool, index: int) -> dict[str, Any]:
    """A desired resource as the API server returns it once its provider has synced it."""
    body = copy.deepcopy(desired)
    metadata = body.setdefault("metadata", {})
    metadata.update(
        uid=f"00000000-0000-4000-8000-{index:012d}",
        generation=1,
        resourceVersion=str(10_000 + index),
        creationTimestamp=_TIMESTAMP,
        labels={**metadata.get("labels", {}), "crossplane.io/composite": XR_NAME},
        annotations={
            **metadata.get("annotations", {}),
            "crossplane.io/composition-resource-name": name,
            "crossplane.io/external-name": metadata.get("name", name),
        },
        ownerReferences=[
            {
                "apiVersion": "platform.upbound.io/v1alpha1",
                "kind": "UpboundEnvironment",
                "name": XR_NAME,
                "uid": "6f1c7e9a-0000-4000-8000-000000000001",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
    )
    status = "True" if ready else "False"
    body["status"] = {
        "conditions": [
            {
                "type": "Ready",
                "status": status,
                "reason": "Available" if ready else "Creating",
                "lastTransitionTime": _TIMESTAMP,
            },
            {
                "type": "Synced",
                "status": "True",
                "reason": "ReconcileSuccess",
                "lastTransitionTime": _TIMESTAMP,
            },
        ],
        "atProvider": {"id": f"id-{index}"},
    }
    return body


def kubeconfig(name: str) -> bytes:
    """The kubeconfig a Disconnected Space writes for a control plane: its own server and token.

    Random but reproducible (seeded by the name), and as large as a real one.
    """
    rng = random.Random(name)
    ca = base64.b64encode(rng.randbytes(_CA_BYTES)).decode()
    token = "".join(rng.choices("abcdefghijklmnopqrstuvwxyz0123456789", k=_TOKEN_CHARS))
    server = f"https://{name.replace('.', '-')}.spaces.example.com:6443"
    return factories.kubeconfig(server, ca=ca, token=token)


def _connection_details(name: str, desired: dict[str, Any]) -> dict[str, bytes]:
    """What Crossplane sends back for an Object that asks for its kubeconfig Secret."""
    wanted = (desired.get("spec") or {}).get("connectionDetails") or []
    return {KUBECONFIG_KEY: kubeconfig(name)} if wanted else {}


def _struct(value: dict[str, Any]) -> Any:
    """A dict as a protobuf Struct."""
    return resource.dict_to_struct(value)


def _request(xr_: dict[str, Any], observed: dict[str, fnv1.Resource]) -> fnv1.RunFunctionRequest:
    """A RunFunctionRequest as Crossplane sends it in steady state."""
    req = fnv1.RunFunctionRequest(
        observed=fnv1.State(
            composite=fnv1.Resource(resource=_struct(xr_)),
            resources=observed,
        ),
        input=_struct(function_input()),
        context=_struct(_peer_context()),
    )
    secret = fnv1.Resources(items=[fnv1.Resource(resource=_struct(TOKEN_SECRET))])
    req.required_resources[TOKEN_REQUIREMENT].CopyFrom(secret)
    req.extra_resources[TOKEN_REQUIREMENT].CopyFrom(secret)  # Crossplane 1.x and the peer.
    return req


def steady_request(
    control_planes: int, *, not_ready: int = 0, space: Space = "Cloud"
) -> fnv1.RunFunctionRequest:
    """The request for an environment where everything exists and is ready.

    `not_ready` control planes (the first ones) exist but are not ready yet, as in the short
    time after a control plane is added. In a Disconnected Space every control plane's
    kubeconfig comes back as its Object's connection details.
    """
    xr_ = xr(control_planes, space)
    runner = FunctionRunner()
    observed: dict[str, fnv1.Resource] = {}
    # Each pass composes what the previous pass made ready: groups, control planes, clusters.
    for _ in range(3):
        rsp = runner.run(_request(xr_, observed))
        desired = {
            name: resource.struct_to_dict(composed.resource)
            for name, composed in sorted(rsp.desired.resources.items())
        }
        observed = {
            name: fnv1.Resource(
                resource=_struct(_as_observed(name, body, ready=True, index=i)),
                connection_details=_connection_details(name, body),
            )
            for i, (name, body) in enumerate(desired.items())
        }
    for name in sorted(n for n in observed if n.startswith("controlplane."))[:not_ready]:
        body = resource.struct_to_dict(observed[name].resource)
        body["status"]["conditions"][0].update(status="False", reason="Creating")
        observed[name] = fnv1.Resource(resource=_struct(body))
    return tagged(_request(xr_, observed))


def tagged(req: fnv1.RunFunctionRequest) -> fnv1.RunFunctionRequest:
    """The request with a tag derived from its content, as Crossplane tags requests."""
    req.meta.ClearField("tag")
    req.meta.tag = hashlib.sha256(req.SerializeToString(deterministic=True)).hexdigest()
    return req


def retagged(tag: str) -> bytes:
    """Bytes that, appended to a serialized request, replace its tag (protobuf merges)."""
    data: bytes = fnv1.RunFunctionRequest(meta=fnv1.RequestMeta(tag=tag)).SerializeToString()
    return data
