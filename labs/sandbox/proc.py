"""Run a host command the way every sandbox process runs.

The child gets its own session (so one ``killpg`` reaches everything it forks unless
it calls ``setsid`` itself), ``VIRTLAB_RUN=<run prefix>`` in its environment (so the
reaper can find descendants after a crash), and rlimits set between fork and exec.
Optionally it is placed in a cgroup before exec, which also catches descendants that
leave the session. It runs at a lower CPU priority than the web server: at least
``SANDBOX_NICE``, inherited by everything it forks (its cgroup's parent has low CPU
shares too, cgroups.py), so a full lab queue does not slow pages. Output is read
concurrently with a byte cap; the first bytes are kept and the rest dropped
(``truncated``), so endless output — with or without newlines — never grows memory.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import selectors
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache
from typing import Protocol

from .naming import run_prefix
from .userns import drop_to_sandbox_uid

RUN_ENV = "VIRTLAB_RUN"
READ_CHUNK = 64 * 1024
# After the main process exits, descendants may still hold the pipes open; give
# them this long to finish writing before we stop listening (and kill them).
DRAIN_SECONDS = 0.2
# The nice value every sandbox process runs at, at least (the web server's is 0). What
# decides the CPU a sandbox gets beside the web server is its cgroup's share (cgroups.py,
# SANDBOX_CPU_SHARES); nice matters among processes outside a cgroup (an OCI runtime's
# own process) and on hosts whose cpu controller is missing.
SANDBOX_NICE = 10


class Killable(Protocol):
    """Something that can place a pid in itself and kill everything inside (a cgroup)."""

    @property
    def procs_files(self) -> list[str]: ...

    def kill_all(self) -> int: ...


@dataclass
class ProcResult:
    argv: list[str]
    returncode: int | None  # negative: killed by that signal (Popen's convention)
    stdout: bytes
    stderr: bytes
    truncated: bool  # some output was dropped because of the cap
    timed_out: bool  # the wall-time limit killed it
    killed_for_output: bool  # stopped because it kept writing far past the cap
    wall_seconds: float  # spawn to exit (and pipes drained)
    first_output_seconds: float | None  # spawn to the first byte on stdout
    started_at: float  # time.monotonic() at spawn, to relate to a caller's clock
    first_output_at: float | None  # time.monotonic() of the first stdout byte
    output_bytes_seen: int = 0  # everything the process wrote, kept or not
    pid: int = 0
    extra: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


def rlimit_pairs(
    open_files: int | None, file_size_bytes: int | None, pids: int | None, address_space: int | None
) -> list[tuple[int, int]]:
    pairs: list[tuple[int, int]] = []
    if open_files:
        pairs.append((resource.RLIMIT_NOFILE, open_files))
    if file_size_bytes:
        pairs.append((resource.RLIMIT_FSIZE, file_size_bytes))
    if pids:
        # RLIMIT_NPROC counts per user, so for root it is ignored; the cgroup is the
        # real pids limit. Kept for non-root hosts.
        pairs.append((resource.RLIMIT_NPROC, pids))
    if address_space:
        pairs.append((resource.RLIMIT_AS, address_space))
    return pairs


def make_preexec(
    rlimits: list[tuple[int, int]],
    procs_files: list[str],
    *,
    oom_score_adj: int | None = None,
    run_as_sandbox_uid: bool = False,
) -> Callable[[], None]:
    """The hook a sandboxed child runs between fork and exec: join the cgroup (so its
    memory is charged there from its first allocation), set the rlimits, forbid core
    dumps, lower its CPU priority to ``SANDBOX_NICE``, with ``oom_score_adj`` tell the
    OOM killer whom to pick first, and with ``run_as_sandbox_uid`` give up root for the
    unprivileged sandbox uid (last, since the steps before it need root)."""
    # Runs in the forked child before exec: only plain syscalls, no allocation-heavy work.
    encoded_files = [os.fsencode(path) for path in procs_files]
    oom_value = None if oom_score_adj is None else str(oom_score_adj).encode()

    def preexec() -> None:
        # No core dumps: a crashing sandbox must not write its memory to the host.
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        # Raising one's own nice needs no privilege; a caller already nicer keeps its own.
        if os.getpriority(os.PRIO_PROCESS, 0) < SANDBOX_NICE:
            os.setpriority(os.PRIO_PROCESS, 0, SANDBOX_NICE)
        my_pid = str(os.getpid()).encode()
        writes = [(path, my_pid) for path in encoded_files]
        if oom_value is not None:
            writes.append((b"/proc/self/oom_score_adj", oom_value))
        for path, value in writes:
            fd = os.open(path, os.O_WRONLY)
            try:
                os.write(fd, value)
            finally:
                os.close(fd)
        for kind, value in rlimits:
            resource.setrlimit(kind, (value, value))
        if run_as_sandbox_uid:
            drop_to_sandbox_uid()

    return preexec


@cache
def _thread_nice_returns() -> bool:
    """Whether a thread here may lower its nice again after raising it (root, or
    CAP_SYS_NICE, or RLIMIT_NICE): tried once, on a thread of its own."""
    works: list[bool] = []

    def attempt() -> None:
        before = os.getpriority(os.PRIO_PROCESS, 0)
        try:
            os.setpriority(os.PRIO_PROCESS, 0, min(before + 1, 19))
            os.setpriority(os.PRIO_PROCESS, 0, before)
            works.append(os.getpriority(os.PRIO_PROCESS, 0) == before)
        except OSError:
            works.append(False)

    trial = threading.Thread(target=attempt, name="virtlab-nice-probe")
    trial.start()
    trial.join()
    return bool(works and works[0])


@contextlib.contextmanager
def sandbox_priority() -> Iterator[None]:
    """Processes this thread starts inside the block run at ``SANDBOX_NICE``.

    Linux keeps nice per thread and a child inherits its parent thread's, so the
    calling thread is niced for the spawn and restored after: no preexec hook, and so
    CPython can still spawn with vfork (a preexec hook costs a full fork, ~2 ms from
    the lab worker). Where the thread could not get its priority back, nothing is
    changed and ``can_spawn_at_sandbox_priority()`` is False: give the child
    ``make_preexec``'s hook instead.
    """
    before = os.getpriority(os.PRIO_PROCESS, 0)
    if before >= SANDBOX_NICE or not _thread_nice_returns():
        yield
        return
    os.setpriority(os.PRIO_PROCESS, 0, SANDBOX_NICE)
    try:
        yield
    finally:
        os.setpriority(os.PRIO_PROCESS, 0, before)


def can_spawn_at_sandbox_priority() -> bool:
    """True when ``sandbox_priority()`` makes a hook-less child run at ``SANDBOX_NICE``."""
    return os.getpriority(os.PRIO_PROCESS, 0) >= SANDBOX_NICE or _thread_nice_returns()


def priority_hook() -> Callable[[], None] | None:
    """The preexec hook a spawn with nothing else to set needs for ``SANDBOX_NICE``:
    None where ``sandbox_priority()`` gives it for free."""
    return None if can_spawn_at_sandbox_priority() else make_preexec([], [])


def sandbox_env(run_id: int, env: Mapping[str, str] | None = None) -> dict[str, str]:
    """A minimal environment carrying the run marker (the host's env is not inherited)."""
    base = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
    base.update(env or {})
    base[RUN_ENV] = run_prefix(run_id)
    return base


def kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


class _OutputSink:
    """Keeps the first ``cap`` bytes across stdout and stderr together."""

    def __init__(self, cap: int) -> None:
        self.cap = cap
        self.kept = 0
        self.seen = 0
        self.parts: dict[str, list[bytes]] = {"stdout": [], "stderr": []}

    def add(self, stream: str, data: bytes) -> None:
        self.seen += len(data)
        room = self.cap - self.kept
        if room > 0:
            piece = data[:room]
            self.parts[stream].append(piece)
            self.kept += len(piece)

    @property
    def truncated(self) -> bool:
        return self.seen > self.kept

    def joined(self, stream: str) -> bytes:
        return b"".join(self.parts[stream])


def run(
    argv: Sequence[str],
    *,
    run_id: int,
    wall_seconds: float,
    output_bytes: int = 64 * 1024,
    kill_after_output_bytes: int | None = None,
    env: Mapping[str, str] | None = None,
    inherit_env: bool = False,
    cwd: str | None = None,
    stdin: bytes | None = None,
    open_files: int | None = None,
    file_size_bytes: int | None = None,
    pids: int | None = None,
    address_space_bytes: int | None = None,
    cgroup: Killable | None = None,
    on_kill: Callable[[], None] | None = None,
    on_stdout: Callable[[bytes], None] | None = None,
    pass_fds: Sequence[int] = (),
    run_as_sandbox_uid: bool = False,
) -> ProcResult:
    """Run ``argv`` to completion under the limits and return what happened.

    ``kill_after_output_bytes``: once the process has written this many bytes in
    total, stop it (``killed_for_output``) instead of draining it until the wall
    limit. ``cgroup``: the child joins it before exec and it is killed with the group.
    ``on_kill``: extra clean-up when we kill (e.g. a container runtime's own kill).
    ``on_stdout``: called with each stdout chunk as it arrives (streaming hook).
    ``pass_fds``: descriptors the child inherits. ``run_as_sandbox_uid``: the child
    drops root for the unprivileged sandbox uid before exec (see userns.py).
    """
    full_env = dict(os.environ) if inherit_env else {}
    full_env.update(sandbox_env(run_id, env))
    rlimits = rlimit_pairs(open_files, file_size_bytes, pids, address_space_bytes)
    procs_files = list(cgroup.procs_files) if cgroup else []
    # Without a preexec hook CPython can spawn with vfork, milliseconds cheaper than a
    # fork, so the hook is used only when there is something to set. (It also forbids
    # core dumps; for a container the OCI runtime sets that from the bundle.) The lower
    # CPU priority comes from sandbox_priority() below, or from the hook where that
    # cannot work.
    needs_hook = rlimits or procs_files or run_as_sandbox_uid or not can_spawn_at_sandbox_priority()
    preexec = (
        make_preexec(rlimits, procs_files, run_as_sandbox_uid=run_as_sandbox_uid)
        if needs_hook
        else None
    )
    sink = _OutputSink(output_bytes)
    started_at = time.monotonic()
    with sandbox_priority():
        child = subprocess.Popen(
            list(argv),
            stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full_env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
            close_fds=True,
            pass_fds=tuple(pass_fds),
        )
    state = _PumpState()

    def kill_everything() -> None:
        kill_group(child.pid)
        if cgroup is not None:
            cgroup.kill_all()
        if on_kill is not None:
            on_kill()

    try:
        _pump(
            child,
            stdin,
            sink,
            state,
            started_at,
            wall_seconds,
            kill_after_output_bytes,
            kill_everything,
            on_stdout,
        )
    finally:
        if child.poll() is None:
            kill_everything()
        child.wait()
        # Whatever is left in the session (or the cgroup) must not outlive the run.
        kill_group(child.pid)
        if cgroup is not None:
            cgroup.kill_all()
    ended_at = time.monotonic()
    first = state.first_output_at
    return ProcResult(
        argv=list(argv),
        returncode=child.returncode,
        stdout=sink.joined("stdout"),
        stderr=sink.joined("stderr"),
        truncated=sink.truncated,
        timed_out=state.timed_out,
        killed_for_output=state.killed_for_output,
        wall_seconds=ended_at - started_at,
        first_output_seconds=None if first is None else first - started_at,
        started_at=started_at,
        first_output_at=first,
        output_bytes_seen=sink.seen,
        pid=child.pid,
    )


@dataclass
class _PumpState:
    """What the pump learns while the child runs."""

    timed_out: bool = False
    killed_for_output: bool = False
    first_output_at: float | None = None  # time.monotonic() of the first stdout byte


def _pump(
    child: subprocess.Popen,
    stdin: bytes | None,
    sink: _OutputSink,
    state: _PumpState,
    started_at: float,
    wall_seconds: float,
    kill_after: int | None,
    kill_everything: Callable[[], None],
    on_stdout: Callable[[bytes], None] | None,
) -> None:
    selector = selectors.DefaultSelector()
    names = {child.stdout.fileno(): "stdout", child.stderr.fileno(): "stderr"}
    for pipe in (child.stdout, child.stderr):
        os.set_blocking(pipe.fileno(), False)
        selector.register(pipe.fileno(), selectors.EVENT_READ)
    pending_in = memoryview(stdin or b"")
    stdin_fd = child.stdin.fileno() if child.stdin is not None else -1
    if child.stdin is not None:
        os.set_blocking(child.stdin.fileno(), False)
        if pending_in:
            selector.register(child.stdin.fileno(), selectors.EVENT_WRITE)
        else:
            child.stdin.close()
    deadline = started_at + wall_seconds
    drain_deadline: float | None = None
    open_readers = 2
    try:
        while open_readers:
            now = time.monotonic()
            if drain_deadline is None and child.poll() is not None:
                drain_deadline = now + DRAIN_SECONDS
            limit = deadline if drain_deadline is None else min(deadline, drain_deadline)
            if now >= limit:
                if now >= deadline and child.poll() is None:
                    state.timed_out = True
                    kill_everything()
                    drain_deadline = now + DRAIN_SECONDS
                    deadline = drain_deadline + DRAIN_SECONDS
                    continue
                break
            for key, _ in selector.select(timeout=min(limit - now, 0.1)):
                fd = key.fd
                if fd == stdin_fd:
                    pending_in = _feed(child, selector, pending_in)
                    continue
                try:
                    data = os.read(fd, READ_CHUNK)
                except BlockingIOError:
                    continue
                if not data:
                    selector.unregister(fd)
                    open_readers -= 1
                    continue
                stream = names[fd]
                if stream == "stdout" and state.first_output_at is None:
                    state.first_output_at = time.monotonic()
                sink.add(stream, data)
                if stream == "stdout" and on_stdout is not None:
                    on_stdout(data)
                if (
                    kill_after is not None
                    and sink.seen > kill_after
                    and not state.killed_for_output
                ):
                    state.killed_for_output = True
                    kill_everything()
    finally:
        selector.close()
        for pipe in (child.stdin, child.stdout, child.stderr):
            if pipe is not None and not pipe.closed:
                pipe.close()


def _feed(
    child: subprocess.Popen, selector: selectors.BaseSelector, pending: memoryview
) -> memoryview:
    fd = child.stdin.fileno()
    try:
        written = os.write(fd, pending)
        pending = pending[written:]
    except BlockingIOError:
        return pending
    except OSError as error:
        if error.errno != errno.EPIPE:
            raise
        pending = pending[:0]
    if not pending:
        selector.unregister(fd)
        child.stdin.close()
    return pending
