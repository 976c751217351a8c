"""Control planes: a `spaces.upbound.io/v1beta1` ControlPlane in its group's namespace."""

from typing import Any

from function.compose import groups
from function.compose.common import Composition, Context, Waiting
from function.credentials import KUBECONFIG_KEY
from function.naming import resource_name
from function.resolve import ResolvedControlPlane

KIND = "controlplane"


def name_of(cp: ResolvedControlPlane) -> str:
    """The composition resource name of a control plane's Object."""
    return resource_name(KIND, cp.group, cp.name)


def kind_in(group: str) -> str:
    """The prefix of the composition resource names of a group's control planes."""
    return resource_name(KIND, group)


def kubeconfig_secret(cp: ResolvedControlPlane) -> str:
    """The Secret in the group's namespace that the Space writes the kubeconfig to."""
    return f"kubeconfig-{cp.name}"


def build(ctx: Context) -> Composition:
    """An Object per control plane, once its group is ready (or if it exists already)."""
    out = Composition()
    kept = set()
    for cp in ctx.env.control_planes():
        name = name_of(cp)
        kept.add(name)
        if not ctx.observed.exists(name) and not ctx.observed.ready(groups.name_of(cp.group)):
            out.waiting.append(Waiting(name, f"waiting for group {cp.group} to be ready"))
            continue
        control_plane: dict[str, Any] = {"crossplane": cp.crossplane}
        spec: dict[str, Any] = {"readiness": {"policy": "DeriveFromObject"}}
        if needs_kubeconfig(ctx, cp):
            # Deprecated in the ControlPlane CRD; only Argo CD in a Disconnected Space needs it.
            control_plane["writeConnectionSecretToRef"] = {
                "name": kubeconfig_secret(cp),
                "namespace": cp.group,
            }
            if ctx.observed.ready(name) or "connectionDetails" in ctx.observed.spec(name):
                spec.update(_kubeconfig_connection(ctx, cp))
        manifest = {
            "apiVersion": "spaces.upbound.io/v1beta1",
            "kind": "ControlPlane",
            "metadata": {"name": cp.name, "namespace": cp.group},
            "spec": control_plane,
        }
        desired = ctx.kubernetes_object(
            name, ctx.env.provider_config_space, manifest, protect=cp.protect, spec=spec
        )
        out.desired.append(desired)
    out += ctx.release_removed(KIND, kept)
    return out


def needs_kubeconfig(ctx: Context, cp: ResolvedControlPlane) -> bool:
    """Whether Argo CD reaches this control plane with its kubeconfig (Disconnected)."""
    env = ctx.env
    return env.space.type == "Disconnected" and env.argocd.enabled and cp.register


def _kubeconfig_connection(ctx: Context, cp: ResolvedControlPlane) -> dict[str, Any]:
    """Object fields that bring the Space's kubeconfig Secret back as connection details.

    Added once the ControlPlane is ready (and kept from then on): before, the Space has not
    written the Secret, and provider-kubernetes fails to observe the Object (Synced=False).
    """
    return {
        "connectionDetails": [
            {
                "apiVersion": "v1",
                "kind": "Secret",
                "name": kubeconfig_secret(cp),
                "namespace": cp.group,
                "fieldPath": f"data.{KUBECONFIG_KEY}",
                "toConnectionSecretKey": KUBECONFIG_KEY,
            }
        ],
        "writeConnectionSecretToRef": ctx.flavour.connection_secret_ref(
            ctx.metadata_name(name_of(cp))
        ),
    }
