"""Warm starts: a guest restored from a snapshot instead of booted.

Once per guest shape (guest kernel and initramfs, QEMU, accelerator, machine type,
memory, vCPUs) a *template* guest is booted with its RAM in a file
(``memory-backend-file``, ``share=on``, so every write reaches the file). When it has
printed its boot marker it waits in its request loop (initramfs.py); its device state
is then migrated into a small file with QEMU's ``x-ignore-shared`` capability, which
leaves shared RAM out of the stream: the RAM file *is* the memory image. The template
QEMU is then killed.

A restored VM runs the same command line with the same RAM file mapped privately
(``share=off``: copy-on-write, so the snapshot is never written and every restored
guest has its own memory from its first write on), starts with ``-incoming defer``,
loads the device state (``migrate-incoming``) and resumes exactly where the template
stopped. Nothing is copied: the guest's pages come in from the page cache as it
touches them. This is what Kata Containers calls VM templating and what Firecracker
does with its snapshots.

Every restored guest would be a clone of the template in all but its pid on the
host, random generator state included, so its first request is ``WAKE``: its own
hostname, a per-VM token and fresh random bytes that the guest mixes in and reseeds
its generator with (``guest_src/vl-reseed.c``). It answers with the boot marker, the
same readiness check a booted guest passes.

Snapshots live in ``assets_dir()/snapshots/<shape>-<digest>/`` (``ram``, ``state``,
``meta.json``). The digest covers everything the guest's memory came from, so a
rebuilt kernel or initramfs, or another QEMU, gets a new snapshot and the stale ones
are removed, as are the least recently used beyond ``MAX_SNAPSHOTS``. Building one
takes a cold boot plus a fraction of a second; concurrent builders of the same shape
wait for one another on the shape's lock, which every restore holds shared until its
VM has loaded the state, so no clean-up removes a snapshot in use.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import shutil
import time
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from . import guest_assets
from .paths import assets_dir
from .qmp import QMPClient, QMPError
from .vm_process import VMError, qemu_version

FORMAT = 1  # bump when what a snapshot holds, or how it is made, changes
MIGRATION_TIMEOUT = 30.0
MAX_SNAPSHOTS = 4  # kept per digest; the least recently used go first
IGNORE_SHARED = [{"capability": "x-ignore-shared", "state": True}]


@dataclass(frozen=True)
class Shape:
    """What a snapshot must match to be restored into a VM."""

    accelerator: str
    machine: str
    memory_mib: int
    vcpus: int
    terminal: bool = False  # the guest has a third serial port for a shell
    modules: tuple[str, ...] = ()  # kernel modules the template loaded at boot (sorted)

    @property
    def label(self) -> str:
        label = f"{self.machine}-{self.accelerator}-{self.memory_mib}m-{self.vcpus}c"
        if self.terminal:
            label += "-t"
        return label + "".join(f"-{name}" for name in self.modules)


@dataclass(frozen=True)
class Snapshot:
    directory: Path

    @property
    def ram_path(self) -> Path:
        return self.directory / "ram"

    @property
    def state_path(self) -> Path:
        return self.directory / "state"

    @property
    def meta(self) -> dict:
        return json.loads((self.directory / "meta.json").read_text())


def snapshots_root() -> Path:
    return assets_dir() / "snapshots"


def _digest() -> str:
    """Everything a template's memory came from: a change in any of it is a new snapshot."""
    built = guest_assets.manifest()
    parts = {
        "format": FORMAT,
        "qemu": qemu_version(),
        "kernel": built.get("kernel", {}).get("sha256"),
        "initramfs": built.get("initramfs"),  # what the initramfs was built from
        # Under KVM the guest sees the host's CPU (-cpu host): a state saved on one CPU
        # model may not load on another (a moved var/, a migrated host).
        "host_cpu": _host_cpu(),
    }
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:16]


@cache
def _host_cpu() -> str:
    """The host CPU's model and feature flags, as a digest."""
    wanted = ("model name", "flags")
    found = {}
    with contextlib.suppress(OSError), open("/proc/cpuinfo") as cpuinfo:
        for line in cpuinfo:
            key, _, value = line.partition(":")
            if key.strip() in wanted and key.strip() not in found:
                found[key.strip()] = value.strip()
            if len(found) == len(wanted):
                break
    return hashlib.sha256(json.dumps(found, sort_keys=True).encode()).hexdigest()[:16]


def snapshot_dir(shape: Shape) -> Path:
    return snapshots_root() / f"{shape.label}-{_digest()}"


def find(shape: Shape) -> Snapshot | None:
    """The snapshot for ``shape`` if one is ready."""
    directory = snapshot_dir(shape)
    return Snapshot(directory) if _complete(directory) else None


def _complete(directory: Path) -> bool:
    """A snapshot counts once its meta.json is there (written last, then renamed in)."""
    return (directory / "meta.json").exists()


def _lock_path(directory: Path) -> Path:
    return directory.parent / f"{directory.name}.lock"


@contextlib.contextmanager
def _locked(directory: Path, mode: int):
    directory.parent.mkdir(parents=True, exist_ok=True)
    with open(_lock_path(directory), "a") as lock:
        fcntl.flock(lock, mode)
        yield


@contextlib.contextmanager
def ready(shape: Shape, boot_template):
    """Yield the snapshot for ``shape`` (built first if there is none) and the seconds
    the build took (None when it was ready), holding it shared until the block ends,
    so that no clean-up removes it while a VM is being restored from it.

    ``boot_template(ram_path)`` boots the template guest with its RAM shared in
    ``ram_path`` and returns its running ``VMHandle`` (vms.py passes it, so this module
    needs nothing from the VM driver)."""
    directory = snapshot_dir(shape)
    built = None if _complete(directory) else _build(shape, directory, boot_template)
    with _locked(directory, fcntl.LOCK_SH):
        if not _complete(directory):  # removed by a clean-up between the build and now
            raise VMError("the snapshot was removed while it was being restored; try again")
        os.utime(directory / "meta.json")  # last used: the clean-up keeps the recent ones
        yield Snapshot(directory), built


def _build(shape: Shape, directory: Path, boot_template) -> float | None:
    with _locked(directory, fcntl.LOCK_EX):
        if _complete(directory):  # another process built it while we waited
            return None
        started = time.monotonic()
        _remove_stale(directory)
        shutil.rmtree(directory, ignore_errors=True)  # a half-removed one would block rename
        work = directory.with_name(f".{directory.name}.{os.getpid()}.tmp")
        shutil.rmtree(work, ignore_errors=True)
        work.mkdir(parents=True)
        try:
            handle = boot_template(work / "ram")
            try:
                state_bytes = _save_device_state(handle.process.qmp_path, work / "state")
                boot = handle.boot
            finally:
                handle.stop()
            took = time.monotonic() - started
            meta = {
                "shape": shape.label,
                "digest": _digest(),
                "built_seconds": round(took, 3),
                "template_boot_seconds": boot.boot_wall_seconds,
                "template_uptime_seconds": boot.guest_uptime_seconds,
                "state_bytes": state_bytes,
                "ram_bytes_on_disk": (work / "ram").stat().st_blocks * 512,
            }
            (work / "meta.json").write_text(json.dumps(meta, indent=2) + "\n")
            _sync(work)  # on disk before it counts as ready, even across a host crash
            os.rename(work, directory)
            _sync(directory.parent)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        return took


def _sync(directory: Path) -> None:
    for path in [*directory.iterdir(), directory]:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _save_device_state(qmp_path: Path, state_path: Path) -> int:
    """Migrate the template's device state (not its RAM) into ``state_path``."""
    try:
        with QMPClient(qmp_path).connect() as client:
            client.execute("migrate-set-capabilities", {"capabilities": IGNORE_SHARED})
            client.execute("migrate", {"uri": f"exec:cat > {shlex.quote(str(state_path))}"})
            deadline = time.monotonic() + MIGRATION_TIMEOUT
            while True:
                status = client.execute("query-migrate").get("status")
                if status == "completed":
                    break
                if status in ("failed", "cancelled") or time.monotonic() > deadline:
                    raise VMError(f"saving the template's state ended {status!r}")
                time.sleep(0.005)
    except QMPError as error:  # e.g. a QEMU without x-ignore-shared
        raise VMError(f"QEMU could not save the template: {error}") from error
    return state_path.stat().st_size


def _remove_stale(building: Path) -> None:
    """Snapshots of other digests (an older kernel, initramfs or QEMU), work directories
    of builders that died, and the least recently used snapshots beyond
    ``MAX_SNAPSHOTS`` (each shape a lab asks for costs a guest's RAM on disk). A
    snapshot a VM is being restored from right now is never removed."""
    digest = _digest()
    current = []
    for entry in snapshots_root().iterdir():
        if entry.name.startswith(".") and entry.name.endswith(".tmp"):
            pid = entry.name.rsplit(".", 2)[-2]
            if pid.isdigit() and not Path(f"/proc/{pid}").exists():
                shutil.rmtree(entry, ignore_errors=True)
        elif entry.is_dir() and entry != building:
            if entry.name.endswith(digest):
                current.append(entry)
            else:
                _remove_if_idle(entry, forget_lock=True)
    current.sort(key=_last_used, reverse=True)
    for entry in current[MAX_SNAPSHOTS - 1 :]:  # room for the one being built
        _remove_if_idle(entry, forget_lock=False)


def _last_used(directory: Path) -> float:
    try:
        return (directory / "meta.json").stat().st_mtime
    except OSError:
        return 0.0


def _remove_if_idle(directory: Path, *, forget_lock: bool) -> None:
    with open(_lock_path(directory), "a") as lock:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # a VM is being restored from it (or it is being built): later
        shutil.rmtree(directory, ignore_errors=True)
        if forget_lock:  # an old digest: nobody asks for it again
            _lock_path(directory).unlink(missing_ok=True)


def restore(client: QMPClient, snapshot: Snapshot, deadline: float) -> None:
    """Load ``snapshot``'s device state into a QEMU started with ``-incoming defer``
    and wait until the guest runs again."""
    try:
        _restore(client, snapshot, deadline)
    except QMPError as error:  # e.g. a QEMU without x-ignore-shared
        raise VMError(f"QEMU could not restore the snapshot: {error}") from error


def _restore(client: QMPClient, snapshot: Snapshot, deadline: float) -> None:
    client.execute("migrate-set-capabilities", {"capabilities": IGNORE_SHARED})
    uri = f"exec:cat {shlex.quote(str(snapshot.state_path))}"
    client.execute("migrate-incoming", {"uri": uri})
    while True:
        status = client.execute("query-status").get("status")
        if status == "running":
            return
        if status not in ("inmigrate", "prelaunch", "paused", "restore-vm"):
            raise VMError(f"restoring the snapshot left the VM {status!r}")
        migration = client.execute("query-migrate").get("status")
        if migration == "failed":
            raise VMError("restoring the snapshot failed (QEMU refused its state)")
        if time.monotonic() > deadline:
            raise VMError("restoring the snapshot did not finish in time")
        time.sleep(0.001)
