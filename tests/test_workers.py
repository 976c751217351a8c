"""--workers N: N server processes on one port, stopped together by SIGTERM, mTLS on each."""

from __future__ import annotations

import datetime
import ipaddress
import os
from pathlib import Path

import grpc
import pytest
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from function import workers
from function.server import Options
from tests import factories as f
from tests import server as servers

CONNECTIONS = 8  # separate connections, which the kernel spreads across the workers


def call_on_new_connections(
    server: servers.Server, credentials: grpc.ChannelCredentials | None = None
) -> list[fnv1.RunFunctionResponse]:
    """One RunFunction per connection, each on a connection of its own."""
    req = f.request(f.xr())
    options = [*servers.CLIENT_OPTIONS, ("grpc.use_local_subchannel_pool", 1)]
    answers: list[fnv1.RunFunctionResponse] = []
    for _ in range(CONNECTIONS):
        channel = (
            grpc.secure_channel(server.address, credentials, options=options)
            if credentials
            else grpc.insecure_channel(server.address, options=options)
        )
        with channel:
            answers.append(grpcv1.FunctionRunnerServiceStub(channel).RunFunction(req, timeout=30))
    return answers


def test_workers_serve_on_one_port_and_stop_together_on_sigterm(tmp_path: Path) -> None:
    server = servers.start(tmp_path, "--insecure", "--workers", "2")
    try:
        port = int(server.address.rsplit(":", 1)[1])
        servers.wait_for(lambda: servers.listening_sockets(port) == 2, "two workers listening")
        workers = servers.child_pids(server.proc.pid)
        assert len(workers) == 2
        for rsp in call_on_new_connections(server):
            assert "group.dev" in rsp.desired.resources
        assert server.terminate() == 0
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
    finally:
        servers.stop(server)


def test_a_worker_that_dies_stops_the_pool_with_an_error(tmp_path: Path) -> None:
    with servers.function_server(tmp_path, "--insecure", "--workers", "2") as server:
        port = int(server.address.rsplit(":", 1)[1])
        servers.wait_for(lambda: servers.listening_sockets(port) == 2, "two workers listening")
        workers = servers.child_pids(server.proc.pid)
        os.kill(workers[0], 9)
        assert server.proc.wait(timeout=servers.STOP_TIMEOUT) != 0
        assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def _certificate(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer[0].subject if issuer else name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
    )
    if issuer:
        san = [x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]
        builder = builder.add_extension(x509.SubjectAlternativeName(san), critical=False)
    signer = issuer[1] if issuer else key
    return builder.sign(signer, hashes.SHA256())


def _pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


@pytest.fixture
def mtls(tmp_path: Path) -> tuple[Path, grpc.ChannelCredentials]:
    """A certs dir as Crossplane mounts it, and the credentials of a client it trusts."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = _certificate("test-ca", ca_key, None)
    server_key, client_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    certs = tmp_path / "certs"
    certs.mkdir()
    (certs / "ca.crt").write_bytes(_pem(ca))
    (certs / "tls.crt").write_bytes(_pem(_certificate("function", server_key, (ca, ca_key))))
    (certs / "tls.key").write_bytes(_key_pem(server_key))
    client = _certificate("crossplane", client_key, (ca, ca_key))
    credentials = grpc.ssl_channel_credentials(_pem(ca), _key_pem(client_key), _pem(client))
    return certs, credentials


def test_every_worker_requires_mtls(
    tmp_path: Path, mtls: tuple[Path, grpc.ChannelCredentials]
) -> None:
    certs, credentials = mtls
    flags = ("--tls-server-certs-dir", str(certs), "--workers", "2")
    with servers.function_server(tmp_path / "logs", *flags, credentials=credentials) as server:
        port = int(server.address.rsplit(":", 1)[1])
        servers.wait_for(lambda: servers.listening_sockets(port) == 2, "two workers listening")
        assert len(call_on_new_connections(server, credentials)) == CONNECTIONS
        for _ in range(CONNECTIONS):
            with pytest.raises(grpc.RpcError):
                call_on_new_connections(server)
        assert server.terminate() == 0


def test_workers_get_the_bound_and_the_grace_period() -> None:
    options = Options(
        address="0.0.0.0:9443",
        tls_certs_dir=None,
        insecure=True,
        max_recv_message_size=8,
        max_send_message_size=None,
        max_calls=3,
        grace_period=7.5,
    )
    command = workers.worker_command(options)
    assert command[command.index("--max-calls-in-flight") + 1] == "3"
    assert command[command.index("--grace-period") + 1] == "7.5"
    assert command[command.index("--max-recv-message-size") + 1] == "8"
