"""How an environment is reconciled: the calls of one pass over it, and how calls vary.

A mode is the list of steady-state requests that reconcile a whole environment once:

- single-XR: one UpboundEnvironment XR, one call;
- sharded: the parent XR's call, then one call per child composite resource it composes
  (a ControlPlaneGroup XR per group, served by this same function). `sharded` builds those
  calls as Crossplane would: it composes the parent, turns each child XR it desires into
  that child's own request, and composes each until it settles. It returns None while this
  function composes no child XRs (no sharding), so the benchmark measures it when it can.

Each call is sent in three variants: `steady` (the same request again, as at every TTL),
`changed` (a new tag, and one observed managed resource's status moved on, as its provider
writes it: a new resourceVersion and atProvider, its readiness the same; a child XR's status
is what the child's call wrote, so it changes only with what the parent rolls up) and
`recomposed` (a new tag, and one observed resource's Ready condition flips, so the function
composes from scratch).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
from crossplane.function import resource

from bench import environments
from function.fn import FunctionRunner

# The API group of this function's XRs: a desired resource of this group is a child XR.
XR_GROUP = "platform.upbound.io"
# Distinct variants prepared per call: enough that no two consecutive calls repeat.
VARIANTS = 32
SINGLE, SHARDED = "single-XR", "sharded"


@dataclass(frozen=True)
class Mode:
    """The requests that reconcile one environment once, the first being the top XR's."""

    name: str
    requests: list[fnv1.RunFunctionRequest]

    @property
    def payloads(self) -> list[bytes]:
        """The requests, serialized."""
        return [r.SerializeToString() for r in self.requests]


def single(control_planes: int) -> Mode:
    """The environment as one XR (spec.sharding Disabled): one call."""
    xr_ = environments.xr(control_planes, sharding="Disabled")
    return Mode(SINGLE, [environments.steady_request_of(xr_)])


def child_xrs(rsp: fnv1.RunFunctionResponse) -> list[dict[str, Any]]:
    """The composite resources of this function's API group that a response desires."""
    children = []
    for composed in rsp.desired.resources.values():
        body = resource.struct_to_dict(composed.resource)
        if str(body.get("apiVersion", "")).split("/")[0] == XR_GROUP:
            children.append(body)
    return children


def sharded(control_planes: int) -> Mode | None:
    """The environment sharded (spec.sharding Enabled): the parent's call and each child's.

    None if the function composes no child XRs (a version without sharding). The parent's
    request observes each child with the status the child's own call wrote.
    """
    parent_xr = environments.xr(control_planes, sharding="Enabled")
    parent = environments.steady_request_of(parent_xr)
    children = child_xrs(FunctionRunner().run(parent))
    if not children:
        return None
    requests = []
    statuses: dict[str, dict[str, Any]] = {}
    for index, child in enumerate(children):
        req = environments.steady_request_of(as_observed_xr(child, index))
        requests.append(req)
        status = resource.struct_to_dict(FunctionRunner().run(req).desired.composite.resource)
        statuses[child["metadata"]["name"]] = status.get("status", {})
    for composed in parent.observed.resources.values():
        body = resource.struct_to_dict(composed.resource)
        written = statuses.get(body.get("metadata", {}).get("name", ""))
        if written is not None and str(body.get("apiVersion", "")).startswith(XR_GROUP):
            body["status"] = {**written, **body.get("status", {})}
            composed.resource.Clear()
            composed.resource.update(body)
    return Mode(SHARDED, [environments.tagged(parent), *requests])


def as_observed_xr(child: dict[str, Any], index: int) -> dict[str, Any]:
    """A desired child XR as Crossplane sends it to the child's own call."""
    uid = f"6f1c7e9a-0000-4000-8000-{index + 2:012d}"
    return environments.stored(child, uid=uid, version=20_000 + index)


def variants(request: fnv1.RunFunctionRequest, kind: str) -> Iterator[bytes]:
    """The request's bytes, each call varied as `kind` says (see the module docstring)."""
    payload = request.SerializeToString()
    if kind == "steady":
        while True:
            yield payload
    names = sorted(request.observed.resources)
    if kind == "recomposed":  # flip a control plane's readiness if there is one
        names = [n for n in names if n.startswith("controlplane.")] or names
    else:  # a provider's status update: a managed resource's, not a child XR's
        names = [n for n in names if not _is_child_xr(request.observed.resources[n])] or names
    patches = [_patch(request, names[i * len(names) // VARIANTS], kind) for i in range(VARIANTS)]
    call = 0
    while True:
        tag = environments.retagged(f"{kind}-{call}")
        yield payload + patches[call % len(patches)] + tag
        call += 1


def _is_child_xr(observed: fnv1.Resource) -> bool:
    """Whether an observed resource is a composite resource of this function's API group."""
    fields = observed.resource.fields
    api_version = fields["apiVersion"].string_value if "apiVersion" in fields else ""
    return bool(api_version.split("/")[0] == XR_GROUP)


def _patch(request: fnv1.RunFunctionRequest, name: str, kind: str) -> bytes:
    """Bytes that, appended to the request, replace one observed resource (protobuf merges)."""
    body = resource.struct_to_dict(request.observed.resources[name].resource)
    body.setdefault("metadata", {})["resourceVersion"] = f"{kind}-{name}"
    status = body.setdefault("status", {})
    if kind == "changed":
        status["atProvider"] = {"id": f"moved-on-{name}"}
    else:
        for condition in status.get("conditions", []):
            if condition.get("type") == "Ready":
                condition["status"] = "False" if condition.get("status") == "True" else "True"
    patched = fnv1.Resource(resource=resource.dict_to_struct(body))
    patched.connection_details.update(request.observed.resources[name].connection_details)
    patch = fnv1.RunFunctionRequest(observed=fnv1.State(resources={name: patched}))
    return patch.SerializeToString()
