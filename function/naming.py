"""Names of composed resources: deterministic, DNS-safe and independent of list order.

A composed resource has two names. Its composition resource name is the key Crossplane uses
to match desired and observed resources, e.g. `controlplane.dev.ctp1`; the dots cannot occur
in the DNS labels it is made of, so two different resources never share one. Its
`metadata.name` is a DNS-1123 label derived from the XR's name and that key, which other
composed resources use to reference it (a RobotTeamMembership names its Robot and Team).
"""

import hashlib
import re

_MAX_LABEL = 63
_HASH_LENGTH = 5
_NOT_DNS = re.compile(r"[^a-z0-9-]+")


def resource_name(kind: str, *parts: str) -> str:
    """The composition resource name of a composed resource, e.g. `team.platform`."""
    return ".".join((kind, *parts))


def metadata_name(xr_name: str, composition_resource_name: str) -> str:
    """A readable, unique DNS-1123 label for a composed resource's metadata.name.

    Like the SDK's `resource.child_name`, it ends in a short hash; here the hash covers the
    unambiguous composition resource name, so `dev-a`/`b` and `dev`/`a-b` never collide.
    """
    readable = _NOT_DNS.sub("-", f"{xr_name}-{composition_resource_name}".lower())
    digest = hashlib.sha256(f"{xr_name}/{composition_resource_name}".encode()).hexdigest()
    prefix = readable[: _MAX_LABEL - _HASH_LENGTH - 1].strip("-")
    return f"{prefix}-{digest[:_HASH_LENGTH]}" if prefix else digest[:_HASH_LENGTH]
