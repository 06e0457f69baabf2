"""One QEMU process: its scratch directory, console and control sockets, memory
figures and reaping.

Kept apart from ``vms.py`` so the boot logic reads top to bottom. The process is
started in its own session with the run marker in its environment (``proc.py``'s
conventions), always inside a run-named cgroup that caps its memory, pids and CPU,
with the OOM killer told to pick it first, and reaped with ``wait4`` so the kernel's
own peak-RSS figure is kept even after it exits.

The guest has two serial ports (initramfs.py): the console, which a thread drains
into a bounded transcript (the last ``CONSOLE_KEEP_LINES`` lines) and watches for a
kernel panic, and the control channel, which carries the command protocol and
nothing else. A guest flooding its console therefore slows nothing but itself.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import stat
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import cgroups
from .naming import run_id_of
from .paths import scratch_root
from .proc import kill_group, make_preexec, rlimit_pairs, sandbox_env

SOCKET_PATH_MAX = 107  # sun_path is 108 bytes including the terminating NUL
TRANSCRIPT_BYTES = 4096
CONSOLE_LINE_MAX = 64 * 1024  # a guest printing without newlines is cut into lines this long
CONSOLE_KEEP_LINES = 200  # the console transcript people and error messages see
CONSOLE_KEEP_LINE_CHARS = 500
PANIC_RE = re.compile(r"Kernel panic - not syncing:.*")
QEMU_OVERHEAD_MIB = 192  # QEMU + TCG translation cache beyond guest RAM
QEMU_PIDS_MAX = 256  # vCPU threads, RCU, the block thread pool (up to 64) and margin
QEMU_OPEN_FILES = 1024  # sockets, the log, the image, eventfds per device


class VMError(RuntimeError):
    pass


@dataclass(frozen=True)
class QemuLimits:
    """The cgroup every QEMU process runs in."""

    memory_bytes: int
    pids: int
    cpu_percent: int
    open_files: int = QEMU_OPEN_FILES
    file_size_bytes: int = 0  # largest file QEMU may write (its log, a snapshot image)

    @classmethod
    def for_guest(cls, memory_mib: int, vcpus: int) -> QemuLimits:
        # Half a CPU beyond the vCPUs leaves room for QEMU's main loop and I/O threads,
        # so the cap holds a runaway QEMU without slowing the guest it measures. A
        # snapshot image holds at most the guest's RAM, twice over being generous.
        return cls(
            memory_bytes=(memory_mib + QEMU_OVERHEAD_MIB) << 20,
            pids=QEMU_PIDS_MAX,
            cpu_percent=vcpus * 100 + 50,
            file_size_bytes=(2 * memory_mib + 256) << 20,
        )


class VMBootTimeout(VMError):
    """The guest did not print its boot marker before the deadline."""


class VMGuestPanic(VMError):
    """The guest kernel panicked (at boot or while running)."""


@cache
def qemu_version() -> str:
    try:
        out = subprocess.run(
            ["qemu-system-x86_64", "--version"], capture_output=True, text=True, timeout=10
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    match = re.search(r"version (\S+)", out)
    return match.group(1) if match else out.strip().splitlines()[0] if out.strip() else "unknown"


def remove_tree(path: Path) -> None:
    """Remove a scratch directory without following any symlink inside (or at) it."""
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(info.st_mode):
        shutil.rmtree(path)  # rmtree unlinks symlinks, never descends through them
    else:
        os.unlink(path)


class QemuProcess:
    def __init__(self, run_id: int, process_name: str) -> None:
        if run_id_of(process_name) != run_id:
            raise ValueError(f"{process_name!r} does not belong to run {run_id}")
        self.run_id = run_id
        self.name = process_name
        self.scratch = scratch_root() / process_name
        self.serial_path = self.scratch / "serial.sock"  # the console (ttyS0)
        self.control_path = self.scratch / "control.sock"  # the command channel (ttyS1)
        self.terminal_path = self.scratch / "term.sock"  # a student's shell, when asked (ttyS2)
        self.qmp_path = self.scratch / "qmp.sock"
        self.migration_path = self.scratch / "mig.sock"
        self.log_path = self.scratch / "qemu.log"
        self.disk_path = self.scratch / "disk.qcow2"
        longest = max(
            (
                self.serial_path,
                self.control_path,
                self.qmp_path,
                self.migration_path,
                self.terminal_path,
            ),  # fmt: skip
            key=lambda p: len(str(p)),
        )
        if len(str(longest)) > SOCKET_PATH_MAX:
            raise VMError(f"scratch path too long for a unix socket: {longest}")
        self.popen: subprocess.Popen | None = None
        self.cgroup: cgroups.Cgroup | None = None
        self.started_at = 0.0
        self.exited_at = 0.0
        self.max_rss_bytes = 0
        self.returncode: int | None = None
        self._control: socket.socket | None = None
        self._console: socket.socket | None = None
        self._console_reader: threading.Thread | None = None
        self._buffer = b""
        self.transcript: deque[str] = deque(maxlen=40)  # control lines, for errors
        self.console: deque[str] = deque(maxlen=CONSOLE_KEEP_LINES)
        self.console_bytes = 0  # everything the guest printed there, kept or not
        self.panic_line: str | None = None

    @property
    def pid(self) -> int:
        return self.popen.pid if self.popen else 0

    # -- start ----------------------------------------------------------------------

    def start(
        self, argv: list[str], *, limits: QemuLimits, deadline: float, disk_mib: int = 0
    ) -> None:
        scratch_root().mkdir(parents=True, exist_ok=True)
        self.scratch.mkdir(mode=0o700)  # fails if a VM of that name is already here
        if disk_mib:
            self._create_disk(disk_mib)
        try:
            self.cgroup = cgroups.create(
                self.name,
                memory_bytes=limits.memory_bytes,
                pids=limits.pids,
                cpu_percent=limits.cpu_percent,
            )
        except (OSError, RuntimeError) as error:
            raise VMError(f"cannot limit QEMU in a cgroup here: {error}") from error
        log = open(self.log_path, "wb")  # noqa: SIM115 - handed to the child
        try:
            self.started_at = time.monotonic()
            self.popen = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env=sandbox_env(self.run_id),
                cwd=self.scratch,
                start_new_session=True,
                # A crashing QEMU must not dump the guest's memory to the host, and if
                # the host runs out of memory the kernel kills a guest before the
                # database or the web server.
                preexec_fn=make_preexec(
                    rlimit_pairs(limits.open_files, limits.file_size_bytes, None, None),
                    self.cgroup.procs_files,
                    oom_score_adj=1000,
                ),
                close_fds=True,
            )
        finally:
            log.close()
        self._connect_serial(deadline)

    def _create_disk(self, size_mib: int) -> None:
        """An empty qcow2 image: savevm needs one to hold the VM state."""
        result = subprocess.run(
            ["qemu-img", "create", "-q", "-f", "qcow2", str(self.disk_path), f"{size_mib}M"],
            capture_output=True, text=True, timeout=30,
        )  # fmt: skip
        if result.returncode != 0:
            raise VMError(f"qemu-img create failed: {result.stderr.strip()}")

    def _connect_serial(self, deadline: float) -> None:
        # QEMU waits for each socket in turn (wait=on) before it starts the guest, so
        # nothing the guest prints is lost: the console first, then the control port.
        self._console = self._connect(self.serial_path, deadline)
        self._console_reader = threading.Thread(
            target=self._drain_console, name=f"{self.name}-console", daemon=True
        )
        self._console_reader.start()
        self._control = self._connect(self.control_path, deadline)

    def _connect(self, path: Path, deadline: float) -> socket.socket:
        while True:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.connect(str(path))
                return sock
            except (FileNotFoundError, ConnectionRefusedError):
                sock.close()
            if not self.alive():
                raise VMError(f"QEMU exited before the guest started: {self.log_tail()}")
            if time.monotonic() >= deadline:
                raise VMError(f"QEMU did not open {path.name} in time")
            time.sleep(0.002)

    def _drain_console(self) -> None:
        """Keep the console's last lines (bounded), note a panic; ends at EOF or reap."""
        sock, pending = self._console, b""
        while sock is not None:
            try:
                chunk = sock.recv(65536)
            except OSError:
                return
            if not chunk:
                break
            self.console_bytes += len(chunk)
            pending += chunk
            *lines, pending = pending.split(b"\n")
            if len(pending) > CONSOLE_LINE_MAX:
                lines.append(pending)
                pending = b""
            for raw in lines:
                line = raw.decode(errors="replace").rstrip("\r")
                self.console.append(line[:CONSOLE_KEEP_LINE_CHARS])
                if self.panic_line is None and (found := PANIC_RE.search(line)):
                    self.panic_line = found.group(0)[:CONSOLE_KEEP_LINE_CHARS]
        if pending:
            self.console.append(pending.decode(errors="replace")[:CONSOLE_KEEP_LINE_CHARS])

    def _gone(self) -> VMError:
        """Why the guest stopped answering: a kernel panic if the console says so."""
        if self._console_reader is not None:
            self._console_reader.join(timeout=2)  # its last lines may still be in flight
        if self.panic_line:
            return VMGuestPanic(f"the guest kernel panicked: {self.panic_line}")
        return VMError(f"QEMU exited: {self.log_tail()}")

    # -- serial -----------------------------------------------------------------------

    def control_send(self, text: str) -> None:
        if self._control is None:
            raise VMError("the VM has been stopped")
        try:
            self._control.sendall(text.encode())
        except OSError as error:
            raise self._gone() from error

    def control_read_line(self, deadline: float) -> str:
        """The next control line (CR/LF stripped); VMError on EOF, TimeoutError on deadline."""
        if self._control is None:
            raise VMError("the VM has been stopped")
        while b"\n" not in self._buffer and len(self._buffer) < CONSOLE_LINE_MAX:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                if self.panic_line:  # panicked, and QEMU has not exited (yet)
                    raise self._gone()
                raise TimeoutError("no control line in time")
            self._control.settimeout(min(remaining, 0.5))
            try:
                chunk = self._control.recv(65536)
            except TimeoutError:
                continue
            except OSError as error:
                raise self._gone() from error
            if not chunk:
                raise self._gone()
            self._buffer += chunk
        if b"\n" in self._buffer[:CONSOLE_LINE_MAX]:
            raw, self._buffer = self._buffer.split(b"\n", 1)
        else:  # no newline in sight: hand over what fits, keep the rest for later
            raw, self._buffer = self._buffer[:CONSOLE_LINE_MAX], self._buffer[CONSOLE_LINE_MAX:]
        line = raw.decode(errors="replace").rstrip("\r")
        self.transcript.append(line[:200])
        return line

    def control_wait_line(self, expected: str, deadline: float) -> None:
        try:
            while self.control_read_line(deadline) != expected:
                pass
        except TimeoutError as error:
            raise VMError(f"no {expected!r} from the guest in time") from error

    def control_wait_marker(self, marker: re.Pattern, deadline: float, timeout: float) -> str:
        try:
            while True:
                line = self.control_read_line(deadline)
                if marker.search(line):
                    return line
        except TimeoutError:
            raise VMBootTimeout(
                f"boot timeout after {timeout:g} s; console: {self.console_tail()}"
            ) from None
        except VMGuestPanic:
            raise
        except VMError as error:
            raise VMError(f"guest never booted: {error}; console: {self.console_tail()}") from None

    def console_tail(self, lines: int = 5) -> str:
        tail = [line for line in self.console if line.strip()][-lines:]
        return " | ".join(tail) if tail else "(nothing)"

    def log_tail(self) -> str:
        """QEMU's own last words, minus its routine "waiting for connection" notice."""
        try:
            text = self.log_path.read_bytes()[-TRANSCRIPT_BYTES:].decode(errors="replace")
        except OSError:
            return "(no QEMU log)"
        lines = [
            line.removeprefix("qemu-system-x86_64: ").strip()
            for line in text.splitlines()
            if line.strip() and "QEMU waiting for connection" not in line
        ]
        return " | ".join(lines[-3:])[-400:] or "(QEMU printed nothing)"

    # -- state -------------------------------------------------------------------------

    def alive(self) -> bool:
        return self._try_reap(block=False) is None

    def _try_reap(self, block: bool) -> int | None:
        if self.popen is None:
            return -1
        if self.returncode is not None:
            return self.returncode
        try:
            pid, status, usage = os.wait4(self.popen.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:
            self.returncode = self.popen.returncode if self.popen.returncode is not None else -1
            return self.returncode
        if pid == 0:
            return None
        self.exited_at = time.monotonic()
        self.max_rss_bytes = usage.ru_maxrss * 1024
        self.returncode = os.waitstatus_to_exitcode(status)
        self.popen.returncode = self.returncode  # so Popen never waits on a reaped pid
        return self.returncode

    def wait_exit(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self._try_reap(block=False) is None:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.002)
        return True

    def memory(self) -> dict[str, int]:
        fields = {"rss_bytes": 0, "peak_rss_bytes": 0, "pss_bytes": 0}
        if not self.popen or not self.alive():
            fields["peak_rss_bytes"] = self.max_rss_bytes
            return fields
        for path, keys in (
            (f"/proc/{self.pid}/status", {"VmRSS:": "rss_bytes", "VmHWM:": "peak_rss_bytes"}),
            (f"/proc/{self.pid}/smaps_rollup", {"Pss:": "pss_bytes"}),
        ):
            try:
                with open(path) as handle:
                    for line in handle:
                        parts = line.split()
                        if parts and parts[0] in keys:
                            fields[keys[parts[0]]] = int(parts[1]) * 1024
            except (FileNotFoundError, ProcessLookupError):
                pass
        return fields

    # -- reaping ---------------------------------------------------------------------

    def reap(self) -> None:
        """Kill everything this VM had and remove its files; safe to call twice."""
        for sock in (self._control, self._console):
            if sock is not None:
                # shutdown wakes the console thread's recv; close alone may not.
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
        self._control = self._console = None
        if self.popen is not None and self.returncode is None:
            kill_group(self.popen.pid)
            self._try_reap(block=True)
        if self.popen is not None:
            kill_group(self.popen.pid)  # anything QEMU forked and left in the session
        if self.cgroup is not None:
            self.cgroup.remove()
            self.cgroup = None
        remove_tree(self.scratch)
