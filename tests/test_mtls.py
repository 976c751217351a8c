"""mTLS: the server started with `--tls-server-certs-dir` serves only clients its CA signed.

The SDK (crossplane/function/runtime.py, `load_credentials`) reads `tls.crt`, `tls.key` and
`ca.crt` from that directory and requires a client certificate signed by `ca.crt`, which
is how Crossplane's package runtime talks to a function.
"""

from __future__ import annotations

import datetime
import ipaddress
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from tests import factories as f
from tests import server as fnserver

REFUSAL_TIMEOUT = 10  # a hang guard: refusals are immediate


@dataclass(frozen=True)
class Issued:
    """A PEM certificate and its PEM private key."""

    cert: bytes
    key: bytes


class Authority:
    """A throwaway certificate authority."""

    def __init__(self, name: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        builder = _builder(self.name, self.name, self.key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), True)
        self.cert = builder.sign(self.key, hashes.SHA256())

    @property
    def pem(self) -> bytes:
        return self.cert.public_bytes(serialization.Encoding.PEM)

    def issue(self, common_name: str, *, server: bool) -> Issued:
        """A leaf certificate for a server (127.0.0.1, localhost) or a client."""
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
        builder = _builder(subject, self.name, key.public_key())
        builder = builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), True)
        usage = ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH
        builder = builder.add_extension(x509.ExtendedKeyUsage([usage]), False)
        if server:
            names = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            builder = builder.add_extension(x509.SubjectAlternativeName(names), False)
        cert = builder.sign(self.key, hashes.SHA256())
        return Issued(
            cert.public_bytes(serialization.Encoding.PEM),
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ),
        )


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = datetime.datetime.now(datetime.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
    )


@dataclass(frozen=True)
class Pki:
    ca: Authority
    client: Issued
    stranger: Issued  # a client certificate from another CA


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Pki, Path]]:
    ca, other = Authority("function CA"), Authority("someone else's CA")
    certs = tmp_path_factory.mktemp("tls")
    issued = ca.issue("function-upbound-environment", server=True)
    (certs / "tls.crt").write_bytes(issued.cert)
    (certs / "tls.key").write_bytes(issued.key)
    (certs / "ca.crt").write_bytes(ca.pem)
    yield (
        Pki(ca, ca.issue("crossplane", server=False), other.issue("crossplane", server=False)),
        certs,
    )


def credentials(ca: Authority, client: Issued | None) -> grpc.ChannelCredentials:
    if client is None:
        return grpc.ssl_channel_credentials(root_certificates=ca.pem)
    return grpc.ssl_channel_credentials(
        root_certificates=ca.pem, private_key=client.key, certificate_chain=client.cert
    )


@pytest.fixture(scope="module")
def tls_server(
    pki: tuple[Pki, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[fnserver.Server]:
    keys, certs = pki
    with fnserver.function_server(
        tmp_path_factory.mktemp("tls-server"),
        "--tls-server-certs-dir",
        str(certs),
        credentials=credentials(keys.ca, keys.client),
    ) as server:
        yield server


def call(server: fnserver.Server, creds: grpc.ChannelCredentials | None) -> grpc.StatusCode:
    """Send a RunFunction; the status code it ends with (OK when served)."""
    with server.channel(creds) as channel:
        try:
            rsp: fnv1.RunFunctionResponse = grpcv1.FunctionRunnerServiceStub(channel).RunFunction(
                f.request(f.xr()), timeout=REFUSAL_TIMEOUT
            )
        except grpc.RpcError as e:
            return e.code()
    assert "group.dev" in rsp.desired.resources
    return grpc.StatusCode.OK


def test_a_client_the_ca_signed_is_served(
    tls_server: fnserver.Server, pki: tuple[Pki, Path]
) -> None:
    keys, _ = pki
    assert call(tls_server, credentials(keys.ca, keys.client)) == grpc.StatusCode.OK


def test_a_plaintext_client_is_refused(tls_server: fnserver.Server) -> None:
    assert call(tls_server, None) == grpc.StatusCode.UNAVAILABLE


def test_a_client_from_another_ca_is_refused(
    tls_server: fnserver.Server, pki: tuple[Pki, Path]
) -> None:
    keys, _ = pki
    assert call(tls_server, credentials(keys.ca, keys.stranger)) == grpc.StatusCode.UNAVAILABLE


def test_a_client_without_a_certificate_is_refused(
    tls_server: fnserver.Server, pki: tuple[Pki, Path]
) -> None:
    keys, _ = pki
    assert call(tls_server, credentials(keys.ca, None)) == grpc.StatusCode.UNAVAILABLE
