"""Control plane groups: a Namespace labelled `spaces.upbound.io/group` in the Space."""

from function.compose.common import Composition, Context
from function.naming import resource_name

GROUP_LABEL = "spaces.upbound.io/group"
KIND = "group"


def name_of(group: str) -> str:
    """The composition resource name of a group's Object."""
    return resource_name(KIND, group)


def build(ctx: Context) -> Composition:
    """An Object per group, wrapping the group's Namespace."""
    out = Composition()
    for group in ctx.env.groups:
        manifest = {
            "apiVersion": "v1",
            "kind": "Namespace",
            "metadata": {"name": group.name, "labels": {GROUP_LABEL: "true"}},
        }
        name = name_of(group.name)
        desired = ctx.kubernetes_object(
            name, ctx.env.provider_config_space, manifest, protect=group.protect
        )
        out.desired.append(desired)
    out += ctx.release_removed(KIND, {d.name for d in out.desired})
    return out
