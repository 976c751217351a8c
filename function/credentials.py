"""Secrets the function needs: the Upbound token, and control planes' kubeconfigs.

Neither ever reaches a log line, a result, a condition or the XR's status. Both are held in
`pydantic.SecretStr`, whose repr is masked, and errors describe them without quoting them.
"""

import base64
import binascii
import hashlib
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

import crossplane.function.proto.v1.run_function_pb2 as fnv1
import yaml
from crossplane.function import response
from google.protobuf import struct_pb2
from pydantic import SecretStr

from function.api.types import SecretKeyRef

TOKEN_REQUIREMENT = "upbound-token"  # noqa: S105 - a requirement name, not a token.
KUBECONFIG_KEY = "kubeconfig"
_MAX_KUBECONFIG_BYTES = 1 << 20
# libyaml's loader where PyYAML was built with it (the pinned wheels are): ten times faster.
_YAML_LOADER: type[yaml.SafeLoader | yaml.CSafeLoader] = getattr(
    yaml, "CSafeLoader", yaml.SafeLoader
)
# Parsed kubeconfigs kept, so that an unchanged kubeconfig is not parsed again on the next
# call: a 500-control-plane environment fits, and the memo stays a few MiB however many
# XRs the function serves.
KUBECONFIGS_KEPT = 1024


class CredentialError(Exception):
    """A credential is missing or malformed; the message never contains secret material."""


def namespace_problem(path: str, namespace: str | None, xr_namespace: str | None) -> str | None:
    """Why an XR may not name a Secret in `namespace`, or None when it may.

    This is the one rule for every Secret an XR names (the token Secret, robot token Secrets):
    Crossplane fetches required resources with its own rights, so a namespaced XR, which a
    tenant may write, reaches only its own namespace (`namespace` None means that one). A
    cluster-scoped XR is written by cluster admins and may name any namespace. The
    Composition's function input, written by the platform team, is not checked here.

    Args:
        path: The field that names the namespace, e.g. `spec.argocd.tokenSecretRef.namespace`.
        namespace: The namespace the XR names, or None when it names none.
        xr_namespace: The XR's namespace, or None for a cluster-scoped XR.
    """
    if xr_namespace is None or namespace is None or namespace == xr_namespace:
        return None
    return (
        f"{path}: a namespaced UpboundEnvironment may only name Secrets in its own namespace "
        f"{xr_namespace!r}; omit the namespace or set it to {xr_namespace!r} (the "
        "Composition's function input, which the platform team writes, may name another)"
    )


def require_token(rsp: fnv1.RunFunctionResponse, ref: SecretKeyRef) -> None:
    """Ask Crossplane for the token Secret, under both the v2 and the 1.x field names."""
    response.require_resources(
        rsp, TOKEN_REQUIREMENT, "v1", "Secret", match_name=ref.name, namespace=ref.namespace
    )
    # Crossplane 1.x reads the deprecated extra_resources field.
    rsp.requirements.extra_resources[TOKEN_REQUIREMENT].CopyFrom(
        rsp.requirements.resources[TOKEN_REQUIREMENT]
    )


def read_token(req: fnv1.RunFunctionRequest, ref: SecretKeyRef) -> SecretStr | None:
    """The Upbound token from the Secret Crossplane supplied.

    Returns:
        The token, or None when Crossplane has not supplied the Secret yet (the first call of
        its requirements loop).

    Raises:
        CredentialError: Crossplane looked, and the Secret or its key is missing or empty.
    """
    if TOKEN_REQUIREMENT in req.required_resources:
        items = req.required_resources[TOKEN_REQUIREMENT].items
    elif TOKEN_REQUIREMENT in req.extra_resources:
        items = req.extra_resources[TOKEN_REQUIREMENT].items
    else:
        return None
    where = f"Secret {ref.namespace}/{ref.name}"
    fix = (
        f"create it: kubectl -n {ref.namespace} create secret generic {ref.name} "
        f"--from-literal={ref.key}=<Upbound API token>; or point spec.argocd.tokenSecretRef "
        "at another Secret"
    )
    if not items:
        msg = f"spec.argocd.tokenSecretRef: {where} was not found; {fix}"
        raise CredentialError(msg)
    secret = items[0].resource
    data = secret["data"] if "data" in secret else None  # noqa: SIM401 - Struct has no get().
    if not isinstance(data, struct_pb2.Struct) or ref.key not in data:
        msg = f"spec.argocd.tokenSecretRef.key: {where} has no key {ref.key!r}; {fix}"
        raise CredentialError(msg)
    try:
        value = data[ref.key]
        if not isinstance(value, str):
            raise ValueError
        token = base64.b64decode(value, validate=True).decode().strip()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        msg = f"spec.argocd.tokenSecretRef: {where} key {ref.key!r} is not valid base64 text"
        raise CredentialError(msg) from None
    if not token:
        msg = f"spec.argocd.tokenSecretRef: {where} key {ref.key!r} is empty; {fix}"
        raise CredentialError(msg)
    return SecretStr(token)


@dataclass(frozen=True, slots=True)
class ClusterAccess:
    """How to reach a control plane's API, from its kubeconfig."""

    server: str
    bearer_token: SecretStr
    ca_data: str


def parse_kubeconfig(raw: bytes) -> ClusterAccess:
    """Read server, bearer token and CA of the current context of a kubeconfig.

    Accepts the kubeconfig as YAML or as base64 of YAML (a Secret's `data` value).

    Raises:
        CredentialError: the kubeconfig cannot be used; the message quotes none of it.
    """
    if len(raw) > _MAX_KUBECONFIG_BYTES:
        msg = "kubeconfig is larger than 1 MiB"
        raise CredentialError(msg)
    config = _load(raw)
    if not _looks_like_kubeconfig(config):
        try:
            config = _load(base64.b64decode(raw, validate=True))
        except (binascii.Error, ValueError):
            config = None
    if not _looks_like_kubeconfig(config):
        msg = "kubeconfig is not a YAML kubeconfig with clusters, users and contexts"
        raise CredentialError(msg)
    current = config.get("current-context")
    if not isinstance(current, str) or not current:
        msg = "kubeconfig has no current-context"
        raise CredentialError(msg)
    # kubectl refuses a current-context that names no context; so does the function.
    context = _named(config, "contexts", current)
    if context is None:
        msg = "kubeconfig's current-context names no context in it"
        raise CredentialError(msg)
    cluster = _named(config, "clusters", context.get("cluster")) or {}
    user = _named(config, "users", context.get("user")) or {}
    server, token = cluster.get("server"), user.get("token")
    if not isinstance(server, str) or not server.startswith("https://"):
        msg = "kubeconfig's current cluster has no https server"
        raise CredentialError(msg)
    if not isinstance(token, str) or not token:
        msg = "kubeconfig's current user has no bearer token"
        raise CredentialError(msg)
    ca = cluster.get("certificate-authority-data") or ""
    if not isinstance(ca, str):
        msg = "kubeconfig's current cluster has a certificate-authority-data that is not text"
        raise CredentialError(msg)
    return ClusterAccess(server=server, bearer_token=SecretStr(token), ca_data=ca)


class _ParsedYaml:
    """YAML documents parsed recently, keyed by a SHA-256 of their bytes (never the bytes).

    The parsed values hold tokens, so the memo is bounded (least recently used go first)
    and lives only in this process's memory, as the requests that carried them do.
    """

    def __init__(self, size: int) -> None:
        self._size = size
        self._items: OrderedDict[bytes, Any] = OrderedDict()
        self._lock = threading.Lock()

    def load(self, raw: bytes) -> Any:
        """The document `raw` holds, parsed at most once while kept; None if it is not YAML.

        The same object for the same bytes: callers must not change it.
        """
        key = hashlib.sha256(raw).digest()
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key]
        value = _parse(raw)
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)
        return value

    def __len__(self) -> int:
        """How many documents are kept."""
        return len(self._items)


def _parse(raw: bytes) -> Any:
    """The YAML document `raw` holds, or None if it is not valid (or too deeply nested)."""
    try:
        return yaml.load(raw, Loader=_YAML_LOADER)  # noqa: S506 - a safe loader.
    except (yaml.YAMLError, UnicodeDecodeError, RecursionError):
        # YAML errors quote the document; never pass them on. The pure-Python loader
        # recurses once per nesting level (e.g. 2,000 `[`); libyaml stops at 1,000.
        return None


_parsed = _ParsedYaml(KUBECONFIGS_KEPT)


def _load(raw: bytes) -> Any:
    return _parsed.load(raw)


def _looks_like_kubeconfig(config: Any) -> bool:
    return isinstance(config, dict) and isinstance(config.get("clusters"), list)


def _named(config: dict[str, Any], section: str, name: Any) -> dict[str, Any] | None:
    """The body of the entry called `name` in a kubeconfig section (clusters, users, ...)."""
    key = section.removesuffix("s")
    entries = config.get(section)
    for entry in entries if isinstance(entries, list) else []:
        if isinstance(entry, dict) and entry.get("name") == name:
            body = entry.get(key)
            return body if isinstance(body, dict) else None
    return None
