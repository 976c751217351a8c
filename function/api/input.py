"""The function input: the Composition pipeline step's defaults for every XR it composes.

hack/generate.py writes package/input/'s CRD and the input part of docs/reference.md from
`FunctionInput`. An XR's own setting wins over the input's (function/resolve.py).
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from function.api.types import (
    ArgoCredentials,
    ClusterNamePrefix,
    DnsLabel,
    Model,
    ProviderConfigs,
    SecretKeyRef,
    UpboundDomain,
    WholeNumber,
)


class InputArgo(Model):
    """Composition-level Argo CD defaults."""

    namespace: DnsLabel = Field("argocd", description="Argo CD's namespace.")
    cluster_name_prefix: ClusterNamePrefix = Field(
        "controlplane-", description="Prefix of Argo CD cluster names."
    )
    credentials: ArgoCredentials | None = Field(
        None,
        description="Environment (Argo CD's own UP_TOKEN; the default) or ClusterSecret "
        "(the token from tokenSecretRef, written into each cluster Secret).",
    )
    upbound_domain: UpboundDomain | None = Field(
        None, description="Root Upbound domain for `up org token`. Default: https://upbound.io."
    )
    token_secret_ref: SecretKeyRef | None = Field(
        None,
        description="ClusterSecret only: the Secret holding the Upbound token, in any "
        "namespace; XRs then may not name another. Default: upbound-credentials (key token) "
        "in the XR's namespace (a cluster-scoped XR: crossplane-system).",
    )


class Ttl(Model):
    """How long Crossplane may wait before calling the function again."""

    ready_seconds: WholeNumber = Field(
        600, ge=1, le=86400, description="Seconds until the next call when nothing waits."
    )
    waiting_seconds: WholeNumber = Field(
        15, ge=1, le=3600, description="Seconds until the next call while something waits."
    )


class FunctionInput(Model):
    """The function's input in a Composition pipeline step: defaults for every XR."""

    model_config = ConfigDict(extra="ignore")  # apiVersion, kind, metadata

    provider_configs: ProviderConfigs = Field(
        ProviderConfigs(), description="ProviderConfigs, unless an XR names its own."
    )
    argocd: InputArgo = Field(InputArgo(), description="Argo CD settings, unless an XR's own.")
    connection_secret_namespace: DnsLabel = Field(
        "crossplane-system",
        description="Namespace of the Objects' connection secrets for a cluster-scoped XR "
        "(a namespaced XR uses its own namespace).",
    )
    ttl: Ttl = Field(Ttl(), description="How soon Crossplane calls the function again.")
