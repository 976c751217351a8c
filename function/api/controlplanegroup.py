"""The ControlPlaneGroup XR: one group of a sharded UpboundEnvironment, and its status.

An UpboundEnvironment that shards (docs/sharding.md) composes one ControlPlaneGroup per
control plane group; this same function composes the group's Namespace, ControlPlanes and
Argo CD cluster Secrets from it, with the same builders. Its spec is the environment's
settings (resolved by the parent: the child composes exactly what the parent would) and the
one group. hack/generate.py writes its XRDs from `ControlPlaneGroupSpec` and
`ControlPlaneGroupStatus`.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from function.api.environment import (
    CHANNEL_NONE_MESSAGE,
    CP_CHANNEL_NONE_NEEDS_VERSION,
    AccessStatus,
    Argo,
    ControlPlaneDefaults,
    ControlPlaneStatus,
    Group,
    Space,
    Summary,
)
from function.api.types import (
    ApiHost,
    DnsLabel,
    DnsSubdomain,
    Model,
    PemBundle,
    ProviderConfigs,
    UpboundId,
)


class SpaceIngress(Model):
    """A Connected Space's ingress, as the environment discovered it from the Space."""

    host: ApiHost = Field(description="The API host Argo CD reaches control planes through.")
    ca_bundle: PemBundle = Field(
        "", description="Base64 of the ingress's PEM CA bundle; empty for a public CA."
    )


class ControlPlaneGroupSpec(Model):
    """One control plane group of an UpboundEnvironment, with the settings it composes with.

    Written by the UpboundEnvironment that owns it. What the environment knows and the group
    cannot observe (team IDs for access bindings, say) gets a field here, filled in by
    function/compose/shards.py's `child_spec`.
    """

    # Crossplane adds its own fields to an XR's spec (compositionRef, crossplane, ...).
    model_config = ConfigDict(
        extra="ignore",
        json_schema_extra={
            "x-kubernetes-validations": [
                {
                    "rule": "!has(self.group.controlPlanes) || self.group.controlPlanes.all("
                    f"cp, {CP_CHANNEL_NONE_NEEDS_VERSION})",
                    "message": CHANNEL_NONE_MESSAGE,
                }
            ]
        },
    )

    environment: DnsSubdomain = Field(
        description="The UpboundEnvironment's name. Composed resources are named after it, "
        "so that they keep their names when a group moves between the environment and "
        "its ControlPlaneGroup."
    )
    organization: DnsLabel = Field(description="The Upbound organization.")
    space: Space = Field(description="The Space that hosts the control planes.")
    provider_configs: ProviderConfigs = Field(
        ProviderConfigs(), description="ProviderConfigs of the composed resources."
    )
    control_plane_defaults: ControlPlaneDefaults = Field(
        ControlPlaneDefaults(), description="Settings every control plane inherits."
    )
    argocd: Argo = Field(Argo(), description="Registration of control planes with Argo CD.")
    group: Group = Field(description="The group and its control planes.")
    ingress: SpaceIngress | None = Field(
        None,
        description="Connected Spaces: the ingress host and CA the environment read from the "
        "Space (function/compose/ingress.py), when spec.space does not set both.",
    )
    release: bool = Field(
        False,
        description="Set by the UpboundEnvironment taking the group back: compose what "
        "exists orphaning (never deleting) and report status.released once all of it is.",
    )
    team_ids: dict[DnsLabel, UpboundId] = Field(
        default_factory=dict,
        description="The Upbound IDs of the teams in group.access whose IDs the environment "
        "knows (its Teams are the environment's): the group's ObjectRoleBinding binds them; "
        "a team without one waits.",
    )
    held_protected: list[str] = Field(
        default_factory=list,
        description="The protected control planes the group holds or held (orphaned ones "
        "included), as the environment recorded them: the group's Namespace stays "
        "protected while any may live in it, across moves between the environment and "
        "this XR (docs/protection.md). `*` stands for names past the record's 8 KiB.",
    )


class ControlPlaneGroupStatus(Model):
    """The group's control planes and counts, written by the function."""

    control_planes: list[ControlPlaneStatus] = Field(
        default_factory=list, description="Every control plane of the group, by name."
    )
    access: list[AccessStatus] = Field(
        default_factory=list, description="The group's access binding, if it has access."
    )
    summary: Summary = Field(Summary(), description="Counts of what the group holds.")
    held_protected: list[str] = Field(
        default_factory=list,
        description="The group's record of the protected control planes it holds or held, "
        "as on its Namespace's Object: the environment carries it when it takes the group "
        "back.",
    )
    released: bool = Field(
        False,
        description="True once, with spec.release, every composed resource is observed "
        "orphaning: the environment may delete this XR without deleting anything else.",
    )
