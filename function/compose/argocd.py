"""Argo CD clusters: a cluster Secret per registered control plane, on the Argo CD cluster.

Cloud and Connected Spaces: Argo CD runs `up org token` with the organization's token.
Disconnected Spaces: server, bearer token and CA come from the control plane's kubeconfig.
The Secret is written as `data`: provider-kubernetes cannot observe a `stringData` Secret
under server-side apply (provider-kubernetes issue #420).
"""

import base64
import json
from dataclasses import dataclass
from typing import Any

from function.api.types import ARGO_SECRET_TYPE_LABEL
from function.compose import controlplanes
from function.compose.common import ArgoCluster, Composition, Context, Desired, Waiting
from function.credentials import KUBECONFIG_KEY, CredentialError, parse_kubeconfig
from function.naming import resource_name
from function.resolve import Environment, ResolvedControlPlane

KIND = "argocd-cluster"
LABEL_PREFIX = "platform.upbound.io/"


def name_of(cp: ResolvedControlPlane) -> str:
    """The composition resource name of a control plane's Argo CD cluster Object."""
    return resource_name(KIND, cp.group, cp.name)


def server_url(env: Environment, cp: ResolvedControlPlane) -> str:
    """The API URL of a control plane in a Cloud or Connected Space ("" if Disconnected)."""
    if env.space.type == "Disconnected":
        return ""
    host = env.space.host or f"{env.space.name}.space.mxe.upbound.io"
    return f"https://{host}/apis/spaces.upbound.io/v1beta1/namespaces/{cp.group}/controlplanes/{cp.name}/k8s"


def build(ctx: Context) -> Composition:
    """A cluster Secret per registered control plane, once the control plane is ready."""
    out = Composition()
    if not ctx.env.argocd.enabled:
        return out
    for cp in ctx.env.control_planes():
        if not cp.register:
            continue
        name = name_of(cp)
        exists = ctx.observed.exists(name)
        if not exists and not ctx.observed.ready(controlplanes.name_of(cp)):
            out.waiting.append(Waiting(name, "waiting for the control plane to be ready"))
            continue
        try:
            access = _access(ctx, cp)
        except CredentialError as e:
            out.warnings.append(f"control plane {cp.group}/{cp.name}: {e}")
            access = "waiting for a usable kubeconfig"
        cluster_name = ctx.env.argo_cluster_name(cp)
        if isinstance(access, str):
            if exists:  # Keep what Argo CD uses until the new credentials arrive.
                kept = Desired(name, ctx.observed.as_desired(name), ctx.observed.ready(name))
                out.desired.append(kept)
                out.clusters[cp.group, cp.name] = ArgoCluster(cluster_name, "")
                access = f"{access}; keeping the current cluster Secret until then"
            # Kept or not, it waits: the short TTL calls again soon, the status says why.
            out.waiting.append(Waiting(name, access))
            continue
        manifest = _cluster_secret(ctx.env, cp, access)
        out.desired.append(ctx.kubernetes_object(name, ctx.env.provider_config_argocd, manifest))
        out.clusters[cp.group, cp.name] = ArgoCluster(cluster_name, access.server)
    return out


@dataclass(frozen=True, slots=True)
class _Access:
    """The server URL and Argo CD `config` of a control plane."""

    server: str
    config: dict[str, Any]


def _access(ctx: Context, cp: ResolvedControlPlane) -> _Access | str:
    """How Argo CD reaches a control plane, or why that is not known yet."""
    env = ctx.env
    tls: dict[str, Any] = {"insecure": False}
    if env.space.type == "Disconnected":
        raw = ctx.observed.connection_detail(controlplanes.name_of(cp), KUBECONFIG_KEY)
        if raw is None:
            return "waiting for the control plane's kubeconfig connection details"
        access = parse_kubeconfig(raw)
        if access.ca_data or env.space.ca_bundle:
            tls["caData"] = access.ca_data or env.space.ca_bundle
        config = {"bearerToken": access.bearer_token.get_secret_value(), "tlsClientConfig": tls}
        return _Access(access.server, config)
    token = ctx.token
    if token is None:
        return "waiting for Crossplane to supply the Upbound token Secret"
    if env.space.ca_bundle:
        tls["caData"] = env.space.ca_bundle
    config = {
        "execProviderConfig": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "up",
            "args": ["org", "token"],
            "env": {"ORGANIZATION": env.organization, "UP_TOKEN": token.get_secret_value()},
        },
        "tlsClientConfig": tls,
    }
    return _Access(server_url(env, cp), config)


def _cluster_secret(env: Environment, cp: ResolvedControlPlane, access: _Access) -> dict[str, Any]:
    """The Argo CD cluster Secret of a control plane."""
    cluster_name = env.argo_cluster_name(cp)
    values = {
        "name": cluster_name,
        "server": access.server,
        "config": json.dumps(access.config, sort_keys=True, separators=(",", ":")),
    }
    if cp.project:
        values["project"] = cp.project
    labels = {
        LABEL_PREFIX + "organization": env.organization,
        LABEL_PREFIX + "group": cp.group,
        LABEL_PREFIX + "controlplane": cp.name,
        **env.argocd.labels,
        **cp.labels,
        ARGO_SECRET_TYPE_LABEL: "cluster",
    }
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": cluster_name, "namespace": env.argocd.namespace, "labels": labels},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }
