"""Interactive shells in containers, on a pseudo-terminal the host holds.

The foundation of the browser terminal: a student's keystrokes go to ``write``,
what the shell prints comes from ``read``. The container is an ordinary one of the
run (``container_setup.prepare``: its own namespaces, user namespace, seccomp filter,
read-only root, cgroup limits) started in the foreground by the OCI runtime with
``terminal: true``, so the shell gets a pseudo-terminal inside the container — job
control works and Ctrl-C interrupts the foreground command. The runtime relays
between that terminal and ours: we hold the master end of a host pty whose slave is
the runtime's stdio.

Nothing is buffered here: the caller reads as fast as it can send on, and a shell
printing faster than that blocks on the full pty buffer (a few KiB in the kernel)
until it is read. A terminal has a hard lifetime (``limits.wall_seconds``) after which
it is stopped whatever happens; ``stop`` kills and removes everything, and everything
is named after the run, so the reaper finds whatever a dead process left.
"""

from __future__ import annotations

import errno
import fcntl
import os
import pty
import signal
import struct
import subprocess
import termios
import threading
import time

from . import container_setup as setup
from . import containers, proc
from .limits import Limits

SHELL = ["/bin/sh", "-i"]
MAX_ROWS, MAX_COLS = 200, 500  # a resize asking for more is clamped
READ_CHUNK = 16 * 1024
CHECK_SECONDS = 10.0  # a check script's wall limit
CHECK_OUTPUT_BYTES = 4096
READY_SECONDS = 10.0  # from spawning the runtime to a running container


class TerminalUnavailable(RuntimeError):
    """Only bubblewrap works here, and an interactive container needs an OCI runtime.
    (With no runtime at all, ``containers.RuntimeUnavailable`` says why.)"""


class Terminal:
    """One interactive shell in a container; ``stop()`` (or the lifetime) ends it."""

    def __init__(self, run_id: int, name: str, limits: Limits) -> None:
        runtime = containers.choose_runtime()
        if runtime == "bwrap":
            raise TerminalUnavailable("an interactive terminal needs an OCI runtime (runc)")
        self.run_id, self.name, self.runtime = run_id, name, runtime
        self.prepared = setup.prepare(
            run_id, list(SHELL), limits, runtime, name, None, None, terminal=True
        )
        self.master: int | None = None
        self.process: subprocess.Popen | None = None
        self.started_at = time.monotonic()
        self._lock = threading.Lock()
        self._stopped = False
        self._lifetime = threading.Timer(limits.wall_seconds, self.stop)
        self._lifetime.daemon = True
        try:
            self._spawn()
            self._wait_running()
        except BaseException:
            self.stop()
            raise
        self._lifetime.start()

    def _wait_running(self, timeout: float = READY_SECONDS) -> None:
        """Return once the runtime reports the container running: before that, a
        check (``runtime exec``) would find no container to join."""
        deadline = time.monotonic() + timeout
        while True:
            state = subprocess.run(
                [self.runtime, "state", self.prepared.cid],
                capture_output=True,
                text=True,
                timeout=timeout,
            )
            if state.returncode == 0 and '"running"' in state.stdout:
                return
            if self.process.poll() is not None:
                raise OSError(errno.ESRCH, f"the shell's container exited ({state.stderr[:200]})")
            if time.monotonic() > deadline:
                raise TimeoutError(f"the container was not running after {timeout:.0f} s")
            time.sleep(0.01)

    def _spawn(self) -> None:
        master, slave = pty.openpty()
        try:
            hook = proc.priority_hook()
            with proc.sandbox_priority():  # below the web server's CPU priority
                self.process = subprocess.Popen(
                    self.prepared.command,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=proc.sandbox_env(self.run_id),
                    start_new_session=True,
                    close_fds=True,
                    preexec_fn=hook,
                )
        except BaseException:
            os.close(master)
            raise
        finally:
            os.close(slave)
        os.set_blocking(master, False)
        self.master = master

    # -- the terminal ------------------------------------------------------------------

    def fileno(self) -> int:
        if self.master is None:
            raise OSError(errno.EBADF, "the terminal has been stopped")
        return self.master

    def read(self, max_bytes: int = READ_CHUNK) -> bytes | None:
        """What the shell printed since the last read (up to ``max_bytes``); ``b""``
        when nothing is waiting; ``None`` once the shell has gone."""
        # Under the lock: the lifetime timer may stop (and close) the terminal from its
        # own thread, and a closed fd's number is soon someone else's.
        with self._lock:
            return self._read(max_bytes)

    def _read(self, max_bytes: int) -> bytes | None:
        if self.master is None:
            return None
        try:
            data = os.read(self.master, max_bytes)
        except BlockingIOError:
            return b""
        except OSError as error:
            # EIO: the slave side closed, the shell exited; EBADF: stopped meanwhile.
            if error.errno in (errno.EIO, errno.EBADF):
                return None
            raise
        return data or None

    def write(self, data: bytes) -> int:
        """Send keystrokes; returns how many bytes the terminal took (it may take
        fewer when the shell is not reading)."""
        with self._lock:
            if self.master is None:
                raise OSError(errno.EBADF, "the terminal has been stopped")
            try:
                return os.write(self.master, data)
            except BlockingIOError:
                return 0

    def resize(self, rows: int, cols: int) -> None:
        """The browser's terminal changed size: tell the shell's terminal too."""
        rows, cols = max(1, min(int(rows), MAX_ROWS)), max(1, min(int(cols), MAX_COLS))
        with self._lock:
            if self.master is None:
                raise OSError(errno.EBADF, "the terminal has been stopped")
            fcntl.ioctl(self.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
            # The runtime copies its own terminal's size into the container's on
            # SIGWINCH; our pty is not its controlling terminal, so none comes by itself.
            if self.process is not None and self.process.poll() is None:
                os.kill(self.process.pid, signal.SIGWINCH)

    def alive(self) -> bool:
        return not self._stopped and self.process is not None and self.process.poll() is None

    def check(self, script: str, timeout: float = CHECK_SECONDS) -> tuple[int | None, str]:
        """Run ``script`` (busybox sh) inside the student's container, out of band: a
        process of its own in the container's namespaces and cgroup (``runc exec``),
        never typed into the shell, so the student sees nothing of it. Returns its exit
        status (None when it overran ``timeout`` and was killed) and its output
        (capped). The guided exercises' checks run this way."""
        if not self.alive():
            raise OSError(errno.ESRCH, "the terminal has ended")
        result = proc.run(
            [self.runtime, "exec", self.prepared.cid, "/bin/sh", "-c", script],
            run_id=self.run_id,
            wall_seconds=timeout,
            output_bytes=CHECK_OUTPUT_BYTES,
            env=proc.sandbox_env(self.run_id),
        )
        output = (result.stdout + result.stderr).decode(errors="replace")
        return (None if result.timed_out else result.returncode), output

    # -- ending --------------------------------------------------------------------------

    def stop(self) -> None:
        """Kill the shell and everything it started; remove the container. Safe to
        call twice, and from the lifetime timer while the caller is reading."""
        with self._lock:
            if self._stopped:
                return
            self._lifetime.cancel()
            self.prepared.group.kill_all()
            if self.process is not None:
                proc.kill_group(self.process.pid)
                self.process.wait()
            if self.master is not None:
                os.close(self.master)
                self.master = None
            self.prepared.close_fds()
            setup.cleanup(
                self.runtime, self.prepared.cid, self.prepared.scratch, self.prepared.group
            )
            self._stopped = True

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_terminal(run_id: int, limits: Limits, *, name: str = "term") -> Terminal:
    """An interactive busybox shell in a fresh container of ``run_id``."""
    return Terminal(run_id, name, limits)
