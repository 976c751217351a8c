"""What the builders of grants share: a grant follows its owner, unless only it is removed.

A grant is what gives an owner its reach: a robot's team memberships and tokens, a
repository's team permissions, a group's ObjectRoleBinding. It is protected when its owner
is, so deleting the XR, or removing a protected owner from the spec, keeps the owner working
as it was. Removing only the grant while its owner stays is the user revoking it: it is
deleted, and if it is protected, it is unprotected first (kept for one more call without its
protection, then dropped), since a grant left behind would be access nobody asked for.
"""

import dataclasses
from typing import Any

from function.compose.common import PROTECT_ANNOTATION, Composition, Context, Desired, Waiting
from function.flavour import Flavour, is_protected


def iam_context(ctx: Context) -> Context:
    """The context for releasing IAM resources: unrecorded intent falls back to IAM's default.

    `release_removed` protects a removed resource composed before its protection was
    recorded when the default protects; for IAM that default is spec.iam.protect.
    """
    env = dataclasses.replace(ctx.env, default_protect=ctx.env.iam_protect)
    return dataclasses.replace(ctx, env=env)


def owner_of(composition_resource_name: str) -> str:
    """The owner's name in a grant's composition resource name `kind.owner[.other]`."""
    return composition_resource_name.split(".")[1]


def release_or_revoke(ctx: Context, kind: str, kept: set[str], owners: set[str]) -> Composition:
    """Let go of observed grants of `kind` that the spec no longer lists.

    Args:
        ctx: The builder context.
        kind: The grants' KIND, the prefix of their composition resource names.
        kept: The composition resource names of the grants still composed.
        owners: The owners still in the spec, by name: their removed grants are revoked.
            Grants of removed owners are released with them (`Context.release_removed`).
    """
    out = Composition()
    revoked = set()
    for name in ctx.observed.names(kind):
        if name in kept or owner_of(name) not in owners:
            continue
        revoked.add(name)
        out += unprotect(ctx, name, "removed from the spec; revoking it")
    out += ctx.release_removed(kind, kept | revoked)
    return out


def unprotect(ctx: Context, name: str, why: str) -> Composition:
    """The observed resource, once more, without protection, so that dropping it deletes it.

    Returns:
        Nothing when it is not protected: then dropping it at once deletes it.
    """
    out = Composition()
    resource = ctx.observed.as_desired(name)
    if not is_protected(ctx.flavour, resource["spec"]):
        return out
    resource["metadata"].setdefault("annotations", {})[PROTECT_ANNOTATION] = "false"
    resource["spec"].update(_unprotected(ctx.flavour))
    out.desired.append(Desired(name, resource, ctx.observed.ready(name)))
    out.waiting.append(Waiting(name, f"{why}; unprotecting it first"))
    return out


def _unprotected(flavour: Flavour) -> dict[str, Any]:
    """Spec fields that let deleting the managed resource delete the external one."""
    if flavour.namespaced:
        return {"managementPolicies": ["*"]}
    return {"deletionPolicy": "Delete"}
