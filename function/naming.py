"""Names of composed resources: deterministic, DNS-safe and independent of list order.

A composed resource has two names. Its composition resource name is the key Crossplane uses
to match desired and observed resources, e.g. `controlplane.dev.ctp1`; the dots cannot occur
in the DNS labels it is made of, so two different resources never share one. Its
`metadata.name` is a DNS-1123 label derived from the XR's name and that key, which other
composed resources use to reference it (a RobotTeamMembership names its Robot and Team).
"""

import base64
import hashlib
import re

_MAX_LABEL = 63
_NOT_DNS = re.compile(r"[^a-z0-9-]+")
# A name whose readable part fits keeps the form it always had: readable-<5 hex digits>.
_SHORT_DIGEST = 5
_MAX_READABLE = _MAX_LABEL - _SHORT_DIGEST - 1
# A longer one is cut to its first 36 characters, then -<26 base32 characters> (130 bits).
_LONG_DIGEST = 26
_CUT_READABLE = _MAX_LABEL - _LONG_DIGEST - 1


def resource_name(kind: str, *parts: str) -> str:
    """The composition resource name of a composed resource, e.g. `team.platform`."""
    return ".".join((kind, *parts))


# Hex digits of the hash that ends an Argo CD cluster Secret's name (Environment.argo_secret_name).
ARGO_SECRET_HASH_LENGTH = 8


def argo_cluster_name(prefix: str, group: str, control_plane: str) -> str:
    """The Argo CD cluster (and cluster Secret) name of a control plane."""
    return f"{prefix}{group}-{control_plane}"


def metadata_name(xr_name: str, composition_resource_name: str) -> str:
    """A readable, unique DNS-1123 label for a composed resource's metadata.name.

    The digest covers the unambiguous `xr_name/composition_resource_name`, so that
    `dev-a`/`b` and `dev`/`a-b` get different names though they read alike.

    Why two names never meet:
    - A short name (its readable part fits in 57 characters) is `readable-<5 hex>`, as it
      always was, so existing resources keep their names. Two short names are equal only
      if their readable parts are (the same text up to dots read as dashes) and 20 bits of
      their digests are: `compose` refuses such a pair within one XR.
    - A longer name, whose readable part would be cut and say nothing about the rest, keeps
      36 readable characters and 130 bits of SHA-256 (26 base32 characters): two of them are
      equal only if SHA-256 collides on 130 bits, beyond reach (a birthday search needs
      about 2**65 hashes) and far beyond the XRD's bounds (at most 100 x 100 control planes).
    - The two forms never meet: a short name has '-' sixth from its end or is 5 characters
      long; a long one ends in 26 characters without '-'.
    """
    readable = _NOT_DNS.sub("-", f"{xr_name}-{composition_resource_name}".lower())
    digest = hashlib.sha256(f"{xr_name}/{composition_resource_name}".encode()).digest()
    if len(readable) <= _MAX_READABLE:
        prefix, suffix = readable.strip("-"), digest.hex()[:_SHORT_DIGEST]
    else:
        prefix = readable[:_CUT_READABLE].strip("-")
        suffix = base64.b32encode(digest).decode().lower()[:_LONG_DIGEST]
    return f"{prefix}-{suffix}" if prefix else suffix
