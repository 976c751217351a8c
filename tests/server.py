"""The real function server as a subprocess, for tests that need gRPC, signals or TLS.

The server (function/server.py) handles SIGTERM on its event loop, which works only in the
main thread, so it always runs as its own process: `python -m function.main <flags>
--address 127.0.0.1:<free port>`, from the repository root, stdout and stderr to files.

    with function_server(tmp_path, "--insecure", "--debug") as server:
        rsp = server.call(request)           # a RunFunction over an insecure channel
        code = server.terminate()            # SIGTERM, then the exit code
        assert SECRET not in server.logs()

`hack/render.py`'s `running_function` starts the same command, but mixes the logs into one
temporary file and hides the process; these tests need both.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import grpc
from crossplane.function.proto.v1 import run_function_pb2 as fnv1
from crossplane.function.proto.v1 import run_function_pb2_grpc as grpcv1

ROOT = Path(__file__).resolve().parents[1]
STARTUP_TIMEOUT = 30.0  # a hang guard, not a performance bound
STOP_TIMEOUT = 20.0
# Client-side limits well above the server's, so that only the server's limits are tested.
CLIENT_OPTIONS = [
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
]


def free_port() -> int:
    """A TCP port that nothing listens on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """A running function server process."""

    proc: subprocess.Popen[bytes]
    address: str
    stdout: Path
    stderr: Path

    def channel(self, credentials: grpc.ChannelCredentials | None = None) -> grpc.Channel:
        """A new channel to the server: insecure, or TLS with the given credentials."""
        if credentials is None:
            return grpc.insecure_channel(self.address, options=CLIENT_OPTIONS)
        return grpc.secure_channel(self.address, credentials, options=CLIENT_OPTIONS)

    def call(
        self, req: fnv1.RunFunctionRequest, *, timeout: float = 30
    ) -> fnv1.RunFunctionResponse:
        """One RunFunction call over a fresh insecure channel."""
        with self.channel() as channel:
            rsp: fnv1.RunFunctionResponse = grpcv1.FunctionRunnerServiceStub(channel).RunFunction(
                req, timeout=timeout
            )
            return rsp

    def logs(self) -> str:
        """Everything the server wrote to stdout and stderr so far."""
        return self.stdout.read_text(errors="replace") + self.stderr.read_text(errors="replace")

    def terminate(self, timeout: float = STOP_TIMEOUT) -> int:
        """SIGTERM the server and return its exit code (a hang is a test failure)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError(f"the server ignored SIGTERM for {timeout}s") from None

    def peak_rss_kib(self) -> int:
        """The server's peak resident set size (VmHWM), in KiB."""
        return _proc_status_kib(self.proc.pid, "VmHWM")

    def rss_kib(self) -> int:
        """The server's resident set size now (VmRSS), in KiB."""
        return _proc_status_kib(self.proc.pid, "VmRSS")


def child_pids(pid: int) -> list[int]:
    """The processes whose parent is `pid` (e.g. the workers of `--workers N`)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            if int(stat.read_text().rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(stat.parent.name))
        except (OSError, ValueError):
            continue
    return found


def listening_sockets(port: int) -> int:
    """How many sockets listen on a TCP port (one per worker with SO_REUSEPORT)."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                count += 1
    return count


def _proc_status_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise KeyError(field)


def wait_for(condition: Callable[[], bool], what: str, timeout: float = STARTUP_TIMEOUT) -> None:
    """Poll a condition (a hang guard, not a timing assertion)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def wait_until_serving(
    server: Server,
    credentials: grpc.ChannelCredentials | None = None,
    timeout: float = STARTUP_TIMEOUT,
) -> None:
    """Poll until a RunFunction call succeeds; fail early if the process exits."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if server.proc.poll() is not None:
            raise AssertionError(
                f"the server exited with code {server.proc.returncode}:\n{server.logs()}"
            )
        try:
            with server.channel(credentials) as channel:
                stub = grpcv1.FunctionRunnerServiceStub(channel)
                stub.RunFunction(fnv1.RunFunctionRequest(), timeout=1)
                return
        except grpc.RpcError as e:
            last = e
            time.sleep(0.1)
    raise AssertionError(f"the server did not serve within {timeout}s: {last}\n{server.logs()}")


def start(
    log_dir: Path,
    *flags: str,
    credentials: grpc.ChannelCredentials | None = None,
    wait: bool = True,
    host: str = "127.0.0.1",
    program: Sequence[str] = (sys.executable, "-m", "function.main"),
    address: str | None = None,
) -> Server:
    """Start `python -m function.main <flags> --address <host>:<free port>`.

    `program` replaces `python -m function.main`, e.g. for the benchmark's reference servers;
    `address` replaces `<host>:<free port>`, e.g. to start a second server on a taken port.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    address = address or f"{host}:{free_port()}"
    stdout, stderr = log_dir / "server.stdout", log_dir / "server.stderr"
    command: Sequence[str] = [*program, *flags, "--address", address]
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "INSECURE", "ADDRESS"}}
    with stdout.open("wb") as out, stderr.open("wb") as err:
        proc = subprocess.Popen(command, cwd=ROOT, stdout=out, stderr=err, env=env)
    server = Server(proc=proc, address=address, stdout=stdout, stderr=stderr)
    if wait:
        try:
            wait_until_serving(server, credentials)
        except BaseException:
            stop(server)
            raise
    return server


def stop(server: Server) -> None:
    """Stop a server however it is doing: SIGTERM, then SIGKILL."""
    if server.proc.poll() is not None:
        return
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(timeout=STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()


@contextlib.contextmanager
def function_server(
    log_dir: Path,
    *flags: str,
    credentials: grpc.ChannelCredentials | None = None,
    program: Sequence[str] = (sys.executable, "-m", "function.main"),
) -> Iterator[Server]:
    """A server for the duration of a `with` block; stopped on exit whatever happened."""
    server = start(log_dir, *flags, credentials=credentials, program=program)
    try:
        yield server
    finally:
        stop(server)
