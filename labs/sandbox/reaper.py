"""Find and remove everything a run left behind, by name and ownership.

Every resource a run makes is named ``vl<run id>-…`` (naming.py), so after a crash
— of the sandbox, the worker or the whole host — the reaper can find leftovers
without any record of them. It removes only ids this virtlab instance has claimed
(ownership.py): another virtlab on the host may use ids that look like ours. It
never touches a name without that prefix, never follows symlinks, and is cheap when
there is nothing to do: it reads /proc and a few directories and only starts a tool
(runc, ip, nft) when it found something for it. ``inventory`` lists whatever is
there, claimed or not (for leak checks).
"""

from __future__ import annotations

import ctypes
import os
import re
import shutil
import signal
import subprocess
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from . import cgroups, ownership
from .naming import run_id_of
from .paths import scratch_root

RUN_ENV_PREFIX = b"VIRTLAB_RUN="
# A run name inside a command line: at the start of an argument or after = , / : space.
CMDLINE_NAME_RE = re.compile(rb"(?:^|[=,/: ])vl(\d+)-[A-Za-z0-9_.]")
SANDBOX_TOOLS = {b"runc", b"crun", b"bwrap"}
RUNTIME_STATE_ROOTS = {"runc": Path("/run/runc"), "crun": Path("/run/crun")}
NETNS_DIR = Path("/run/netns")
SYS_NET = Path("/sys/class/net")
MNT_DETACH = 2
TOOL_TIMEOUT = 10

if not shutil.rmtree.avoids_symlink_attacks:  # pragma: no cover - every Linux CPython has it
    raise ImportError("shutil.rmtree on this platform may follow symlinks; refusing to run")

_libc = ctypes.CDLL(None, use_errno=True)


@dataclass
class ReapReport:
    processes: list[str] = field(default_factory=list)
    containers: list[str] = field(default_factory=list)
    cgroups: list[str] = field(default_factory=list)
    netns: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)
    nft_tables: list[str] = field(default_factory=list)
    mounts: list[str] = field(default_factory=list)
    scratch_dirs: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def removed(self) -> int:
        return sum(len(items) for key, items in asdict(self).items() if key != "errors")

    @property
    def empty(self) -> bool:
        return self.removed == 0 and not self.errors

    def as_dict(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        parts = [
            f"{len(items)} {key}"
            for key, items in asdict(self).items()
            if items and key != "errors"
        ]
        text = ", ".join(parts) or "nothing to remove"
        return text + (f"; errors: {'; '.join(self.errors)}" if self.errors else "")


class _Selector:
    def __init__(
        self, keep: Iterable[int], only: Iterable[int] | None, *, owned_only: bool = False
    ) -> None:
        self.keep = set(keep)
        self.only = None if only is None else set(only)
        self.owned_only = owned_only
        self._owned: dict[int, bool] = {}

    def wants_id(self, run_id: int | None) -> bool:
        if run_id is None or run_id in self.keep:
            return False
        if self.only is not None and run_id not in self.only:
            return False
        if self.owned_only:
            if run_id not in self._owned:
                self._owned[run_id] = ownership.owns(run_id)
            return self._owned[run_id]
        return True

    def wants(self, name: str) -> bool:
        return self.wants_id(run_id_of(name))


def reap(*, keep: Iterable[int] = frozenset(), only: Iterable[int] | None = None) -> ReapReport:
    """Remove leftovers of every run of ours not in ``keep`` (with ``only``, just those
    runs). The claims of ``only`` runs left clean are then released."""
    select = _Selector(keep, only, owned_only=True)
    report = ReapReport()
    steps = (
        _reap_processes,
        _reap_containers,
        _reap_cgroups,
        _reap_netns,
        _reap_links,
        _reap_nft,
        _reap_mounts,
        _reap_scratch,
    )
    for step in steps:
        try:
            step(select, report)
        except Exception as error:  # one broken step must not stop the others
            report.errors.append(f"{step.__name__}: {error}")
    for run_id in set(only or ()) - select.keep:
        if ownership.owns(run_id) and not any(inventory(only={run_id}).values()):
            ownership.release(run_id)
    return report


def inventory(
    *,
    keep: Iterable[int] = frozenset(),
    only: Iterable[int] | None = None,
    owned_only: bool = False,
) -> dict[str, list[str]]:
    """Everything named after a run, removing nothing (empty lists when clean); with
    ``owned_only``, just what ``reap`` would remove."""
    select = _Selector(keep, only, owned_only=owned_only)
    root = scratch_root()
    processes = _find_processes(select)
    found = {
        "processes": [
            f"{pid} (run {run_id})" for pid, run_id in processes.items() if not _is_zombie(pid)
        ],
        "containers": [
            f"{rt}:{name}"
            for rt, state in RUNTIME_STATE_ROOTS.items()
            for name in _listdir(state)
            if select.wants(name)
        ],
        "cgroups": [str(path) for path in cgroups.list_run_groups() if select.wants(path.name)],
        "netns": [name for name in _listdir(NETNS_DIR) if select.wants(name)],
        "links": [name for name in _listdir(SYS_NET) if select.wants(name)],
        "mounts": [
            str(p)
            for p in mounts_below(root)
            if p != root and select.wants(p.relative_to(root).parts[0])
        ],
        "scratch_dirs": [name for name in _listdir(root) if select.wants(name)],
    }
    return found


def _is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True  # gone


# --- processes --------------------------------------------------------------------


def _protected_pids() -> set[int]:
    """Ourselves and our ancestors: never kill the process that is cleaning up."""
    protected, pid = set(), os.getpid()
    while pid > 1 and pid not in protected:
        protected.add(pid)
        try:
            stat = Path(f"/proc/{pid}/stat").read_bytes()
            pid = int(stat.rsplit(b")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            break
    return protected | {1}


def run_id_of_process(pid: int) -> int | None:
    """The run a process belongs to: its VIRTLAB_RUN marker, else a run name in its cmdline/comm."""
    base = f"/proc/{pid}"
    try:
        with open(f"{base}/environ", "rb") as handle:
            environ = handle.read()
    except OSError:
        environ = b""
    for entry in environ.split(b"\0"):
        if entry.startswith(RUN_ENV_PREFIX):
            found = run_id_of(entry[len(RUN_ENV_PREFIX) :].decode(errors="replace"))
            if found is not None:
                return found
    try:
        with open(f"{base}/cmdline", "rb") as handle:
            cmdline = handle.read()
        with open(f"{base}/comm", "rb") as handle:
            comm = handle.read().strip()
    except OSError:
        return None
    # Only our own tools are matched by their arguments: an administrator's
    # `tail -f var/runs/vl57-vm0/qemu.log` names a run too, and must survive a reap.
    arguments = cmdline.split(b"\0") if _is_sandbox_tool(comm) else []
    for argument in [comm, *arguments]:
        match = CMDLINE_NAME_RE.search(argument)
        if match:
            return int(match.group(1))
    return None


def _is_sandbox_tool(comm: bytes) -> bool:
    """runc/crun (also as "runc:[2:INIT]"), bwrap, and any QEMU binary."""
    return comm.split(b":")[0] in SANDBOX_TOOLS or comm.startswith(b"qemu-")


def find_processes(
    *, keep: Iterable[int] = frozenset(), only: Iterable[int] | None = None
) -> dict[int, int]:
    """pid → run id for every live process of a run not in ``keep`` (limited to ``only``)."""
    return _find_processes(_Selector(keep, only))


def _find_processes(select: _Selector) -> dict[int, int]:
    protected = _protected_pids()
    found = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        pid = int(entry.name)
        if pid in protected:
            continue
        run_id = run_id_of_process(pid)
        if select.wants_id(run_id):
            found[pid] = run_id
    return found


def _reap_processes(select: _Selector, report: ReapReport) -> None:
    killed: set[int] = set()
    # Repeat: a parent we kill may have forked once more before dying.
    for _ in range(5):
        found = {
            pid: run_id for pid, run_id in _find_processes(select).items() if pid not in killed
        }
        if not found:
            return
        for pid, run_id in found.items():
            try:
                comm = Path(f"/proc/{pid}/comm").read_text().strip()
                if _is_zombie(pid):
                    continue  # already dead, waiting for its parent to collect it
                os.kill(pid, signal.SIGKILL)
                killed.add(pid)
                report.processes.append(f"{pid} {comm} (run {run_id})")
            except OSError:
                pass


# --- runtimes, cgroups, network ----------------------------------------------------


def _run_tool(argv: list[str], report: ReapReport) -> bool:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=TOOL_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as error:
        report.errors.append(f"{' '.join(argv)}: {error}")
        return False
    if done.returncode != 0:
        report.errors.append(f"{' '.join(argv)}: {done.stderr.strip()[:200]}")
    return done.returncode == 0


def _listdir(path: Path) -> list[str]:
    try:
        return os.listdir(path)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _reap_containers(select: _Selector, report: ReapReport) -> None:
    for runtime, state_root in RUNTIME_STATE_ROOTS.items():
        for name in _listdir(state_root):
            wanted = select.wants(name) and shutil.which(runtime)
            if wanted and _run_tool([runtime, "delete", "-f", name], report):
                report.containers.append(f"{runtime}:{name}")


def _reap_cgroups(select: _Selector, report: ReapReport) -> None:
    for path in cgroups.list_run_groups():
        if select.wants(path.name):
            if cgroups.remove_tree(path):
                report.cgroups.append(str(path))
            else:
                report.errors.append(f"cgroup {path} still busy")


def _reap_netns(select: _Selector, report: ReapReport) -> None:
    for name in _listdir(NETNS_DIR):
        if select.wants(name) and _run_tool(["ip", "netns", "delete", name], report):
            report.netns.append(name)


def _reap_links(select: _Selector, report: ReapReport) -> None:
    for name in _listdir(SYS_NET):
        # Deleting one end of a veth pair removes the other: it may already be gone.
        wanted = select.wants(name) and (SYS_NET / name).exists()
        if wanted and _run_tool(["ip", "link", "delete", name], report):
            report.links.append(name)


def _reap_nft(select: _Selector, report: ReapReport) -> None:
    if not shutil.which("nft"):
        return
    # Tables live only in the kernel; nft is the one way to list them (a few ms).
    done = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, timeout=TOOL_TIMEOUT
    )
    for line in done.stdout.splitlines():
        parts = line.split()
        wanted = len(parts) == 3 and parts[0] == "table" and select.wants(parts[2])
        if wanted and _run_tool(["nft", "delete", "table", parts[1], parts[2]], report):
            report.nft_tables.append(f"{parts[1]} {parts[2]}")


# --- mounts and scratch directories --------------------------------------------------


def _unescape_mountinfo(field_text: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field_text)


def mounts_below(top: Path) -> list[Path]:
    """Mount points at or below ``top``, deepest first."""
    prefix = str(top).rstrip("/") + "/"
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = _unescape_mountinfo(line.split()[4])
            if point == str(top) or point.startswith(prefix):
                found.append(Path(point))
    return sorted(found, key=lambda path: -len(path.parts))


def umount_detach(path: Path) -> None:
    if _libc.umount2(os.fsencode(str(path)), MNT_DETACH) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"umount {path}: {os.strerror(error)}")


def clear_directory(path: Path) -> None:
    """Delete what is inside ``path`` (not ``path`` itself); symlinks are unlinked, not followed."""
    with os.scandir(path) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                shutil.rmtree(entry.path)
            else:
                os.unlink(entry.path)


def remove_scratch_dir(path: Path) -> list[str]:
    """Unmount everything below a run's scratch dir, then delete it without following symlinks.

    Returns the mount points it detached.
    """
    if run_id_of(path.name) is None:
        raise ValueError(f"refusing to remove {path}: not a run scratch directory")
    detached = []
    for point in mounts_below(path):
        # Empty it first: a lazy unmount keeps a tmpfs (and its memory) alive for as
        # long as any namespace still holds it; emptying frees it now.
        clear_directory(point)
        umount_detach(point)
        detached.append(str(point))
    if os.path.lexists(path):
        if path.is_symlink():
            os.unlink(path)
        else:
            shutil.rmtree(path)
    return detached


def _reap_mounts(select: _Selector, report: ReapReport) -> None:
    root = scratch_root()
    for point in mounts_below(root):
        relative = point.relative_to(root).parts if point != root else ()
        if relative and select.wants(relative[0]):
            umount_detach(point)
            report.mounts.append(str(point))


def _reap_scratch(select: _Selector, report: ReapReport) -> None:
    root = scratch_root()
    for name in _listdir(root):
        if select.wants(name):
            remove_scratch_dir(root / name)
            report.scratch_dirs.append(name)
