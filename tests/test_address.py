"""A server refuses a port that another process listens on; only --workers share one.

gRPC binds with SO_REUSEPORT by default, so without these checks a second server on a taken
port starts silently and takes part of the first one's calls.
"""

from __future__ import annotations

import contextlib
import dataclasses
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from function import server as fnserver
from function.fn import FunctionRunner
from tests import factories as f
from tests import server as servers

IN_USE = "address already in use: another function may be running on :"


@contextlib.contextmanager
def listener(*, reuse_port: bool) -> Iterator[int]:
    """A socket listening on a free 127.0.0.1 port (as gRPC's default does, with reuse_port)."""
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, int(reuse_port))
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield int(s.getsockname()[1])


@dataclass(frozen=True)
class ProbeCase:
    reason: str
    held: bool | None  # a listener on the port: with SO_REUSEPORT (True), without, or none
    address: str  # {port} is the listener's (or a free) port
    want_refused: bool


PROBE_CASES = [
    ProbeCase("a free port", None, "127.0.0.1:{port}", want_refused=False),
    ProbeCase("a port held without SO_REUSEPORT", False, "127.0.0.1:{port}", want_refused=True),
    ProbeCase("a port held with SO_REUSEPORT (gRPC's default)", True, "127.0.0.1:{port}", True),
    ProbeCase("every interface covers the held loopback port", True, "0.0.0.0:{port}", True),
    ProbeCase("IPv6 any, dual-stack, covers it too", False, "[::]:{port}", want_refused=True),
    ProbeCase("a bare port means every interface", True, ":{port}", want_refused=True),
    ProbeCase("port 0 (any free port) is left to gRPC", True, "127.0.0.1:0", False),
    ProbeCase("a unix socket is left to gRPC", True, "unix:/tmp/function-{port}.sock", False),
    ProbeCase("an unresolvable host is left to gRPC", True, "no-such.invalid:{port}", False),
]


@pytest.mark.parametrize("case", PROBE_CASES, ids=lambda c: c.reason)
def test_refuse_taken_address(case: ProbeCase) -> None:
    with contextlib.ExitStack() as stack:
        if case.held is None:
            port = servers.free_port()
        else:
            port = stack.enter_context(listener(reuse_port=case.held))
        address = case.address.format(port=port)
        if case.want_refused:
            with pytest.raises(fnserver.AddressError, match=f"^{IN_USE}{port} "):
                fnserver.refuse_taken_address(address)
        else:
            fnserver.refuse_taken_address(address)


def test_grpc_itself_binds_without_so_reuseport() -> None:
    """Should the probe miss a listener (it came after), gRPC's own bind still refuses it."""
    options = fnserver.Options(
        address="127.0.0.1:0",
        tls_certs_dir=None,
        insecure=True,
        max_recv_message_size=4,
        max_send_message_size=None,
    )
    assert ("grpc.so_reuseport", 0) in options.grpc_options()
    with listener(reuse_port=True) as port:
        taken = dataclasses.replace(options, address=f"127.0.0.1:{port}")
        with pytest.raises(fnserver.AddressError, match=f"^{IN_USE}{port} "):
            fnserver.serve(FunctionRunner(), taken)


def assert_refused(log_dir: Path, address: str, *flags: str) -> None:
    """A server started on `address` exits non-zero and says the address is in use."""
    second = servers.start(log_dir, "--insecure", *flags, address=address, wait=False)
    try:
        code = second.proc.wait(timeout=servers.STARTUP_TIMEOUT)
    finally:
        servers.stop(second)
    assert code != 0
    port = address.rsplit(":", 1)[1]
    assert f"{IN_USE}{port} (--address {address})" in second.logs()
    assert servers.child_pids(second.proc.pid) == []


def assert_serves(server: servers.Server) -> None:
    """The server answers a RunFunction call."""
    assert "group.dev" in server.call(f.request(f.xr())).desired.resources


@pytest.mark.parametrize("second", [(), ("--workers", "2")], ids=["single", "workers"])
def test_a_second_server_on_a_taken_port_refuses_to_start(
    tmp_path: Path, second: tuple[str, ...]
) -> None:
    with servers.function_server(tmp_path / "first", "--insecure") as first:
        assert_refused(tmp_path / "second", first.address, *second)
        port = int(first.address.rsplit(":", 1)[1])
        assert servers.listening_sockets(port) == 1
        assert_serves(first)
        assert first.terminate() == 0


def test_workers_share_their_port_but_refuse_a_foreign_one(tmp_path: Path) -> None:
    with servers.function_server(tmp_path / "pool", "--insecure", "--workers", "2") as pool:
        port = int(pool.address.rsplit(":", 1)[1])
        servers.wait_for(lambda: servers.listening_sockets(port) == 2, "two workers listening")
        assert_refused(tmp_path / "single", pool.address)
        assert_refused(tmp_path / "another-pool", pool.address, "--workers", "2")
        assert servers.listening_sockets(port) == 2
        assert_serves(pool)
        assert pool.terminate() == 0
