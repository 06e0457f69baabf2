"""VM features students measure: snapshots (savevm/loadvm) and live migration.

Both use real QEMU: a snapshot is the full VM state written into a qcow2 image in
the VM's scratch directory; a migration streams a running guest from one local QEMU
process to another through a unix socket in the destination's scratch directory.
Real migrations use TCP between hosts; on one host a socket only root can open keeps
any other local process from feeding the root-owned destination a stream of its own. Each function proves
the feature worked by reading guest state back over the serial console.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from dataclasses import asdict, dataclass

from . import vms
from .naming import name_for
from .qmp import QMPClient
from .vm_process import QemuLimits, QemuProcess, VMError


@dataclass
class SnapshotResult:
    accelerator: str
    memory_mib: int
    save_seconds: float
    load_seconds: float
    vm_state_bytes: int  # what the qcow2 image holds after savevm
    restored: bool  # guest state written after the snapshot was gone after loadvm

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class MigrationResult:
    accelerator: str
    memory_mib: int
    status: str
    total_ms: int  # QEMU's own figure: migration start to completion
    downtime_ms: int  # guest paused while the last dirty pages moved
    setup_ms: int
    transferred_bytes: int
    host_wall_seconds: float  # our clock: migrate command to "completed"
    guest_alive_after: bool  # the destination answered a command with pre-migration state

    def as_dict(self) -> dict:
        return asdict(self)


def _hmp_ok(handle: vms.VMHandle, command: str, timeout: float) -> float:
    started = time.monotonic()
    output = handle.qmp_client.hmp(command, timeout=timeout)
    if output.strip():  # HMP answers nothing on success, an error message otherwise
        raise VMError(f"{command}: {output.strip()}")
    return time.monotonic() - started


def snapshot_roundtrip(
    run_id: int, *, memory_mib: int = 128, accel: str = "auto", timeout: float = 60.0
) -> SnapshotResult:
    """Boot, write a marker, savevm, change it, loadvm, check the marker came back."""
    options = vms.VMOptions(
        memory_mib=memory_mib,
        accel=accel,
        timeout=timeout,
        name="snap",
        snapshot_disk_mib=memory_mib + 64,
    )
    with vms.start_vm(run_id, options) as handle:
        token = secrets.token_hex(4)
        handle.run(f"echo {token} > /tmp/state")
        save = _hmp_ok(handle, "savevm virtlab", timeout)
        vm_state = _disk_bytes(handle)
        handle.run("echo changed > /tmp/state")
        load = _hmp_ok(handle, "loadvm virtlab", timeout)
        rc, output = handle.run("cat /tmp/state")
        return SnapshotResult(
            accelerator=handle.boot.accelerator,
            memory_mib=memory_mib,
            save_seconds=round(save, 4),
            load_seconds=round(load, 4),
            vm_state_bytes=vm_state,
            restored=rc == 0 and output.strip() == token,
        )


def _disk_bytes(handle: vms.VMHandle) -> int:
    result = subprocess.run(
        ["qemu-img", "info", "-U", "--output=json", str(handle.process.disk_path)],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    try:
        return int(json.loads(result.stdout)["actual-size"])
    except (ValueError, KeyError):
        return 0


def migrate_vm(
    run_id: int, *, memory_mib: int = 128, accel: str = "auto", timeout: float = 60.0
) -> MigrationResult:
    """Live-migrate a running guest between two local QEMU processes."""
    source = vms.start_vm(
        run_id, vms.VMOptions(memory_mib=memory_mib, accel=accel, timeout=timeout)
    )
    destination: QemuProcess | None = None
    try:
        token = secrets.token_hex(4)
        source.run(f"echo {token} > /tmp/state")
        destination = QemuProcess(run_id, name_for(run_id, "vm1"))
        uri = f"unix:{destination.migration_path}"
        argv = vms.qemu_argv(
            process_name=destination.name, accelerator=source.boot.accelerator,
            machine=source.boot.machine, memory_mib=memory_mib, vcpus=source.boot.vcpus,
            serial=str(destination.serial_path), control=str(destination.control_path),
            qmp=str(destination.qmp_path),
            extra_args=("-incoming", uri),
        )  # fmt: skip
        destination.start(
            argv,
            limits=QemuLimits.for_guest(memory_mib, source.boot.vcpus),
            deadline=time.monotonic() + timeout,
        )
        # QMP answers once QEMU's main loop runs, which is after -incoming listens.
        with QMPClient(destination.qmp_path, timeout=timeout).connect() as incoming:
            state = incoming.execute("query-status")["status"]
        if state != "inmigrate":
            raise VMError(f"destination QEMU is {state!r}, not waiting for a migration")
        stats, wall = _run_migration(source, uri, timeout)
        arrived = vms.VMHandle(destination, source.boot)
        rc, output = arrived.run("cat /tmp/state", timeout=10)
        return MigrationResult(
            accelerator=source.boot.accelerator,
            memory_mib=memory_mib,
            status=stats["status"],
            total_ms=int(stats.get("total-time", 0)),
            downtime_ms=int(stats.get("downtime", 0)),
            setup_ms=int(stats.get("setup-time", 0)),
            transferred_bytes=int(stats.get("ram", {}).get("transferred", 0)),
            host_wall_seconds=round(wall, 4),
            guest_alive_after=rc == 0 and output.strip() == token,
        )
    finally:
        source.stop()
        if destination is not None:
            destination.reap()


def _run_migration(source: vms.VMHandle, uri: str, timeout: float) -> tuple[dict, float]:
    client = source.qmp_client
    started = time.monotonic()
    client.execute("migrate", {"uri": uri})
    deadline = started + timeout
    while True:
        stats = client.execute("query-migrate")
        status = stats.get("status")
        if status == "completed":
            return stats, time.monotonic() - started
        if status in ("failed", "cancelled"):
            raise VMError(f"migration {status}: {stats.get('error-desc', '')}")
        if time.monotonic() >= deadline:
            client.execute("migrate_cancel")
            raise VMError(f"migration not completed after {timeout:g} s (status {status})")
        time.sleep(0.02)
