"""Argo CD clusters: a cluster Secret per registered control plane, on the Argo CD cluster.

Cloud and Connected Spaces: Argo CD runs `up org token` for the organization. With
credentials Environment (the default) `up` reads UP_TOKEN from Argo CD's own environment and
no token passes through the function; with ClusterSecret the token is written into the
Secret. Connected Spaces' host and CA may come from the Space itself (compose/ingress.py).
Disconnected Spaces: server, bearer token and CA come from the control plane's kubeconfig.
The Secret is written as `data`: provider-kubernetes cannot observe a `stringData` Secret
under server-side apply (provider-kubernetes issue #420).
"""

import base64
import json
import re
from dataclasses import dataclass
from typing import Any

from function.api.types import ARGO_SECRET_TYPE_LABEL, DEFAULT_UPBOUND_DOMAIN
from function.compose import controlplanes, ingress
from function.compose.common import ArgoCluster, Composition, Context, Desired, Waiting
from function.credentials import KUBECONFIG_KEY, CredentialError, parse_kubeconfig
from function.naming import ARGO_SECRET_HASH_LENGTH, resource_name
from function.resolve import Environment, ResolvedControlPlane

KIND = "argocd-cluster"
_HASHED = re.compile(f"-[0-9a-f]{{{ARGO_SECRET_HASH_LENGTH}}}")
LABEL_PREFIX = "platform.upbound.io/"


def name_of(cp: ResolvedControlPlane) -> str:
    """The composition resource name of a control plane's Argo CD cluster Object."""
    return resource_name(KIND, cp.group, cp.name)


def server_url(env: Environment, cp: ResolvedControlPlane, host: str = "") -> str:
    """The API URL of a Cloud or Connected control plane ("" while its host is unknown).

    Args:
        env: The environment.
        cp: The control plane.
        host: The Space's host when the spec does not give it (read from the Space).
    """
    if env.space.type == "Disconnected":
        return ""
    cloud = f"{env.space.name}.space.mxe.upbound.io" if env.space.type == "Cloud" else ""
    host = env.space.host or host or cloud
    if not host:
        return ""
    return f"https://{host}/apis/spaces.upbound.io/v1beta1/namespaces/{cp.group}/controlplanes/{cp.name}/k8s"


def secret_name(ctx: Context, cp: ResolvedControlPlane) -> str:
    """The cluster Secret's metadata.name: unique per environment, stable once composed.

    A Secret keeps the name its Object wraps already if that is one this function gives the
    cluster: `<cluster name>-<hash>` (the hash from another Space, before the spec's Space
    changed), or the bare cluster name of versions before names were unique, so that an
    upgrade renames nothing. provider-kubernetes would leave a renamed Secret's old copy
    behind, a stale cluster in Argo CD.
    """
    cluster_name = ctx.env.argo_cluster_name(cp)
    observed: Any = ctx.observed.spec(name_of(cp))
    for key in ("forProvider", "manifest", "metadata", "name"):
        observed = observed.get(key) if isinstance(observed, dict) else None
    if isinstance(observed, str) and observed.startswith(cluster_name):
        suffix = observed[len(cluster_name) :]
        if not suffix or _HASHED.fullmatch(suffix):
            return observed
    return ctx.env.argo_secret_name(cp)


def build(ctx: Context) -> Composition:
    """A cluster Secret per registered control plane, once the control plane is ready."""
    out = Composition()
    if not ctx.env.argocd.enabled:
        return out
    if ctx.token_problem:
        until = "until then new Argo CD clusters wait and existing ones stay as they are"
        out.warnings.append(f"{ctx.token_problem}; {until}")
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
        manifest = _cluster_secret(ctx.env, cp, access, secret_name(ctx, cp))
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
    space = ingress.discovered(ctx)
    if isinstance(space, ingress.Unknown):
        return space.reason
    exec_env = {"ORGANIZATION": env.organization}
    if env.argocd.upbound_domain != DEFAULT_UPBOUND_DOMAIN:
        exec_env["UP_DOMAIN"] = env.argocd.upbound_domain
    if env.argocd.credentials == "ClusterSecret":
        if ctx.token is None:
            return ctx.token_problem or "waiting for Crossplane to supply the Upbound token Secret"
        exec_env["UP_TOKEN"] = ctx.token.get_secret_value()
    if space.ca_bundle:
        tls["caData"] = space.ca_bundle
    config = {
        "execProviderConfig": {
            "apiVersion": "client.authentication.k8s.io/v1",
            "command": "up",
            "args": ["org", "token"],
            "env": exec_env,
        },
        "tlsClientConfig": tls,
    }
    return _Access(server_url(env, cp, space.host), config)


def _cluster_secret(
    env: Environment, cp: ResolvedControlPlane, access: _Access, name: str
) -> dict[str, Any]:
    """The Argo CD cluster Secret of a control plane, called `name`."""
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
        "metadata": {"name": name, "namespace": env.argocd.namespace, "labels": labels},
        "type": "Opaque",
        "data": {k: base64.b64encode(v.encode()).decode() for k, v in values.items()},
    }
