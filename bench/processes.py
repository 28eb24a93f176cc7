"""Child processes of the bench: started in their own session, logged to a file, always stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
STOP_TIMEOUT = 10.0


class ServiceError(RuntimeError):
    """A child process did not start."""


SERVERS = ("daphne", "uvicorn", "granian")


def server_argv(python: str, port: int, application: str) -> list[str]:
    """The ASGI server that serves ``application`` on 127.0.0.1:``port``: daphne, or
    ``BENCH_SERVER`` (``uvicorn``, ``granian``) with the deployment docs' flags, and for uvicorn
    ``BENCH_UVICORN_OPTS`` (e.g. ``--loop uvloop --http httptools``)."""
    server = os.environ.get("BENCH_SERVER", "daphne")
    bind = ["--host", "127.0.0.1", "--port", str(port)]
    if server == "uvicorn":
        argv = [python, "-m", "uvicorn", *bind, "--lifespan", "off", "--no-access-log"]
        argv += ["--log-level", "warning", "--ws-per-message-deflate", "false"]
        argv += ["--timeout-graceful-shutdown", "5"]
        argv += os.environ.get("BENCH_UVICORN_OPTS", "").split()
        return [*argv, application]
    if server == "granian":
        argv = [python, "-m", "granian", "--interface", "asginl", *bind]
        argv += ["--log-level", "warning", "--workers-kill-timeout", "5"]
        return [*argv, application]
    if server != "daphne":
        raise ServiceError(f"BENCH_SERVER={server!r}: one of {', '.join(SERVERS)}")
    return [python, "-m", "daphne", "-v", "0", "-b", "127.0.0.1", "-p", str(port), application]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    """Whether something accepts TCP connections on 127.0.0.1:``port``."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def rss_bytes(pid: int) -> int:
    """Resident memory of a process, from ``/proc/<pid>/status``."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise ServiceError(f"no VmRSS for process {pid}")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time a process has used, from ``/proc/<pid>/stat``."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process and its live children (a worker and its pool), so far."""
    return cpu_seconds(pid) + sum(_cpu_or_zero(child) for child in child_pids(pid))


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except OSError:  # it ended meanwhile
        return 0.0


def child_pids(pid: int) -> list[int]:
    """The live children of a process."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def tail(path: Path, lines: int = 30) -> str:
    """The last lines of a log file."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class Process:
    """A child process whose output goes to ``log_path``; ``ready`` is polled after start."""

    def __init__(
        self,
        name: str,
        argv: Sequence[str],
        *,
        log_path: Path,
        env: Mapping[str, str],
        ready: Callable[[], bool] = lambda: True,
        cwd: Path = REPO_ROOT,
    ) -> None:
        self.name = name
        self.argv = list(argv)
        self.log_path = log_path
        self.env = dict(env)
        self.cwd = cwd
        self.ready = ready
        self.popen: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise ServiceError(f"{self.name} is not running")
        return self.popen.pid

    @property
    def serving_pid(self) -> int:
        """The process that does the work: its one child when it has exactly one (granian's
        worker under its supervisor), else itself."""
        children = child_pids(self.pid)
        return children[0] if len(children) == 1 else self.pid

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    def start(self, timeout: float = 30.0) -> None:
        """Start the process and wait until ``ready`` answers true."""
        with self.log_path.open("ab") as log:
            # Its own session, so that stop() reaches its children (a worker's pool) too.
            self.popen = subprocess.Popen(
                self.argv,
                cwd=self.cwd,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + timeout
        while not self.ready():
            code = self.popen.poll()
            if code is not None or time.monotonic() > deadline:
                self.stop()
                why = (
                    f"exited with code {code}"
                    if code is not None
                    else f"not ready in {timeout:g} s"
                )
                raise ServiceError(
                    f"{self.name} {why}; log {self.log_path}:\n{tail(self.log_path)}"
                )
            time.sleep(0.05)

    def wait(self, timeout: float) -> int:
        """Wait for the process to exit by itself; stop it and fail after ``timeout``."""
        assert self.popen is not None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise ServiceError(
                f"{self.name} still running after {timeout:g} s; log:\n{tail(self.log_path)}"
            ) from None

    def stop(self) -> None:
        """Terminate the process group; kill it if it does not exit in time."""
        popen, self.popen = self.popen, None
        if popen is None:
            return
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(popen.pid, sig)
            except ProcessLookupError:
                break
            try:
                popen.wait(STOP_TIMEOUT)
                # The leader is gone; its pool children may linger a moment.
                os.killpg(popen.pid, signal.SIGKILL)
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
            break
