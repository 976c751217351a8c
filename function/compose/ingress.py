"""The Space's own ingress: the API host and CA of a Connected Space, read from the Space.

A self-hosted Space's ingress usually has a private CA. When `spec.space.host` or `caBundle`
is not given, an observe-only Object (management policy Observe: it never writes or deletes)
reads the ConfigMap `upbound-system/ingress-public` through the Space provider config, as
the `up` CLI does (upbound/up internal/profile/kubeconfig.go: keys `ingress-host`, which may
start with https://, and `ingress-ca`, PEM text). Argo CD clusters take the values from the
Object's observed manifest; explicit fields win. Until the values arrive, clusters wait.
"""

import base64
from dataclasses import dataclass
from typing import Any, NamedTuple

import pydantic

from function.api.types import ApiHost, PemBundle
from function.compose.common import Composition, Context, Desired
from function.naming import resource_name

KIND = "space-ingress"
CONFIG_MAP_NAMESPACE = "upbound-system"
CONFIG_MAP_NAME = "ingress-public"
HOST_KEY = "ingress-host"
CA_KEY = "ingress-ca"
_MAX_CA_CHARACTERS = 1 << 20
_HOST = pydantic.TypeAdapter(ApiHost)
_CA = pydantic.TypeAdapter(PemBundle)
_WHERE = f"ConfigMap {CONFIG_MAP_NAMESPACE}/{CONFIG_MAP_NAME} in the Space"
_FIX = "or set spec.space.host and spec.space.caBundle"


def name_of() -> str:
    """The composition resource name of the observe-only Object."""
    return resource_name(KIND)


class Ingress(NamedTuple):
    """Where Argo CD reaches a Connected Space: host[:port] and base64 PEM CA ("" for none)."""

    host: str
    ca_bundle: str


@dataclass(frozen=True, slots=True)
class Unknown:
    """Why the ingress is not known yet; `problem` when the Space's values are unusable."""

    reason: str
    problem: bool = False


def needed(ctx: Context) -> bool:
    """Whether the function reads the ingress: Connected, a field missing, a cluster to register."""
    env = ctx.env
    if env.space.type != "Connected" or (env.space.host and env.space.ca_bundle):
        return False
    if env.ingress is not None:  # discovered already, by the environment of this group
        return False
    return env.argocd.enabled and any(cp.register for cp in env.control_planes())


def build(ctx: Context) -> Composition:
    """The observe-only Object, when needed; a warning when the Space's values are unusable."""
    out = Composition()
    if not needed(ctx):
        return out
    manifest = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": CONFIG_MAP_NAME, "namespace": CONFIG_MAP_NAMESPACE},
    }
    name = name_of()
    composed = ctx.kubernetes_object(
        name, ctx.env.provider_config_space, manifest, spec={"managementPolicies": ["Observe"]}
    )
    found = discovered(ctx)
    out.desired.append(Desired(name, composed.resource, ready=isinstance(found, Ingress)))
    if isinstance(found, Unknown) and found.problem:
        out.warnings.append(f"{name}: {found.reason}")
    return out


def discovered(ctx: Context) -> Ingress | Unknown:
    """The Connected Space's host and CA: explicit fields, else the observed ConfigMap's."""
    space = ctx.env.space
    if ctx.env.ingress is not None:  # a ControlPlaneGroup's, as its environment discovered it
        return Ingress(*ctx.env.ingress)
    if not needed(ctx):
        return Ingress(space.host, space.ca_bundle)
    at_provider = ctx.observed.status(name_of()).get("atProvider")
    manifest = at_provider.get("manifest") if isinstance(at_provider, dict) else None
    if not isinstance(manifest, dict):
        return Unknown(f"waiting for the Space's ingress host and CA from the {_WHERE}; {_FIX}")
    data = manifest.get("data")
    data = data if isinstance(data, dict) else {}
    host = space.host or _observed_host(data.get(HOST_KEY))
    if isinstance(host, Unknown):
        return host
    ca_bundle = space.ca_bundle or _observed_ca(data.get(CA_KEY))
    if isinstance(ca_bundle, Unknown):
        return ca_bundle
    return Ingress(host, ca_bundle)


def _observed_host(value: Any) -> str | Unknown:
    """The host from the ConfigMap, normalised to host[:port], or why it cannot be used."""
    if value is None:
        return Unknown(f"the {_WHERE} has no {HOST_KEY}; set spec.space.host", problem=True)
    try:
        host = _HOST.validate_python(value) if isinstance(value, str) else ""
    except pydantic.ValidationError:
        host = ""
    if not host:
        return Unknown(
            f"the {_WHERE} has an {HOST_KEY} that is not a host name; set spec.space.host",
            problem=True,
        )
    return host


def _observed_ca(value: Any) -> str | Unknown:
    """The CA from the ConfigMap as base64 PEM ("" when it has none), or why it is unusable."""
    if value is None:
        return ""  # A public CA: Argo CD's system roots verify the ingress.
    unusable = Unknown(
        f"the {_WHERE} has an {CA_KEY} that is not a PEM certificate bundle; set "
        "spec.space.caBundle",
        problem=True,
    )
    if not isinstance(value, str) or len(value) > _MAX_CA_CHARACTERS:
        return unusable
    try:
        encoded = base64.b64encode(value.encode()).decode()
        return str(_CA.validate_python(encoded))
    except (pydantic.ValidationError, UnicodeEncodeError):
        return unusable
