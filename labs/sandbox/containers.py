"""The container driver: runc (or crun) with an OCI bundle, bubblewrap as a fallback.

Every container gets fresh pid, net (empty: no route anywhere, unless a long-lived
one joins a network namespace its run made and cabled), ipc, uts and mount
namespaces, the shared busybox root read-only, a size-limited tmpfs at /tmp, no
capabilities, no_new_privileges, rlimits, and a run-named cgroup
(``virtlab/vl<id>-c0``) that we create with the memory/pids/CPU limits; the OCI
runtime nests its own leaf (``…/ctr``) below it. Peak memory and CPU time are read
from our group, OOM kills and fork failures from the leaf too (cgroup v1 does not
propagate those events upwards). Setup and teardown live in container_setup.py.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import threading
import time
from dataclasses import asdict, dataclass, field
from functools import cache
from pathlib import Path

from . import cgroups, container_assets, ownership, proc
from . import container_setup as setup
from .capability import Capability
from .limits import Limits
from .naming import adhoc_run_id

RUNTIMES = ("crun", "runc", "bwrap")
INSTALL = {
    "runc": "apt-get install -y runc",
    "crun": "apt-get install -y crun",
    "bwrap": "apt-get install -y bubblewrap",
}
# Messages the kernel puts in a tool's stderr when an rlimit or the tmpfs stopped it.
NOTED_LIMITS = {
    b"Too many open files": "open_files",
    b"File too large": "file_size",
    b"No space left on device": "tmpfs",
}


class RuntimeUnavailable(RuntimeError):
    pass


@dataclass
class ContainerResult:
    run_id: int
    name: str
    runtime: str
    runtime_version: str
    argv: list[str]
    exit_code: int | None  # the container's status; 128+N when killed by signal N
    stdout: bytes
    stderr: bytes
    truncated: bool
    timed_out: bool
    oom_killed: bool
    stopped_by: str | None  # "wall", "output", "memory", "pids", "file_size", "tmpfs", "open_files"
    limits_hit: list[str]  # every limit the container ran into, even if it carried on
    start_latency_seconds: float | None  # request → first byte on stdout
    wall_seconds: float  # request → everything cleaned up
    peak_memory_bytes: int | None
    cpu_seconds: float | None
    output_bytes_seen: int = 0
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        data = asdict(self)
        data["stdout"] = self.stdout.decode(errors="replace")
        data["stderr"] = self.stderr.decode(errors="replace")
        return data


# --- runtime choice -----------------------------------------------------------------


@cache
def runtime_version(runtime: str) -> str:
    try:
        done = subprocess.run([runtime, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return done.stdout.splitlines()[0].strip() if done.stdout else ""


@cache
def probe_runtime(runtime: str) -> tuple[bool, str]:
    """Whether ``runtime`` really runs a trivial container here (not merely installed)."""
    if not runtime_version(runtime):
        return False, f"{runtime} not installed"
    if not container_assets.is_up_to_date():
        container_assets.build()
    probe_id = adhoc_run_id()
    try:
        result = run_container(
            probe_id, ["echo", "probe-ok"], Limits(wall_seconds=10), runtime=runtime, name="probe"
        )
    except Exception as error:
        return False, f"{runtime} failed: {error}"
    finally:
        ownership.release(probe_id)  # run_container cleaned up after itself
    if result.exit_code == 0 and b"probe-ok" in result.stdout:
        return True, f"{runtime_version(runtime)} runs containers"
    return False, f"{runtime} failed: {result.stderr.decode(errors='replace').strip()[:300]}"


def choose_runtime() -> str:
    # crun only where cgroups are unified (it refuses hybrid); then runc; then bwrap.
    candidates = ("crun", "runc", "bwrap") if cgroups.mode() == "v2" else ("runc", "bwrap")
    for runtime in candidates:
        if probe_runtime(runtime)[0]:
            return runtime
    raise RuntimeUnavailable("no container runtime works on this host (" + INSTALL["runc"] + ")")


def run_container(
    run_id: int,
    argv: list[str],
    limits: Limits,
    *,
    runtime: str = "auto",
    name: str = "c0",
    hostname: str | None = None,
    stdin: bytes | None = None,
    ro_binds: dict[str, str] | None = None,
) -> ContainerResult:
    """Run ``argv`` in a fresh container until it exits or a limit stops it; always cleans up.

    ``ro_binds`` maps host paths to container paths bound read-only (e.g. ``{"/usr":
    "/usr"}`` to run a host tool); the mount points must exist in the rootfs.
    """
    requested_at = time.monotonic()
    chosen = choose_runtime() if runtime == "auto" else runtime
    prepared = setup.prepare(run_id, list(argv), limits, chosen, name, hostname, ro_binds)
    cid, scratch, group = prepared.cid, prepared.scratch, prepared.group
    outcome: proc.ProcResult | None = None
    try:
        outcome = proc.run(
            prepared.command,
            run_id=run_id,
            wall_seconds=limits.wall_seconds,
            output_bytes=limits.output_bytes,
            kill_after_output_bytes=2 * limits.output_bytes + 64 * 1024,
            stdin=stdin,
            # bwrap runs inside our group from the start; an OCI runtime puts the
            # container there itself.
            cgroup=group if chosen == "bwrap" else None,
            on_kill=group.kill_all,
            open_files=limits.open_files if chosen == "bwrap" else None,
            file_size_bytes=(limits.file_size_mib << 20) if chosen == "bwrap" else None,
            pass_fds=prepared.pass_fds,
            run_as_sandbox_uid=prepared.unprivileged,
        )
        leaf = group.child(setup.OCI_LEAF)
        measured = {
            "peak": group.memory_peak(),
            "cpu": group.cpu_seconds(),
            "oom": group.oom_kills() + leaf.oom_kills(),
            "pids_hits": group.pids_limit_hits() + leaf.pids_limit_hits(),
            "throttled": group.cpu_throttled(),
            "tmpfs_full": setup.tmpfs_full(scratch),
        }
    finally:
        prepared.close_fds()
        exited = outcome is not None and outcome.returncode is not None and outcome.returncode >= 0
        exited = exited and not (outcome.timed_out or outcome.killed_for_output)
        setup.cleanup(chosen, cid, scratch, group, runtime_exited=exited)
    return _result(run_id, name, chosen, list(argv), outcome, measured, requested_at)


def _exit_code(returncode: int | None) -> int | None:
    if returncode is None:
        return None
    return 128 - returncode if returncode < 0 else returncode


def _result(
    run_id: int,
    name: str,
    runtime: str,
    argv: list[str],
    outcome: proc.ProcResult,
    measured: dict,
    requested_at: float,
) -> ContainerResult:
    exit_code = _exit_code(outcome.returncode)
    hits: list[str] = []
    if outcome.timed_out:
        hits.append("wall")
    if outcome.truncated:
        hits.append("output")
    if measured["oom"]:
        hits.append("memory")
    if measured["pids_hits"]:
        hits.append("pids")
    if exit_code == 128 + signal.SIGXFSZ:
        hits.append("file_size")
    if measured["tmpfs_full"]:
        hits.append("tmpfs")
    output = outcome.stdout + outcome.stderr
    hits += [limit for text, limit in NOTED_LIMITS.items() if text in output and limit not in hits]
    if measured["throttled"]:
        hits.append("cpu")
    stopped_by = None
    if outcome.timed_out:
        stopped_by = "wall"
    elif outcome.killed_for_output:
        stopped_by = "output"
    elif measured["oom"]:
        stopped_by = "memory"
    elif exit_code:
        stopped_by = next(
            (limit for limit in ("pids", "file_size", "tmpfs", "open_files") if limit in hits), None
        )
    first = outcome.first_output_at
    return ContainerResult(
        run_id=run_id,
        name=name,
        runtime=runtime,
        runtime_version=runtime_version(runtime),
        argv=argv,
        exit_code=exit_code,
        stdout=outcome.stdout,
        stderr=outcome.stderr,
        truncated=outcome.truncated,
        timed_out=outcome.timed_out,
        oom_killed=bool(measured["oom"]),
        stopped_by=stopped_by,
        limits_hit=hits,
        start_latency_seconds=None if first is None else first - requested_at,
        wall_seconds=time.monotonic() - requested_at,
        peak_memory_bytes=measured["peak"],
        cpu_seconds=measured["cpu"],
        output_bytes_seen=outcome.output_bytes_seen,
    )


# --- long-lived containers ----------------------------------------------------------


class ContainerHandle:
    """A container left running (e.g. ``sleep``) to be measured, then stopped.

    The wall limit still applies: a timer stops it when ``limits.wall_seconds`` pass.
    """

    def __init__(
        self,
        run_id: int,
        name: str,
        runtime: str,
        cid: str,
        scratch: Path,
        group: cgroups.Cgroup,
        limits: Limits,
    ) -> None:
        self.run_id, self.name, self.runtime, self.cid = run_id, name, runtime, cid
        self.scratch, self.group = scratch, group
        self.start_seconds: float | None = None
        self.process: subprocess.Popen | None = None  # bwrap only: the sandbox's parent
        # bwrap only: the read end of its status pipe, held open while it runs, since
        # bwrap writes to it again later and would die of SIGPIPE were it closed.
        self.status_fd: int | None = None
        self._lock = threading.Lock()
        self._stopped = False
        self._timer = threading.Timer(limits.wall_seconds, self.stop)
        self._timer.daemon = True

    def memory_bytes(self) -> int | None:
        return self.group.memory_current()

    def peak_memory_bytes(self) -> int | None:
        return self.group.memory_peak()

    def alive(self) -> bool:
        return not self._stopped and bool(self.group.pids())

    def stop(self) -> None:
        # The wall-limit timer and the caller may both stop the container: the second
        # waits until the first has finished cleaning up, and a clean-up that failed
        # is tried again by the next call rather than skipped.
        with self._lock:
            if self._stopped:
                return
            self._timer.cancel()
            self.group.kill_all()
            if self.process is not None:
                proc.kill_group(self.process.pid)
                self.process.wait()
                # Reaped: its pid may now be anyone's, so a retried stop must not use it.
                self.process = None
            if self.status_fd is not None:
                os.close(self.status_fd)
                self.status_fd = None
            setup.cleanup(self.runtime, self.cid, self.scratch, self.group)
            self._stopped = True

    def __enter__(self) -> ContainerHandle:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def start_container(
    run_id: int,
    argv: list[str],
    limits: Limits,
    *,
    runtime: str = "auto",
    name: str = "c0",
    hostname: str | None = None,
    network_namespace: str | None = None,
) -> ContainerHandle:
    """Start a container in the background; returns once it is running.

    ``network_namespace``: a namespace the run made and cabled (``vl<id>-…``) for the
    container to join instead of an empty one of its own (OCI runtimes only)."""
    requested_at = time.monotonic()
    chosen = choose_runtime() if runtime == "auto" else runtime
    prepared = setup.prepare(
        run_id, list(argv), limits, chosen, name, hostname, None, network_namespace
    )
    handle = ContainerHandle(
        run_id, name, chosen, prepared.cid, prepared.scratch, prepared.group, limits
    )
    try:
        env = proc.sandbox_env(run_id)
        if chosen == "bwrap":
            handle.process, handle.status_fd = _start_bwrap(prepared, env, limits)
        else:
            cid, scratch = prepared.cid, prepared.scratch
            command = setup.oci_argv(chosen, scratch, cid, detach=True)
            # A detached container inherits the runtime's stdio: pipes here would stay
            # open for the container's whole life, so nothing is captured. It inherits
            # the runtime's nice too (proc.sandbox_priority), or the hook gives it.
            hook = proc.priority_hook()
            with proc.sandbox_priority():
                done = subprocess.run(
                    command,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.DEVNULL,
                    env=env,
                    timeout=limits.wall_seconds,
                    preexec_fn=hook,
                )
            if done.returncode != 0:
                raise RuntimeError(
                    f"{chosen} could not start {cid} (exit status {done.returncode})"
                )
    except BaseException:
        handle.stop()
        raise
    finally:
        prepared.close_fds()
    handle.start_seconds = time.monotonic() - requested_at
    handle._timer.start()
    return handle


def _start_bwrap(
    prepared: setup.PreparedContainer, env: dict[str, str], limits: Limits
) -> tuple[subprocess.Popen, int]:
    """Start bwrap in the background with the same rlimits and uid as ``run_container``
    gives it; return once bwrap reports the sandboxed child, or raise if it never does.
    Returns the process and the read end of its status pipe, for the caller to close
    once bwrap is gone."""
    rlimits = proc.rlimit_pairs(limits.open_files, limits.file_size_mib << 20, None, None)
    status_read, status_write = os.pipe()
    # bwrap writes {"child-pid": N} here once the child exists, and closes it at exit.
    command = prepared.command
    command = [command[0], "--json-status-fd", str(status_write), *command[1:]]
    try:
        try:
            process = subprocess.Popen(
                command,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=env,
                start_new_session=True,
                preexec_fn=proc.make_preexec(
                    rlimits,
                    prepared.group.procs_files,
                    run_as_sandbox_uid=prepared.unprivileged,
                ),
                pass_fds=(status_write, *prepared.pass_fds),
            )
        finally:
            os.close(status_write)
        # One read of whatever bwrap wrote first (no readline: the document need not
        # end in a newline, and bwrap keeps the pipe open while the container runs).
        # poll, not select: a busy worker's descriptors may be numbered past 1024.
        waiter = select.poll()
        waiter.register(status_read, select.POLLIN)
        ready = waiter.poll(limits.wall_seconds * 1000)
        first = os.read(status_read, 4096) if ready else b""
    except BaseException:
        os.close(status_read)
        raise
    if b"child-pid" not in first:
        os.close(status_read)
        proc.kill_group(process.pid)
        returncode = process.wait()
        raise RuntimeError(f"bwrap did not start the container (exit status {returncode})")
    return process, status_read


# --- doctor -------------------------------------------------------------------------


def capabilities() -> list[Capability]:
    found: list[Capability] = []
    for runtime in ("runc", "crun", "bwrap"):
        if not runtime_version(runtime):
            if runtime != "crun":  # crun is optional: only useful with unified cgroups
                found.append(
                    Capability(runtime, False, f"{runtime} is not installed", INSTALL[runtime])
                )
            continue
        if runtime == "crun" and cgroups.mode() != "v2":
            continue  # installed but unusable here: crun refuses v1/hybrid cgroups
        ok, detail = probe_runtime(runtime)
        found.append(Capability(runtime, ok, detail, "" if ok else INSTALL[runtime]))
    usable = [cap.name for cap in found if cap.ok]
    found.insert(
        0,
        Capability(
            "container-runtime",
            bool(usable),
            f"containers run with {usable[0]}" if usable else "no container runtime works here",
            "" if usable else INSTALL["runc"],
        ),
    )
    return found
