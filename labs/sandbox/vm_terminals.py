"""An interactive shell in a guest, on its third serial port.

A guest started with ``VMOptions(terminal=True)`` has ttyS2 wired to a unix socket in
its scratch directory (nobody need be connected). ``VMTerminal`` connects to it, asks
the guest over the control channel to start ``sh -i`` on ttyS2 as a session of its
own with ttyS2 as its controlling terminal (``guest_src/vl-tty.c``), and then passes
bytes both ways: the same ``read``/``write``/``resize``/``stop`` as a container's
terminal (terminals.py), so the web side need not care which it has.

Commands and their answers stay on the control channel (ttyS1) and the kernel's
messages on the console (ttyS0): nothing a student types or prints can disturb the
protocol the labs rely on. Nothing is buffered here either: a guest printing faster
than the socket is read fills QEMU's and the UART's small buffers and waits.
"""

from __future__ import annotations

import contextlib
import errno
import secrets
import shlex
import socket
import time

from .guest_containers import CGROUP_ROOT, container_script
from .vm_process import VMError

TTY = "/dev/ttyS2"
PID_FILE = "/tmp/virtlab-terminal.pid"
CONNECT_SECONDS = 10.0
MAX_ROWS, MAX_COLS = 200, 500
# Every process of the shell's session, background jobs (their own groups) included:
# the sixth field of /proc/<pid>/stat is the session id, the shell's own pid.
KILL_SESSION = (
    f"s=$(cat {PID_FILE}); for d in /proc/[0-9]*; do set -- $(cat $d/stat 2>/dev/null); "
    '[ "$6" = "$s" ] && kill -KILL "$1"; done; true'
)


def in_guest_container(name: str, *, memory_bytes: int, pids: int) -> tuple[str, str]:
    """The shell and the check prefix of a terminal inside a container in the guest
    (guest_containers.py: its own namespaces and a cgroup with limits): the Kata
    shape, typed into. A check enters the container's namespaces (busybox nsenter,
    by the pid of a process of its cgroup that is in a PID namespace of its own)."""
    script = container_script(name, "exec /bin/sh -i", memory_bytes=memory_bytes, pids=pids)
    shell = f"/bin/sh -c {shlex.quote(script)}"
    group = f"{CGROUP_ROOT}/{name}"
    enter = (
        f'for p in $(cat {group}/cgroup.procs); do [ "$(readlink /proc/$p/ns/pid)" != '
        f'"$(readlink /proc/1/ns/pid)" ] && break; p=; done; [ -n "$p" ] || exit 125; '
        "nsenter -t $p -m -u -i -n -p"
    )
    return shell, enter


class VMTerminal:
    """``shell``: what runs on the terminal (``/bin/sh -i``, or a guest container's
    command line, ``in_guest_container``); ``enter``: how a check's script is
    started (plain, or after entering that container's namespaces)."""

    def __init__(self, handle, shell: str = "/bin/sh -i", enter: str = "") -> None:
        path = handle.process.terminal_path
        if not path.exists():
            raise VMError("this VM has no terminal port: start it with VMOptions(terminal=True)")
        self.handle = handle
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        deadline = time.monotonic() + CONNECT_SECONDS
        while True:
            try:
                self.sock.connect(str(path))
                break
            except (FileNotFoundError, ConnectionRefusedError):
                if time.monotonic() > deadline:
                    self.sock.close()
                    raise VMError("the VM's terminal port did not open") from None
                time.sleep(0.01)
        self.sock.setblocking(False)
        # vl-tty (guest_src/) makes a session with ttyS2 as its terminal and Ctrl-C
        # working, and execs a small wrapper in the background job's process: $! is the
        # session's id. The wrapper runs the shell, and once it exits prints a marker
        # of this terminal's own, so ``read`` can say the shell has gone — the guest
        # and its port outlive it, and nothing else would tell.
        self._exit_marker = f"VIRTLAB-SHELL-EXITED-{secrets.token_hex(4)}".encode()
        wrapper = shlex.quote(f"{shell}; echo; echo {self._exit_marker.decode()}")
        self._tail = b""
        status, output = handle.run(
            f"stty -F {TTY} sane; vl-tty /bin/sh -c {wrapper} <{TTY} >{TTY} 2>&1 & "
            f"echo $! > {PID_FILE}",
            timeout=10,
        )
        if status != 0:
            self.sock.close()
            raise VMError(f"the guest could not start a shell on {TTY}: {output[:200]}")
        self._stopped = False
        self.enter = enter

    def fileno(self) -> int:
        return self.sock.fileno()

    def read(self, max_bytes: int = 16 * 1024) -> bytes | None:
        """What the shell printed since the last read; ``b""`` when nothing is waiting,
        ``None`` once the terminal is stopped or the VM has gone."""
        if self._stopped or self._tail is None:
            return None
        try:
            data = self.sock.recv(max_bytes)
        except BlockingIOError:
            return b""
        except OSError as error:
            if error.errno in (errno.ECONNRESET, errno.EBADF):
                return None
            raise
        if not data:
            return None
        # The marker may arrive split across reads: look in what came before too.
        previous = self._tail
        seen = previous + data
        found = seen.find(self._exit_marker)
        if found >= 0:
            self._tail = None  # the shell has gone: the next read says so
            return data[: max(0, found - len(previous))]
        self._tail = seen[-len(self._exit_marker) :]
        return data

    def write(self, data: bytes) -> int:
        if self._stopped:
            raise OSError(errno.EBADF, "the terminal has been stopped")
        try:
            return self.sock.send(data)
        except BlockingIOError:
            return 0

    def resize(self, rows: int, cols: int) -> None:
        """Set the guest tty's size; the guest kernel then signals the foreground job."""
        rows, cols = max(1, min(int(rows), MAX_ROWS)), max(1, min(int(cols), MAX_COLS))
        self.handle.run(f"stty -F {TTY} rows {rows} cols {cols}", timeout=10)

    def alive(self) -> bool:
        """The shell is running (not exited, not stopped) and so is its guest."""
        return not self._stopped and self._tail is not None and self.handle.alive()

    def check(self, script: str, timeout: float = 10.0) -> tuple[int | None, str]:
        """Run ``script`` in the guest over the control channel, out of band (the
        student's shell never sees it): its exit status and its output, like a
        container's check — None for the status when it overran ``timeout`` (the guest
        kills it then: status 137, after the whole time). The guided exercises' checks
        run this way."""
        if not self.alive():
            raise VMError("the terminal has ended")
        if self.enter:
            script = f"{self.enter} sh -c {shlex.quote(script)}"
        started = time.monotonic()
        status, output = self.handle.run(script, timeout=timeout)
        # 137 is also what a script that was SIGKILLed for another reason returns; only
        # one that ran until the deadline was stopped by it.
        if status == 137 and time.monotonic() - started >= timeout * 0.9:
            return None, output
        return status, output

    def stop(self) -> None:
        """End the shell's session (the VM keeps running); safe to call twice."""
        if self._stopped:
            return
        self._stopped = True
        self.sock.close()
        if self.handle.alive():
            with contextlib.suppress(VMError):  # the VM is going anyway: its owner stops it
                self.handle.run(KILL_SESSION, timeout=10)

    def __enter__(self) -> VMTerminal:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()
