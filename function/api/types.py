"""What every XR kind's API shares: constrained types, patterns, the `Model` base, schema extras.

A model here is the wire format only: camelCase fields with their pydantic constraints, and
the extras (`unique_by`, `space_types`, CEL rules) that hack/generate.py carries into the
XRDs. Cross-field checks live in function/validate.py, defaults and merging in
function/resolve.py. One module per XR kind sits beside this one (environment.py); the
function input is input.py.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Annotated, Any, Literal

import pydantic
from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
)
from pydantic.alias_generators import to_camel

DNS_LABEL = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
DNS_SUBDOMAIN = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
LABEL_KEY = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
LABEL_VALUE = r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$"

DnsLabel = Annotated[str, StringConstraints(pattern=DNS_LABEL, min_length=1, max_length=63)]
DnsSubdomain = Annotated[
    str, StringConstraints(pattern=DNS_SUBDOMAIN, min_length=1, max_length=253)
]


def _label_key(value: str) -> str:
    """A label key's prefix is a DNS subdomain of at most 253 characters (its name: 63)."""
    prefix, _, _ = value.rpartition("/")
    if len(prefix) > 253:
        msg = "must be a Kubernetes label key: its prefix (before '/') has at most 253 characters"
        raise ValueError(msg)
    return value


LabelKey = Annotated[
    str, StringConstraints(pattern=LABEL_KEY, max_length=317), AfterValidator(_label_key)
]
# A prefix of names `<prefix><group>-<name>` that are DNS-1123 subdomains: whole labels, each
# followed by a dot, then the start of one more label (which may end in '-'), or nothing.
CLUSTER_NAME_PREFIX = r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?\.)*([a-z0-9][-a-z0-9]*)?$"
ClusterNamePrefix = Annotated[str, StringConstraints(pattern=CLUSTER_NAME_PREFIX, max_length=200)]
LabelValue = Annotated[str, StringConstraints(pattern=LABEL_VALUE, max_length=63)]
Labels = dict[LabelKey, LabelValue]


def _whole(value: Any) -> Any:
    """A protobuf Struct carries every number as a float: 60.0 is the integer 60."""
    return int(value) if isinstance(value, float) and value.is_integer() else value


# An integer as the schema's `type: integer` takes it: no "60", no true, no 60.5. Booleans are
# StrictBool for the same reason: the XRD rejects "false", "no" and 0, so parse() does too.
WholeNumber = Annotated[StrictInt, BeforeValidator(_whole)]
# Upbound versions look like 1.20.1-up.1; the Spaces API rejects a leading 'v'.
CrossplaneVersion = Annotated[str, StringConstraints(pattern=r"^[0-9][0-9A-Za-z.+-]*$")]
NO_LEADING_V: dict[str, Any] = {
    "x-kubernetes-validations": [
        {
            "rule": "!self.startsWith('v')",
            "message": "must not start with a leading 'v': write 1.20.1-up.1, not v1.20.1-up.1",
        }
    ]
}
HOST_PATTERN = r"^\s*(https://)?([a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?)?/*\s*$"
BASE64_PATTERN = r"^[A-Za-z0-9+/]*={0,2}$"
Channel = Literal["None", "Patch", "Stable", "Rapid"]
SpaceType = Literal["Cloud", "Connected", "Disconnected"]
RepositoryPermission = Literal["admin", "read", "write", "view"]
GroupRole = Literal["viewer", "editor", "admin"]
# An ObjectRoleBinding subject's name, a team's Upbound ID: 2-100 letters, digits and single
# inner dashes. The CRD writes it as ^([a-zA-Z0-9]+-?)+[a-zA-Z0-9]$, which backtracks
# exponentially on a near miss in Python's `re`; this equivalent (with the length) does not.
UPBOUND_ID = r"^[a-zA-Z0-9]+(-[a-zA-Z0-9]+)*$"
UpboundId = Annotated[str, StringConstraints(pattern=UPBOUND_ID, min_length=2, max_length=100)]
# provider-upbound parses a Robot's external name as a UUID.
UUID = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
Uuid = Annotated[str, StringConstraints(pattern=UUID)]
# How Argo CD gets the Upbound token for `up org token` (docs/credentials.md).
ArgoCredentials = Literal["Environment", "ClusterSecret"]
# The root Upbound domain that `up` talks to (its UP_DOMAIN), as an https URL.
UPBOUND_DOMAIN_PATTERN = r"^https://[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?$"
DEFAULT_UPBOUND_DOMAIN = "https://upbound.io"
UpboundDomain = Annotated[str, StringConstraints(pattern=UPBOUND_DOMAIN_PATTERN, max_length=253)]

ARGO_SECRET_TYPE_LABEL = "argocd.argoproj.io/secret-type"  # noqa: S105 - a label key.
# The function sets this label on cluster Secrets itself.
NO_SECRET_TYPE_LABEL: dict[str, Any] = {
    "x-kubernetes-validations": [
        {
            "rule": f"!('{ARGO_SECRET_TYPE_LABEL}' in self)",
            "message": f"must not set {ARGO_SECRET_TYPE_LABEL}: the function sets it",
        }
    ]
}

# --- What the XRD adds to the models' JSON Schema (hack/generate.py writes the XRDs). ---------
# parse() checks all of this itself; the XRD repeats it so that `kubectl apply` rejects a bad
# XR at once. Kubernetes estimates each CEL rule's cost from list bounds, so every list that a
# rule walks has a maxItems (n-squared uniqueness checks stay far below the per-rule budget).
SPACE_TYPES_KEY = "x-doc-space-types"  # documentation only; hack/generate.py strips it
MAX_GROUPS = 100
MAX_CONTROL_PLANES_PER_GROUP = 100
MAX_IAM_ENTRIES = 200
MAX_PERMISSIONS = 50
MAX_ROBOT_TEAMS = 50
MAX_ACCESS = 50
MAX_TOKENS = 20


def unique_by(key: str, what: str) -> dict[str, Any]:
    """Schema extras for a list whose items' `key` must be unique: a CEL rule.

    The list's bound is the field's `max_length`, which parse() enforces too.

    Args:
        key: The item field that must differ, e.g. `name`.
        what: The plural noun for the message, e.g. `group names`.

    Returns:
        JSON Schema keywords for pydantic's `json_schema_extra`.
    """
    return {
        "x-kubernetes-validations": [
            {
                "rule": f"self.all(x, self.exists_one(y, y.{key} == x.{key}))",
                "message": f"{what} must be unique",
            }
        ],
    }


def space_types(*types: str, **keywords: Any) -> dict[str, Any]:
    """Schema extras naming the Space types a field applies to (for docs/reference.md).

    Args:
        types: The Space types, e.g. Cloud, Connected.
        keywords: More JSON Schema keywords for the field.

    Returns:
        JSON Schema keywords for pydantic's `json_schema_extra`.
    """
    return {SPACE_TYPES_KEY: list(types), **keywords}


class Model(pydantic.BaseModel):
    """Base of every spec model: camelCase on the wire, strict about unknown fields."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )


def _host(value: str) -> str:
    """Normalise an API host: accept `host[:port]` or an https URL, return `host[:port]`."""
    host = value.strip().removeprefix("https://").rstrip("/")
    if host and not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?(:[0-9]{1,5})?", host):
        msg = "must be a host name such as proxy.example.com[:443], or an https:// URL of one"
        raise ValueError(msg)
    return host


def _pem_bundle(value: str) -> str:
    """Check that a CA bundle is base64 of PEM certificates, as Argo CD's caData wants."""
    if not value:
        return value
    try:
        pem = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        msg = "must be base64 of a PEM CA bundle (base64 -w0 ca.crt)"
        raise ValueError(msg) from None
    if b"-----BEGIN CERTIFICATE-----" not in pem:
        msg = "must be base64 of a PEM bundle holding at least one CERTIFICATE"
        raise ValueError(msg)
    return value


# An API host, normalised to host[:port]; a base64 PEM CA bundle (may be empty).
ApiHost = Annotated[str, AfterValidator(_host)]
PemBundle = Annotated[str, AfterValidator(_pem_bundle)]


class ProviderConfigs(Model):
    """Names of the ProviderConfigs that composed resources use."""

    space: DnsSubdomain | None = Field(
        None,
        description="provider-kubernetes config that reaches the Space API (groups and "
        "control planes). Built-in default: upbound-space.",
    )
    argocd: DnsSubdomain | None = Field(
        None,
        description="provider-kubernetes config that reaches the Argo CD cluster (cluster "
        "Secrets). Built-in default: argocd.",
    )
    upbound: DnsSubdomain | None = Field(
        None,
        description="provider-upbound config (teams, robots, repositories). Built-in "
        "default: default.",
    )
    kind: Literal["ProviderConfig", "ClusterProviderConfig"] | None = Field(
        None,
        description="providerConfigRef.kind of what a namespaced XR composes: "
        "ClusterProviderConfig (the default) or ProviderConfig in the XR's namespace. A "
        "cluster-scoped XR always uses ProviderConfig.",
    )


class SecretKeyRef(Model):
    """A key of a Secret in the Crossplane cluster."""

    name: DnsSubdomain = Field(description="The Secret's name.")
    namespace: DnsLabel | None = Field(
        None,
        description="The Secret's namespace. Omitted: the XR's own namespace (a cluster-scoped "
        "XR: crossplane-system). A namespaced XR may name only its own namespace; the "
        "function input may name any.",
    )
    key: Annotated[str, StringConstraints(pattern=r"^[-._a-zA-Z0-9]+$", max_length=253)] = Field(
        "token", description="The key in the Secret's data."
    )
