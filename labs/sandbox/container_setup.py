"""Setting up and tearing down one container: scratch dir, cgroup, command line.

Split from containers.py, which holds the public API. The scratch directory
``runs/vl<id>-<name>/`` holds the OCI bundle and a host-mounted, size-limited tmpfs
that becomes the container's /tmp, so the host can see what the container wrote and
remove it without following symlinks.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from . import cgroups, container_assets, proc, seccomp, userns
from .limits import Limits
from .naming import name_for, run_id_of, run_prefix
from .paths import scratch_root
from .reaper import remove_scratch_dir

OCI_LEAF = "ctr"  # the runtime's own cgroup, nested below ours
MS_NOSUID, MS_NODEV = 2, 4
_libc = ctypes.CDLL(None, use_errno=True)


# --- scratch directory ---------------------------------------------------------------


def make_scratch(run_id: int, name: str, tmpfs_mib: int) -> Path:
    root = scratch_root()
    root.mkdir(parents=True, exist_ok=True)
    scratch = root / name_for(run_id, name)
    if os.path.lexists(scratch):
        remove_scratch_dir(scratch)  # a leftover of a crashed attempt with the same name
    # Searchable but not listable by others: an unprivileged bubblewrap (and runc's
    # init inside its user namespace) must reach tmp/ below it to bind it.
    scratch.mkdir(mode=0o711)
    os.chmod(scratch, 0o711)  # noqa: S103 - search only, whatever the umask
    tmp = scratch / "tmp"
    tmp.mkdir(mode=0o1777)
    options = f"size={tmpfs_mib}m,mode=1777".encode()
    if _libc.mount(b"tmpfs", os.fsencode(str(tmp)), b"tmpfs", MS_NOSUID | MS_NODEV, options) != 0:
        error = ctypes.get_errno()
        remove_scratch_dir(scratch)
        raise OSError(error, f"mount tmpfs on {tmp}: {os.strerror(error)}")
    return scratch


def tmpfs_full(scratch: Path) -> bool:
    try:
        stats = os.statvfs(scratch / "tmp")
    except OSError:
        return False
    return stats.f_bavail * stats.f_frsize < 64 * 1024


# --- running --------------------------------------------------------------------------


def container_env(run_id: int) -> dict[str, str]:
    return {
        "PATH": "/bin:/usr/bin",
        "HOME": "/root",
        "TERM": "dumb",
        proc.RUN_ENV: run_prefix(run_id),
    }


def oci_argv(runtime: str, scratch: Path, cid: str, *, detach: bool = False) -> list[str]:
    # --keep: the runtime would otherwise remove its leaf cgroup at exit, and on v1
    # the OOM-kill and fork-failure counters live only there (they do not propagate).
    mode = ["--detach"] if detach else ["--keep"]
    return [runtime, "run", *mode, "--bundle", str(scratch), cid]


def bwrap_argv(
    argv: list[str],
    scratch: Path,
    hostname: str,
    env: dict[str, str],
    ro_binds: dict[str, str],
    *,
    seccomp_fd: int | None = None,
    unprivileged: bool = False,
) -> list[str]:
    """bubblewrap's command line. ``unprivileged``: bwrap runs as the sandbox uid and
    makes a user namespace where that uid is root; ``seccomp_fd``: an open file with
    the compiled filter (see seccomp.py)."""
    command = [
        "bwrap",
        "--unshare-all",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
    ]
    if unprivileged:
        command += ["--unshare-user", "--uid", "0", "--gid", "0"]
    command += [
        "--ro-bind",
        str(container_assets.rootfs_dir()),
        "/",
        "--proc",
        "/proc",
    ]
    # The same /proc entries the OCI bundle makes read-only, laid over the container's
    # own /proc from the host's (their contents are global or per-namespace anyway).
    # bubblewrap covers some of them itself but skips /proc/sys, because the kernel
    # reports that directory as unwritable while the files in it are not.
    for path in container_assets.READONLY_PATHS:
        command += ["--ro-bind-try", path, path]
    command += [
        "--dev",
        "/dev",
        # Shared memory is a tmpfs of its own, as small as the OCI bundle's.
        "--size",
        str(container_assets.SHM_BYTES),
        "--tmpfs",
        "/dev/shm",
    ]
    command += [
        "--bind",
        str(scratch / "tmp"),
        "/tmp",
        "--hostname",
        hostname,
        "--cap-drop",
        "ALL",
        "--clearenv",
    ]
    if seccomp_fd is not None:
        command += ["--seccomp", str(seccomp_fd)]
    for host_path, container_path in ro_binds.items():
        command += ["--ro-bind", host_path, container_path]
    for key, value in env.items():
        command += ["--setenv", key, value]
    return [*command, "--chdir", "/", "--", *argv]


def seccomp_memfd() -> int:
    """An inheritable file holding the BPF filter, positioned at its start."""
    fd = os.memfd_create("virtlab-seccomp", 0)
    os.write(fd, seccomp.bpf_program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


@dataclass
class PreparedContainer:
    """Everything made for one container before it starts, and how to start it."""

    cid: str
    scratch: Path
    group: cgroups.Cgroup
    command: list[str]
    # bubblewrap only: the filter's file (passed to the child) and whether bwrap
    # drops to the sandbox uid before it starts.
    seccomp_fd: int | None = None
    unprivileged: bool = False

    @property
    def pass_fds(self) -> tuple[int, ...]:
        return () if self.seccomp_fd is None else (self.seccomp_fd,)

    def close_fds(self) -> None:
        if self.seccomp_fd is not None:
            os.close(self.seccomp_fd)
            self.seccomp_fd = None


def prepare(
    run_id: int,
    argv: list[str],
    limits: Limits,
    runtime: str,
    name: str,
    hostname: str | None,
    ro_binds: dict[str, str] | None,
    network_namespace: str | None = None,
    terminal: bool = False,
) -> PreparedContainer:
    """Scratch dir, limited cgroup and the host command line for one container.

    ``network_namespace``: a namespace of the run to join; ``terminal``: give the
    process a pseudo-terminal (both OCI runtimes only)."""
    if network_namespace and runtime == "bwrap":
        raise ValueError("joining a run's network namespace needs an OCI runtime (runc)")
    if terminal and runtime == "bwrap":
        raise ValueError("an interactive terminal needs an OCI runtime (runc)")
    if network_namespace and run_id_of(network_namespace) != run_id:
        raise ValueError(f"{network_namespace!r} is not a network namespace of run {run_id}")
    if not container_assets.is_up_to_date():
        container_assets.build()
    cid = name_for(run_id, name)
    group = cgroups.create(
        cid, memory_bytes=limits.memory_mib << 20, pids=limits.pids, cpu_percent=limits.cpu_percent
    )
    scratch: Path | None = None
    try:
        scratch = make_scratch(run_id, name, limits.tmpfs_mib)
        env = container_env(run_id)
        if runtime == "bwrap":
            unprivileged = userns.unprivileged_bwrap_works()[0]
            fd = seccomp_memfd()
            command = bwrap_argv(
                argv,
                scratch,
                hostname or cid,
                env,
                ro_binds or {},
                seccomp_fd=fd,
                unprivileged=unprivileged,
            )
            return PreparedContainer(cid, scratch, group, command, fd, unprivileged)
        config = container_assets.oci_config(
            argv=argv,
            limits=limits,
            rootfs=container_assets.rootfs_dir(),
            tmp_dir=scratch / "tmp",
            hostname=hostname or cid,
            cgroups_path=f"/{cgroups.PARENT}/{cid}/{OCI_LEAF}",
            env=env,
            ro_binds=ro_binds,
            user_namespace=userns.available(),
            network_namespace=network_namespace,
            terminal=terminal,
        )
        # The limits live on our group; the runtime's leaf only joins it.
        config["linux"]["resources"] = {"devices": config["linux"]["resources"]["devices"]}
        container_assets.write_bundle(scratch, config)
        return PreparedContainer(cid, scratch, group, oci_argv(runtime, scratch, cid))
    except BaseException:
        # Nothing has started yet, but the mounted tmpfs and the group must not stay.
        try:
            if scratch is not None:
                remove_scratch_dir(scratch)
        finally:
            group.remove()
        raise


def _init_gone(state_dir: Path) -> bool:
    """True when the container's init recorded in the runtime's state is no longer alive."""
    try:
        state = json.loads((state_dir / "state.json").read_text())
        pid, started = int(state["init_process_pid"]), int(state["init_process_start"])
    except (OSError, ValueError, KeyError, TypeError):
        return False
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return True
    return int(fields[19]) != started  # the pid was reused by another process


def cleanup(
    runtime: str, cid: str, scratch: Path, group: cgroups.Cgroup, *, runtime_exited: bool = False
) -> None:
    # Each step runs even when an earlier one failed (a hung `runc delete`, a busy
    # cgroup): one failure must not leave the mounted tmpfs or the group behind.
    try:
        group.kill_all()
        state_dir = Path(f"/run/{runtime}") / cid
        if runtime == "runc" and runtime_exited and _init_gone(state_dir):
            # `runc run --keep` returned, so its container is stopped; for a stopped
            # container without hooks `runc delete` only removes this state directory
            # and the cgroups (done below). Doing it here saves a runc start (~8 ms),
            # a third of a container's life. Any other case goes through the runtime.
            shutil.rmtree(state_dir)
        elif runtime != "bwrap" and os.path.lexists(state_dir):
            subprocess.run([runtime, "delete", "--force", cid], capture_output=True, timeout=30)
    finally:
        try:
            group.remove()
        finally:
            remove_scratch_dir(scratch)
