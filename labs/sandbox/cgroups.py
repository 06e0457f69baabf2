"""Run-named cgroups: create, limit, measure, kill, remove.

Hosts come in three shapes: cgroup v1 (one hierarchy per controller), hybrid (v1
controllers plus an empty v2 tree at ``/sys/fs/cgroup/unified``) and v2 unified.
Detect which, never assume. Our groups live under a ``virtlab`` parent — in every
controller hierarchy we need on v1, once on v2 — and are named ``vl<run id>-…`` so
the reaper finds them by name. The parent's CPU share is low (``SANDBOX_CPU_SHARES``),
so all sandboxes together yield the CPU to the web server whenever it wants it and
take whatever is left otherwise.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from .capability import Capability
from .naming import run_id_of
from .proc import SANDBOX_NICE

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "virtlab"
V1_CONTROLLERS = ("memory", "pids", "cpu", "cpuacct")
CFS_PERIOD_US = 100_000
# The CPU share of the ``virtlab`` parent, against the web server's processes at the
# default (1024 on v1, where a group's weight is its cpu.shares; 100 on v2, cpu.weight):
# when both want the CPU, every sandbox together gets 1/5 of it and the web 4/5. Not
# less: a sandbox's wall limits still hold when the web is saturated (a TCG boot,
# ~2 CPU-seconds, takes ~5 s on 1/5 of this 2-core host against its 30 s limit; at
# 1/9, bench/pages_under_load.py saw boots time out).
SANDBOX_CPU_SHARES = 256
SANDBOX_CPU_WEIGHT = 25
DEFAULT_CPU_SHARES = 1024


@cache
def mode() -> str:
    """ "v2" (unified), "hybrid", "v1", or "none"."""
    mounts = _cgroup_mounts()
    if any(fstype == "cgroup2" and Path(target) == CGROUP_ROOT for target, fstype, _ in mounts):
        return "v2"
    has_v1 = any(fstype == "cgroup" for _, fstype, _ in mounts)
    has_v2 = any(fstype == "cgroup2" for _, fstype, _ in mounts)
    if has_v1 and has_v2:
        return "hybrid"
    return "v1" if has_v1 else "none"


def _cgroup_mounts() -> list[tuple[str, str, set[str]]]:
    found = []
    with open("/proc/self/mounts") as mounts:
        for line in mounts:
            parts = line.split()
            if len(parts) >= 4 and parts[2] in ("cgroup", "cgroup2"):
                found.append((parts[1], parts[2], set(parts[3].split(","))))
    return found


@cache
def v1_mountpoints() -> dict[str, Path]:
    """Controller name → the v1 hierarchy it is mounted in (cpu and cpuacct may share one)."""
    points: dict[str, Path] = {}
    for target, fstype, options in _cgroup_mounts():
        if fstype == "cgroup":
            for controller in V1_CONTROLLERS:
                if controller in options:
                    points.setdefault(controller, Path(target))
    return points


def hierarchies() -> list[Path]:
    """Every mounted hierarchy: a runtime may create our group in all of them (v1)."""
    if mode() == "v2":
        return [CGROUP_ROOT]
    # Hybrid hosts also get the runtime's group in the (controller-less) v2 tree.
    return sorted({Path(target) for target, _, _ in _cgroup_mounts()})


def parent_dirs() -> list[Path]:
    """Every ``virtlab`` parent directory this host can have (for the reaper)."""
    return [hierarchy / PARENT for hierarchy in hierarchies()]


def _write(path: Path, value: str) -> None:
    with open(path, "w") as handle:
        handle.write(value)


def _read(path: Path) -> str | None:
    try:
        return path.read_text()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text.split()[0]) if text else None
    except ValueError:
        return None


def _keyed(path: Path) -> dict[str, int]:
    values: dict[str, int] = {}
    for line in (_read(path) or "").splitlines():
        key, _, value = line.partition(" ")
        if value.strip().lstrip("-").isdigit():
            values[key] = int(value)
    return values


@dataclass
class Cgroup:
    """One run-named group. ``dirs`` maps a controller (or "unified") to its directory."""

    name: str
    dirs: dict[str, Path] = field(default_factory=dict)

    @property
    def unified(self) -> bool:
        return "unified" in self.dirs

    def child(self, name: str) -> Cgroup:
        """The group ``name`` nested below this one (e.g. an OCI runtime's own leaf)."""
        return Cgroup(name=self.name, dirs={key: path / name for key, path in self.dirs.items()})

    def _dir(self, controller: str) -> Path | None:
        return self.dirs.get("unified") or self.dirs.get(controller)

    @property
    def procs_files(self) -> list[str]:
        return sorted({str(path / "cgroup.procs") for path in self.dirs.values()})

    def add_pid(self, pid: int) -> None:
        for path in self.procs_files:
            _write(Path(path), str(pid))

    def pids(self) -> set[int]:
        """Every process in the group or below it (a runtime may nest its own leaf)."""
        found: set[int] = set()
        for top in set(self.dirs.values()):
            for directory, _, _ in os.walk(top):
                for line in (_read(Path(directory) / "cgroup.procs") or "").split():
                    found.add(int(line))
        return found

    def set_limits(
        self,
        *,
        memory_bytes: int | None = None,
        pids: int | None = None,
        cpu_percent: int | None = None,
    ) -> None:
        if self.unified:
            base = self.dirs["unified"]
            if memory_bytes:
                _write(base / "memory.max", str(memory_bytes))
                _write_if_exists(base / "memory.swap.max", "0")
            if pids:
                _write(base / "pids.max", str(pids))
            if cpu_percent:
                _write(base / "cpu.max", f"{CFS_PERIOD_US * cpu_percent // 100} {CFS_PERIOD_US}")
            return
        if memory_bytes and "memory" in self.dirs:
            _write(self.dirs["memory"] / "memory.limit_in_bytes", str(memory_bytes))
            # Without swap accounting this file is absent; with it, forbid swapping out.
            _write_if_exists(self.dirs["memory"] / "memory.memsw.limit_in_bytes", str(memory_bytes))
        if pids and "pids" in self.dirs:
            _write(self.dirs["pids"] / "pids.max", str(pids))
        if cpu_percent and "cpu" in self.dirs:
            _write(self.dirs["cpu"] / "cpu.cfs_period_us", str(CFS_PERIOD_US))
            _write(self.dirs["cpu"] / "cpu.cfs_quota_us", str(CFS_PERIOD_US * cpu_percent // 100))

    def memory_current(self) -> int | None:
        path = self._dir("memory")
        if path is None:
            return None
        return _read_int(path / ("memory.current" if self.unified else "memory.usage_in_bytes"))

    def memory_peak(self) -> int | None:
        path = self._dir("memory")
        if path is None:
            return None
        # memory.peak exists from Linux 5.19 on v2; older kernels only give "current".
        name = "memory.peak" if self.unified else "memory.max_usage_in_bytes"
        return _read_int(path / name) or self.memory_current()

    def oom_kills(self) -> int:
        path = self._dir("memory")
        if path is None:
            return 0
        if self.unified:
            return _keyed(path / "memory.events").get("oom_kill", 0)
        control = _keyed(path / "memory.oom_control")
        # "oom_kill" appeared in 4.13; older kernels only say how often the limit was hit.
        return control.get("oom_kill", 0)

    def memory_limit_hits(self) -> int:
        path = self._dir("memory")
        if path is None:
            return 0
        if self.unified:
            return _keyed(path / "memory.events").get("max", 0)
        return _read_int(path / "memory.failcnt") or 0

    def pids_limit_hits(self) -> int:
        path = self._dir("pids")
        if path is None:
            return 0
        return _keyed(path / "pids.events").get("max", 0)

    def pids_peak(self) -> int | None:
        path = self._dir("pids")
        return None if path is None else _read_int(path / "pids.peak")

    def cpu_seconds(self) -> float | None:
        if self.unified:
            usage = _keyed(self.dirs["unified"] / "cpu.stat").get("usage_usec")
            return None if usage is None else usage / 1e6
        path = self.dirs.get("cpuacct")
        usage = None if path is None else _read_int(path / "cpuacct.usage")
        return None if usage is None else usage / 1e9

    def cpu_throttled(self) -> int:
        path = self._dir("cpu")
        return 0 if path is None else _keyed(path / "cpu.stat").get("nr_throttled", 0)

    def kill_all(self) -> int:
        """SIGKILL every process in the group; returns how many were signalled."""
        if self.unified and (self.dirs["unified"] / "cgroup.kill").exists():
            before = len(self.pids())
            _write_if_exists(self.dirs["unified"] / "cgroup.kill", "1")
            return before
        return _kill_pids_until_empty(self)

    def remove(self, timeout: float = 2.0) -> bool:
        """Kill what is left and remove the group from every hierarchy; True when gone.

        A runtime given a path below ours (``…/vl1-c0/ctr``) creates the intermediate
        directories in every v1 hierarchy, not only the ones we limit, so all are swept.
        """
        return remove_named(self.name, timeout=timeout)


def remove_named(name: str, timeout: float = 2.0) -> bool:
    """Remove group ``name`` (and anything below it) under every ``virtlab`` parent."""
    if run_id_of(name) is None:
        raise ValueError(f"refusing to remove cgroup {name!r}: not a run name")
    gone = True
    for parent in parent_dirs():
        top = parent / name
        try:
            os.rmdir(top)  # the common case: empty, no sub-groups
            continue
        except FileNotFoundError:
            continue
        except OSError:
            pass
        gone = remove_tree(top, timeout=timeout) and gone
    return gone


def remove_tree(top: Path, timeout: float = 2.0) -> bool:
    """Kill every task in a cgroup subtree and rmdir it bottom-up (cgroupfs only holds dirs)."""
    if not top.is_dir() or top.is_symlink():
        return True
    deadline = time.monotonic() + timeout
    for directory, _, _ in sorted(os.walk(top), key=lambda item: -len(item[0])):
        path = Path(directory)
        while path.exists():
            _kill_pids_until_empty(Cgroup(name=path.name, dirs={"any": path}))
            try:
                os.rmdir(path)
            except FileNotFoundError:
                break
            except OSError:
                # Busy while killed tasks are still exiting.
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.01)
    return True


def _write_if_exists(path: Path, value: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        _write(path, value)


def _kill_pids_until_empty(group: Cgroup, rounds: int = 50) -> int:
    # A fork bomb can add tasks while we kill; repeat until a pass finds none.
    signalled = 0
    for _ in range(rounds):
        pids = group.pids()
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
                signalled += 1
            except ProcessLookupError:
                pass
        time.sleep(0.001)
    return signalled


def group_dirs(name: str) -> dict[str, Path]:
    """Where group ``name`` lives (whether or not it exists yet)."""
    if mode() == "v2":
        return {"unified": CGROUP_ROOT / PARENT / name}
    points = v1_mountpoints()
    return {
        controller: points[controller] / PARENT / name
        for controller in V1_CONTROLLERS
        if controller in points
    }


def open_group(name: str) -> Cgroup:
    """A handle on an existing (or runtime-made) group without creating anything."""
    return Cgroup(
        name=name, dirs={key: path for key, path in group_dirs(name).items() if path.exists()}
    )


def create(
    name: str,
    *,
    memory_bytes: int | None = None,
    pids: int | None = None,
    cpu_percent: int | None = None,
) -> Cgroup:
    """Create group ``name`` (must be ``vl<id>-…``) with the given limits."""
    if run_id_of(name) is None:
        raise ValueError(f"cgroup name {name!r} does not carry a run id")
    dirs = group_dirs(name)
    if not dirs:
        raise RuntimeError("no usable cgroup hierarchy on this host")
    if mode() == "v2":
        _enable_v2_controllers()
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # Every time, not once: the reaper may have removed the parent since the last run.
    lower_sandbox_priority()
    group = Cgroup(name=name, dirs=dirs)
    try:
        group.set_limits(memory_bytes=memory_bytes, pids=pids, cpu_percent=cpu_percent)
    except OSError:
        group.remove()
        raise
    return group


def _priority_file() -> Path | None:
    """The file holding the ``virtlab`` parent's CPU share, None without a cpu controller."""
    if mode() == "v2":
        # cpu.weight exists only where the parent has the cpu controller enabled for it.
        available = (_read(CGROUP_ROOT / "cgroup.controllers") or "").split()
        return CGROUP_ROOT / PARENT / "cpu.weight" if "cpu" in available else None
    point = v1_mountpoints().get("cpu")
    return None if point is None else point / PARENT / "cpu.shares"


def value_wanted() -> int:
    return SANDBOX_CPU_WEIGHT if mode() == "v2" else SANDBOX_CPU_SHARES


def lower_sandbox_priority() -> None:
    """Give the ``virtlab`` parent its low CPU share (every sandbox group is below it)."""
    path = _priority_file()
    if path is None or not path.parent.is_dir():
        return
    wanted = str(value_wanted())
    if (_read(path) or "").strip() != wanted:
        # Best effort: a host that refuses it still runs sandboxes (with the web server's
        # priority), and sandbox_doctor says so.
        with contextlib.suppress(OSError):
            _write(path, wanted)


def sandbox_cpu_share() -> tuple[int, int] | None:
    """(the sandboxes' parent's CPU share, the default a web process has), as set now."""
    path = _priority_file()
    value = None if path is None else _read_int(path)
    if value is None:
        return None
    return value, (100 if mode() == "v2" else DEFAULT_CPU_SHARES)


def _enable_v2_controllers() -> None:
    parent = CGROUP_ROOT / PARENT
    parent.mkdir(exist_ok=True)
    for directory in (CGROUP_ROOT, parent):
        available = (_read(directory / "cgroup.controllers") or "").split()
        wanted = [f"+{name}" for name in ("memory", "pids", "cpu") if name in available]
        if wanted:
            _write_if_exists(directory / "cgroup.subtree_control", " ".join(wanted))


def list_run_groups() -> list[Path]:
    """Every ``vl<id>-…`` directory under any ``virtlab`` parent."""
    found = []
    for parent in parent_dirs():
        try:
            entries = list(os.scandir(parent))
        except FileNotFoundError:
            continue
        found += [
            Path(entry.path)
            for entry in entries
            if entry.is_dir(follow_symlinks=False) and run_id_of(entry.name) is not None
        ]
    return found


def capabilities() -> list[Capability]:
    current = mode()
    if current == "none":
        return [
            Capability(
                "cgroups",
                False,
                "no cgroup filesystem is mounted",
                "mount -t cgroup2 none /sys/fs/cgroup",
            )
        ]
    working, broken = _probe_controllers()
    detail = f"cgroup mode {current}; working controllers: {', '.join(working) or 'none'}"
    if broken:
        detail += f"; not working: {', '.join(broken)}"
    needed_ok = all(name in working for name in ("memory", "pids"))
    return [
        Capability(
            "cgroups",
            needed_ok,
            detail,
            ""
            if needed_ok
            else "enable the memory and pids cgroup controllers (kernel boot options)",
        ),
        _priority_capability(),
    ]


def _priority_capability() -> Capability:
    """What CPU priority sandboxes get beside the web server (the probe set it up)."""
    share = sandbox_cpu_share()
    nice = f"nice {SANDBOX_NICE} (the web server's: 0)"
    if share is None:
        return Capability(
            "sandbox-priority",
            False,
            f"sandboxes run at {nice} only: no cpu cgroup controller to lower their CPU share",
            "enable the cpu cgroup controller (kernel boot options)",
        )
    value, default = share
    knob = "cpu.weight" if mode() == "v2" else "cpu.shares"
    low = value < default
    return Capability(
        "sandbox-priority",
        low,
        f"sandboxes run below the web server: {knob} {value} for all of them together "
        f"(a web process: {default}), {nice}"
        if low
        else f"sandboxes compete with the web server: {knob} {value} (a web process: {default})",
        "" if low else f"echo {value_wanted()} > {_priority_file()}",
    )


def _probe_controllers() -> tuple[list[str], list[str]]:
    name = f"vl0-probe{os.getpid()}"
    try:
        group = create(name)
    except (OSError, RuntimeError) as error:
        return [], [f"create failed: {error}"]
    working, broken = [], []
    try:
        checks = {
            "memory": lambda: group.set_limits(memory_bytes=64 << 20),
            "pids": lambda: group.set_limits(pids=16),
            "cpu": lambda: group.set_limits(cpu_percent=50),
        }
        for controller, check in checks.items():
            if group._dir(controller) is None:
                broken.append(controller)
                continue
            try:
                check()
                working.append(controller)
            except OSError:
                broken.append(controller)
    finally:
        group.remove()
    return working, broken
