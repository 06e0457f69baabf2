"""The container root filesystem (busybox) and the OCI bundle of each run.

The root filesystem is built, not downloaded: the host's static busybox from the
``busybox-static`` package plus one symlink per applet, a few directories and the
files tools expect in /etc. It is shared read-only by every container; each run only
writes a ``config.json`` into its own scratch directory.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import shutil
import stat
import subprocess
import time
from pathlib import Path

from . import seccomp, userns
from .capability import Capability
from .limits import Limits
from .paths import assets_dir

HOST_BUSYBOX = Path("/bin/busybox")
LAYOUT_VERSION = "3"  # bump when the layout below changes, to force a rebuild
STAMP = ".virtlab-rootfs"
SHM_BYTES = 1 << 20  # a container's /dev/shm, under runc and bubblewrap alike
# No container outlives this (wall limits are minutes), so a retired tree is unused.
RETIRED_TREE_KEEP_SECONDS = 3600
NETNS_DIR = Path("/run/netns")  # where `ip netns add` pins named network namespaces
INSTALL_BUSYBOX = "apt-get install -y busybox-static"
# Debian's merged /usr: the loader and libraries resolve through /usr, so binding the
# host's /usr read-only is enough to run a dynamically linked host tool inside.
DIRS = ("bin", "dev", "etc", "proc", "root", "sys", "tmp", "usr", "var", "run")
SYMLINKS = {"sbin": "bin", "lib": "usr/lib", "lib64": "usr/lib64"}
ETC_FILES = {
    "hostname": "virtlab\n",
    "hosts": "127.0.0.1 localhost\n",
    "passwd": "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n",
    "group": "root:x:0:\nnogroup:x:65534:\n",
    "resolv.conf": "",
}


def rootfs_dir() -> Path:
    return assets_dir() / "rootfs"


def _source_stamp() -> str:
    stat = HOST_BUSYBOX.stat()
    return f"layout={LAYOUT_VERSION} busybox-size={stat.st_size} busybox-mtime={stat.st_mtime_ns}\n"


def is_up_to_date() -> bool:
    try:
        return (rootfs_dir() / STAMP).read_text() == _source_stamp()
    except OSError:
        return False


def build(force: bool = False) -> str:
    """Build the rootfs if missing or stale; returns a one-line report.

    Several lab workers may notice a stale rootfs at once (busybox was upgraded): a
    lock lets one build it and the others use the result.
    """
    if not HOST_BUSYBOX.exists():
        return f"rootfs: cannot build, {HOST_BUSYBOX} is missing ({INSTALL_BUSYBOX})"
    target = rootfs_dir()
    if not force and is_up_to_date():
        return f"rootfs: up to date at {target} ({rootfs_size_bytes()} bytes)"
    target.parent.mkdir(parents=True, exist_ok=True)
    with open(target.with_name("rootfs.lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not force and is_up_to_date():  # another worker built it while we waited
            return f"rootfs: up to date at {target} ({rootfs_size_bytes()} bytes)"
        _remove_retired_trees(target)
        staging = target.with_name(f"rootfs.building-{os.getpid()}")
        if staging.exists():
            shutil.rmtree(staging)
        _populate(staging)
        # Swap in atomically so a container starting now never sees a half-built tree.
        # Containers already running still have the old tree mounted as their root:
        # it is kept (retired) and removed by a later build, when they are long gone.
        if target.exists():
            os.rename(target, target.with_name(f"rootfs.retired-{time.time_ns()}"))
        os.rename(staging, target)
    return (
        f"rootfs: built at {target} ({len(applets(target))} applets, {rootfs_size_bytes()} bytes)"
    )


def _remove_retired_trees(target: Path) -> None:
    cutoff = time.time_ns() - RETIRED_TREE_KEEP_SECONDS * 1_000_000_000
    for tree in target.parent.glob("rootfs.retired-*"):
        stamp = tree.name.removeprefix("rootfs.retired-")
        if stamp.isdigit() and int(stamp) < cutoff:
            shutil.rmtree(tree)


def _populate(root: Path) -> None:
    root.mkdir(mode=0o755)
    for name in DIRS:
        (root / name).mkdir(mode=0o755)
    os.chmod(root / "tmp", 0o1777)  # noqa: S103 - a container's /tmp is world-writable by design
    os.chmod(root / "root", 0o700)
    for link, points_to in SYMLINKS.items():
        os.symlink(points_to, root / link)
    busybox = root / "bin" / "busybox"
    shutil.copy2(HOST_BUSYBOX, busybox)
    os.chmod(busybox, 0o755)  # noqa: S103 - an executable everyone in the container runs
    listing = subprocess.run(
        [str(HOST_BUSYBOX), "--list"], capture_output=True, text=True, check=True
    )
    for applet in listing.stdout.split():
        if applet != "busybox" and "/" not in applet:
            os.symlink("busybox", root / "bin" / applet)
    for name, text in ETC_FILES.items():
        (root / "etc" / name).write_text(text)
    (root / STAMP).write_text(_source_stamp())


def applets(root: Path | None = None) -> list[str]:
    return sorted(
        entry.name for entry in os.scandir((root or rootfs_dir()) / "bin") if entry.is_symlink()
    )


def rootfs_size_bytes() -> int:
    """On-disk size of the rootfs (allocated blocks, symlinks counted once, no following)."""
    total = 0
    seen: set[tuple[int, int]] = set()
    for directory, subdirs, files in os.walk(rootfs_dir()):
        for name in subdirs + files:
            stat = os.lstat(os.path.join(directory, name))
            if (stat.st_dev, stat.st_ino) not in seen:
                seen.add((stat.st_dev, stat.st_ino))
                total += stat.st_blocks * 512
    return total


def capabilities() -> list[Capability]:
    if not HOST_BUSYBOX.exists():
        return [Capability("container-rootfs", False, f"{HOST_BUSYBOX} not found", INSTALL_BUSYBOX)]
    if not is_up_to_date():
        return [
            Capability(
                "container-rootfs",
                False,
                f"busybox root filesystem not built (or stale) at {rootfs_dir()}",
                "python manage.py build_guest_assets",
            )
        ]
    return [
        Capability(
            "container-rootfs",
            True,
            f"busybox rootfs at {rootfs_dir()}, {rootfs_size_bytes()} bytes",
        )
    ]


# --- OCI bundle -------------------------------------------------------------------

MASKED_PATHS = [
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
]
READONLY_PATHS = ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]


def oci_config(
    *,
    argv: list[str],
    limits: Limits,
    rootfs: Path,
    tmp_dir: Path,
    hostname: str,
    cgroups_path: str,
    env: dict[str, str],
    ro_binds: dict[str, str] | None = None,
    capabilities: list[str] | None = None,
    user_namespace: bool = True,
    network_namespace: str | None = None,
    terminal: bool = False,
) -> dict:
    """An OCI runtime config: every namespace fresh, read-only root, limits on all,
    the seccomp filter, and (``user_namespace``) container root mapped to an
    unprivileged host uid. ``terminal``: the runtime gives the process a
    pseudo-terminal of the container's own (terminals.py).

    ``network_namespace``: the name of a namespace the run made (``ip netns add``,
    netns.NetLab) for the container to join instead of a fresh, empty one; the lab
    has cabled it already (the orchestration lab's pods).

    ``tmp_dir`` is a size-limited tmpfs the driver mounted on the host; it is bound at
    /tmp so the host can see (and safely clean) what the container wrote.
    """
    namespaces = ["pid", "network", "ipc", "uts", "mount", "cgroup"]
    if user_namespace:
        namespaces.append("user")
    joined = {"network": netns_path(network_namespace)} if network_namespace else {}
    caps = list(capabilities or [])
    mib = 1024 * 1024
    mounts = [
        {
            "destination": "/proc",
            "type": "proc",
            "source": "proc",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/dev",
            "type": "tmpfs",
            "source": "tmpfs",
            "options": ["nosuid", "strictatime", "mode=755", "size=256k"],
        },
        {
            "destination": "/dev/pts",
            "type": "devpts",
            "source": "devpts",
            "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        },
        {
            "destination": "/dev/shm",
            "type": "tmpfs",
            "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", f"size={SHM_BYTES // 1024}k"],
        },
        {
            "destination": "/dev/mqueue",
            "type": "mqueue",
            "source": "mqueue",
            "options": ["nosuid", "noexec", "nodev"],
        },
        {
            "destination": "/sys",
            "type": "sysfs",
            "source": "sysfs",
            "options": ["nosuid", "noexec", "nodev", "ro"],
        },
        {
            "destination": "/tmp",
            "type": "bind",
            "source": str(tmp_dir),
            "options": ["rbind", "nosuid", "nodev", "rw"],
        },
    ]
    if network_namespace and user_namespace:
        # The kernel lets a user namespace mount sysfs only over a network namespace it
        # owns; a joined one belongs to the host's, so such a container has no /sys.
        mounts = [m for m in mounts if m["type"] != "sysfs"]
    for host_path, container_path in (ro_binds or {}).items():
        mounts.append(
            {
                "destination": container_path,
                "type": "bind",
                "source": host_path,
                "options": ["rbind", "ro", "nosuid", "nodev"],
            }
        )
    config = {
        "ociVersion": "1.0.2-dev",
        "process": {
            "terminal": terminal,
            "user": {"uid": 0, "gid": 0},
            "args": list(argv),
            "env": [f"{key}={value}" for key, value in env.items()],
            "cwd": "/",
            "capabilities": {
                name: caps
                for name in ("bounding", "effective", "inheritable", "permitted", "ambient")
            },
            "rlimits": [
                {"type": "RLIMIT_NOFILE", "hard": limits.open_files, "soft": limits.open_files},
                {
                    "type": "RLIMIT_FSIZE",
                    "hard": limits.file_size_mib * mib,
                    "soft": limits.file_size_mib * mib,
                },
                {"type": "RLIMIT_CORE", "hard": 0, "soft": 0},
            ],
            "noNewPrivileges": True,
            # The host's OOM killer should pick a container before anything else.
            "oomScoreAdj": 1000,
        },
        "root": {"path": str(rootfs), "readonly": True},
        "hostname": hostname,
        "mounts": mounts,
        "linux": {
            "namespaces": [
                {"type": kind, "path": joined[kind]} if kind in joined else {"type": kind}
                for kind in namespaces
            ],
            "cgroupsPath": cgroups_path,
            "resources": {
                "devices": [{"allow": False, "access": "rwm"}],
                "memory": {"limit": limits.memory_mib * mib},
                "pids": {"limit": limits.pids},
                "cpu": {"quota": 1000 * limits.cpu_percent, "period": 100_000},
            },
            "maskedPaths": MASKED_PATHS,
            "readonlyPaths": READONLY_PATHS,
            "seccomp": seccomp.oci_profile(),
        },
    }
    if user_namespace:
        config["linux"].update(userns.oci_mappings())
    return config


def netns_path(name: str) -> str:
    """The file ``ip netns add`` made for ``name``: only a run's own (``vl<id>-…``), and
    never a symlink (docs/architecture.md, sandbox rules 2 and 3)."""
    if not re.fullmatch(r"vl\d+-[A-Za-z0-9_.-]+", name):
        raise ValueError(f"not a run's network namespace: {name!r}")
    path = NETNS_DIR / name
    if not stat.S_ISREG(os.lstat(path).st_mode):
        raise ValueError(f"{path} is not a network namespace file")
    return str(path)


def write_bundle(bundle_dir: Path, config: dict) -> Path:
    """Write ``config.json`` into the run's scratch directory (never through a symlink)."""
    path = bundle_dir / "config.json"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(config, handle)
    return path
