"""Emulation vs native: the same CPU loop natively, under qemu-user, and in a TCG guest.

The workload is a busybox ``sh`` arithmetic loop: the same shell code interpreted by
the host's x86-64 busybox, by an aarch64 busybox whose every instruction
``qemu-aarch64-static`` translates, and by the guest's busybox inside a VM (under
TCG here, so the whole machine is emulated). Each timing says how it was measured.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field

from . import cgroups, guest_assets, proc, vms
from .capability import Capability
from .naming import name_for

HOST_BUSYBOX = "/bin/busybox"
QEMU_USER = "qemu-aarch64-static"
DEFAULT_ITERATIONS = 100_000
MAX_ITERATIONS = 5_000_000
INSTALL_QEMU_USER = "apt-get install -y qemu-user-static"
# Limits for the native and qemu-user loops: a shell loop needs little of anything
# (qemu-user reserves a large address space but touches a few MiB of it).
LOOP_MEMORY_BYTES = 256 << 20
LOOP_PIDS = 16
LOOP_OPEN_FILES = 64
LOOP_FILE_SIZE_BYTES = 1 << 20
LOOP_OUTPUT_BYTES = 64 * 1024


class EmulationError(RuntimeError):
    pass


@dataclass
class WorkloadTiming:
    mode: str  # "native-x86_64", "qemu-user-aarch64", "vm-<accelerator>"
    iterations: int
    wall_seconds: float
    cpu_seconds: float | None  # CPU time of the workload; None when not measurable
    clock: str  # which clock measured wall_seconds
    extra: dict = field(default_factory=dict)


@dataclass
class EmulationComparison:
    iterations: int
    native: WorkloadTiming
    emulated: WorkloadTiming
    vm: WorkloadTiming | None
    slowdown_user: float  # qemu-user wall / native wall
    slowdown_vm: float | None  # VM wall / native wall
    qemu_user_version: str

    def as_dict(self) -> dict:
        return asdict(self)


def loop_script(iterations: int) -> str:
    if not 1 <= iterations <= MAX_ITERATIONS:
        raise ValueError(f"iterations must be within 1–{MAX_ITERATIONS}")
    return f"i=0; while [ $i -lt {iterations} ]; do i=$((i+1)); done; echo $i"


def _timed(
    argv: list[str], run_id: int, timeout: float, name: str
) -> tuple[proc.ProcResult, float | None]:
    """Run to completion under ``proc.run``'s limits; (the result, CPU seconds).

    It runs in a run-named cgroup (one CPU is all a single-threaded loop can use, so
    the quota does not slow what is measured), whose CPU accounting is the loop's own
    time, whatever else the host runs.
    """
    group = cgroups.create(
        name_for(run_id, name), memory_bytes=LOOP_MEMORY_BYTES, pids=LOOP_PIDS, cpu_percent=100
    )
    try:
        result = proc.run(
            argv,
            run_id=run_id,
            wall_seconds=timeout,
            output_bytes=LOOP_OUTPUT_BYTES,
            open_files=LOOP_OPEN_FILES,
            file_size_bytes=LOOP_FILE_SIZE_BYTES,
            cgroup=group,
        )
        cpu = group.cpu_seconds()
    finally:
        group.remove()  # kills anything left first
    if result.timed_out:
        raise EmulationError(f"{argv[0]} did not finish in {timeout:g} s")
    return result, cpu


def _rounded(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 4)


def _check_count(result: proc.ProcResult, iterations: int, mode: str) -> None:
    # The count is the last line on stdout; stderr explains a failure.
    output = result.stdout.decode(errors="replace").strip()
    if output.splitlines()[-1:] != [str(iterations)]:
        errors = result.stderr.decode(errors="replace").strip()
        raise EmulationError(f"{mode} loop did not finish: {(output + ' ' + errors)[-300:]!r}")


def run_native(iterations: int, run_id: int, timeout: float = 60.0) -> WorkloadTiming:
    argv = [HOST_BUSYBOX, "sh", "-c", loop_script(iterations)]
    result, cpu = _timed(argv, run_id, timeout, "native")
    _check_count(result, iterations, "native")
    wall = round(result.wall_seconds, 4)
    return WorkloadTiming("native-x86_64", iterations, wall, _rounded(cpu), "host")


def run_qemu_user(iterations: int, run_id: int, timeout: float = 120.0) -> WorkloadTiming:
    busybox = guest_assets.aarch64_busybox_path()
    if not busybox.exists():
        raise EmulationError(f"{busybox} is missing: run {guest_assets.BUILD_HINT}")
    argv = [QEMU_USER, str(busybox), "sh", "-c", loop_script(iterations)]
    result, cpu = _timed(argv, run_id, timeout, "qemu-user")
    _check_count(result, iterations, "qemu-user")
    wall = round(result.wall_seconds, 4)
    return WorkloadTiming("qemu-user-aarch64", iterations, wall, _rounded(cpu), "host")


def run_in_vm(
    iterations: int,
    run_id: int | None = None,
    *,
    handle: vms.VMHandle | None = None,
    accel: str = "auto",
    timeout: float = 120.0,
) -> WorkloadTiming:
    """The loop inside a guest, timed by the guest's own clock (/proc/uptime, 10 ms).

    Uses ``handle`` when given (the caller keeps it), else boots and stops its own VM.
    """
    if handle is None:
        if run_id is None:
            raise ValueError("run_in_vm needs a run_id or a handle")
        with vms.start_vm(run_id, vms.VMOptions(accel=accel, name="emu")) as own:
            return run_in_vm(iterations, handle=own, timeout=timeout)
    script = (
        "read a _ < /proc/uptime; "
        + loop_script(iterations)
        + '; read b _ < /proc/uptime; echo "uptime $a $b"'
    )
    asked = time.monotonic()
    rc, output = handle.run(script, timeout=timeout)
    host_wall = time.monotonic() - asked
    lines = output.strip().splitlines()
    if rc != 0 or len(lines) < 2 or lines[-2] != str(iterations):
        raise EmulationError(f"VM loop failed (rc={rc}): {output.strip()[-300:]!r}")
    _, start, end = lines[-1].split()
    guest_wall = float(end) - float(start)
    return WorkloadTiming(
        f"vm-{handle.boot.accelerator}",
        iterations,
        round(guest_wall, 4),
        None,
        "guest /proc/uptime",
        {"host_wall_seconds": round(host_wall, 4), "machine": handle.boot.machine},
    )


def qemu_user_version() -> str:
    try:
        out = subprocess.run([QEMU_USER, "--version"], capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    first = out.stdout.strip().splitlines()[:1]
    return first[0].removeprefix("qemu-aarch64 version ") if first else "unknown"


def compare(
    iterations: int = DEFAULT_ITERATIONS,
    run_id: int | None = None,
    *,
    include_vm: bool = False,
    handle: vms.VMHandle | None = None,
) -> EmulationComparison:
    """Native vs qemu-user (and optionally a VM); slowdowns are wall-time ratios."""
    from .naming import adhoc_run_id

    run_id = adhoc_run_id() if run_id is None else run_id
    native = run_native(iterations, run_id)
    emulated = run_qemu_user(iterations, run_id)
    vm = None
    if include_vm or handle is not None:
        vm = run_in_vm(iterations, run_id, handle=handle)
    base = max(native.wall_seconds, 1e-6)
    return EmulationComparison(
        iterations=iterations,
        native=native,
        emulated=emulated,
        vm=vm,
        slowdown_user=round(emulated.wall_seconds / base, 2),
        slowdown_vm=None if vm is None else round(max(vm.wall_seconds, 0.01) / base, 2),
        qemu_user_version=qemu_user_version(),
    )


def capabilities() -> list[Capability]:
    if shutil.which(QEMU_USER) is None:
        return [Capability("qemu-user", False, f"{QEMU_USER} is missing", INSTALL_QEMU_USER)]
    busybox = guest_assets.aarch64_busybox_path()
    if not busybox.exists():
        why = f"{busybox} has not been built"
        return [Capability("qemu-user", False, why, guest_assets.BUILD_HINT)]
    try:
        result = subprocess.run(
            [QEMU_USER, str(busybox), "echo", "aarch64-ok"],
            capture_output=True, text=True, timeout=20,
        )  # fmt: skip
    except subprocess.TimeoutExpired:
        return [Capability("qemu-user", False, f"{QEMU_USER} hung running busybox")]
    if result.stdout.strip() != "aarch64-ok":
        detail = f"{QEMU_USER} could not run the aarch64 busybox: {result.stderr.strip()[:200]}"
        return [Capability("qemu-user", False, detail, INSTALL_QEMU_USER)]
    return [
        Capability("qemu-user", True, f"{QEMU_USER} {qemu_user_version()} runs aarch64 busybox")
    ]
