"""Control plane groups: a Namespace labelled `spaces.upbound.io/group` in the Space.

Deleting a group's Namespace deletes every control plane in it. So a group's Object records
the protected control planes it holds or held (HOLDS_PROTECTED_ANNOTATION), orphaned ones
included, and stays protected while that record lists any: through every later edit, the
group's removal and the XR's deletion, until the group entry says `protect: false`
(docs/protection.md).
"""

from collections.abc import Set as AbstractSet

from function.compose import controlplanes
from function.compose.common import (
    HOLDS_PROTECTED_ANNOTATION,
    Composition,
    Context,
    write_record,
)
from function.naming import resource_name
from function.resolve import ResolvedGroup

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
        held = held_protected(ctx, group)
        desired = ctx.kubernetes_object(
            name,
            ctx.env.provider_config_space,
            manifest,
            protect=group.protect or bool(held),
            annotations={HOLDS_PROTECTED_ANNOTATION: write_record(held)} if held else None,
        )
        out.desired.append(desired)

    def removed_holds(name: str) -> frozenset[str]:
        return ctx.held_protected(name, controlplanes.kind_in(name.removeprefix(f"{KIND}.")), {})

    out += ctx.release_removed(KIND, {d.name for d in out.desired}, removed_holds)
    return out


def held_protected(
    ctx: Context, group: ResolvedGroup, carried: AbstractSet[str] = frozenset()
) -> frozenset[str]:
    """The protected control planes that may live in a group; none once it is released.

    The group's record as observed, its carried one (`ResolvedGroup.carried`) and `carried`:
    a record handed over with the group from another XR (function/compose/shards.py).
    """
    if group.released:
        return frozenset()
    listed = {cp.name: cp.protect for cp in group.control_planes}
    kind = controlplanes.kind_in(group.name)
    return ctx.held_protected(name_of(group.name), kind, listed, group.carried | carried)
