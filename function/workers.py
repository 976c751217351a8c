"""Serve with several processes on one port, so that CPU-bound calls use every core.

One asyncio loop runs one call at a time, and Crossplane runs many reconciles at once. With
`--workers N` the process starts N copies of itself as workers; each binds the same address
with SO_REUSEPORT and the kernel spreads connections across them; the parent first makes
sure that no other process listens there (function/main.py). The parent only forwards
SIGTERM and SIGINT to the workers and exits 0 once they all exited 0; if a worker dies on
its own, the parent stops the others and exits non-zero, so the pod restarts.
"""

import ctypes
import os
import signal
import subprocess
import sys
from collections.abc import Sequence
from types import FrameType

from crossplane.function import logging

from function.server import Options

WORKER_FLAG = "--pool-worker"
_PR_SET_PDEATHSIG = 1


def worker_command(options: Options, *, debug: bool = False) -> list[str]:
    """The command line of one worker: this program with the same flags."""
    command = [sys.executable, "-m", "function.main", WORKER_FLAG, "--address", options.address]
    command += ["--max-recv-message-size", str(options.max_recv_message_size)]
    if options.max_send_message_size is not None:
        command += ["--max-send-message-size", str(options.max_send_message_size)]
    if options.insecure:
        command.append("--insecure")
    if options.tls_certs_dir:
        command += ["--tls-server-certs-dir", options.tls_certs_dir]
    command += ["--max-calls-in-flight", str(options.max_calls)]
    command += ["--grace-period", str(options.grace_period)]
    if debug:
        command.append("--debug")
    return command


def run_pool(count: int, command: Sequence[str]) -> int:
    """Start `count` workers, forward stop signals to them, and return the exit code."""
    log = logging.get_logger()
    workers: dict[int, subprocess.Popen[bytes]] = {}
    stopping = False

    def stop(signum: int, _: FrameType | None = None) -> None:
        nonlocal stopping
        stopping = True
        for worker in workers.values():
            if worker.returncode is None:
                worker.send_signal(signal.SIGTERM)
        log.debug("stopping workers", signal=signal.Signals(signum).name)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    for _ in range(count):
        if stopping:
            break
        worker = subprocess.Popen(command)  # noqa: S603 - our own interpreter and module.
        workers[worker.pid] = worker
    log.info("serving with workers", workers=len(workers))

    failed = False
    remaining = set(workers)
    while remaining:
        pid, status = os.wait()
        if pid not in remaining:
            continue
        remaining.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        workers[pid].returncode = code
        if code != 0 or not stopping:
            failed = True
            log.error("worker exited", pid=pid, code=code)
            if not stopping:
                stop(signal.SIGTERM)
    return 1 if failed else 0


def become_worker() -> None:
    """Make this process a worker: it then serves as one process does, with SO_REUSEPORT.

    A worker leaves SIGINT to the parent (a terminal sends it to the whole group) and asks
    the kernel to SIGTERM it should the parent die without stopping it.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):  # not Linux: the parent still forwards SIGTERM
        pass
