"""The VM driver: boot a real QEMU guest, measure it, talk to it, always reap it.

Each VM is ``qemu-system-x86_64`` (``-M microvm``, falling back to ``q35`` when this
QEMU has no microvm) with the guest kernel and busybox initramfs from
``guest_assets``, no devices but two serial ports (a console and a control channel,
see ``initramfs.py``; a third for a student's shell when asked, vm_terminals.py), and
no network. A guest can also start from a snapshot of a booted one instead of booting
(``VMOptions(start="snapshot")``, vm_snapshots.py). QEMU runs in its own
session with ``VIRTLAB_RUN=vl<id>-`` in its environment and the process name
``vl<id>-<name>``; its console, control and QMP sockets live in the scratch directory
``scratch_root()/vl<id>-<name>/``. The serial protocol is described in
``initramfs.py``. Every boot has a deadline: a guest that does not print its boot
marker in time is killed and everything it had is removed.
"""

from __future__ import annotations

import base64
import math
import os
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from pathlib import Path

from . import accel, guest_assets, guest_modules, reaper, vm_snapshots
from .initramfs import BOOT_MARKER
from .naming import adhoc_run_id, name_for
from .qmp import QMPClient, QMPError
from .vm_process import (
    QEMU_OVERHEAD_MIB,
    QemuLimits,
    QemuProcess,
    VMBootTimeout,
    VMError,
    VMGuestPanic,
    qemu_version,
)

__all__ = [
    "QEMU_OVERHEAD_MIB",
    "QemuLimits",
    "VMBootResult",
    "VMBootTimeout",
    "VMError",
    "VMGuestPanic",
    "VMHandle",
    "VMRequestError",
    "VMOptions",
    "boot_vm",
    "capabilities",
    "decide_accelerator",
    "host_capacity",
    "start_vm",
    "qemu_argv",
]

# The Debian cloud kernel panics unpacking our initramfs below ~80 MiB; 96 leaves a margin.
MIN_MEMORY_MIB = 96
HOST_RESERVE_MIB = 1024  # never hand the last GiB of the host to guests
MAX_COMMAND_BYTES = 2900  # base64 of it must fit the guest tty's 4096-byte line
OUTPUT_CAP = 64 * 1024
MACHINES = ("microvm", "q35")
MARKER_RE = re.compile(BOOT_MARKER + r" uptime=([0-9.]+)")
END_RE = re.compile(r"VIRTLAB-END (\S+) rc=(-?\d+)")
RESEED_RE = re.compile(r" reseed=(\d+)")  # in a restored guest's marker (initramfs.py)
TEMPLATE_TIMEOUT = 60.0  # a snapshot template boots once; a busy host may take a while


class VMRequestError(ValueError):
    """The request asks for more than this host can give, or is malformed."""


@dataclass
class VMBootResult:
    run_id: int
    name: str
    accelerator: str
    accelerator_reason: str
    machine: str
    memory_mib: int
    vcpus: int
    qemu_version: str
    kernel_release: str | None
    boot_wall_seconds: float  # host: spawn to the boot marker on the control channel
    guest_uptime_seconds: float  # guest: its own /proc/uptime when it printed the marker
    rss_bytes_at_boot: int
    pss_bytes_at_boot: int
    peak_rss_bytes: int = 0  # VmHWM, final when the VM has exited
    poweroff_seconds: float | None = None  # power-off request (or marker) to QEMU exit
    total_wall_seconds: float | None = None  # spawn to QEMU exit
    cgroup_memory_bytes: int | None = None
    extra: dict = field(default_factory=dict)

    def as_dict(self) -> dict:
        return asdict(self)


def host_capacity() -> dict[str, int]:
    """The most memory (MiB) and vCPUs one guest may ask for on this host right now."""
    available_kib = 0
    with open("/proc/meminfo") as meminfo:
        for line in meminfo:
            if line.startswith("MemAvailable:"):
                available_kib = int(line.split()[1])
    memory = available_kib // 1024 - HOST_RESERVE_MIB - QEMU_OVERHEAD_MIB
    return {"memory_mib": max(memory, 0), "vcpus": len(os.sched_getaffinity(0))}


def check_request(memory_mib: int, vcpus: int) -> None:
    capacity = host_capacity()
    if not MIN_MEMORY_MIB <= memory_mib <= capacity["memory_mib"]:
        raise VMRequestError(
            f"guest memory {memory_mib} MiB is outside {MIN_MEMORY_MIB}–"
            f"{capacity['memory_mib']} MiB (what this host can give now)"
        )
    if not 1 <= vcpus <= capacity["vcpus"]:
        raise VMRequestError(f"{vcpus} vCPUs asked; this host has {capacity['vcpus']} cores")


@cache
def host_tsc_khz() -> int | None:
    """The host CPU's clock in kHz from /proc/cpuinfo (its TSC rate on constant-TSC CPUs)."""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("cpu MHz"):
                    return int(float(line.split(":", 1)[1]) * 1000)
    except (OSError, ValueError):
        pass
    return None


def qemu_argv(
    *,
    process_name: str,
    accelerator: str,
    machine: str,
    memory_mib: int,
    vcpus: int,
    serial: str | None,
    qmp: str | None,
    control: str | None = None,
    oneshot: bool = False,
    extra_cmdline: str = "",
    extra_args: tuple[str, ...] = (),
    modules: tuple[str, ...] = (),
    memory_file: str | None = None,
    memory_shared: bool = False,
    incoming: bool = False,
    terminal: str | None = None,
) -> list[str]:
    """The QEMU command line; ``serial`` (the console), ``control`` (the command channel,
    a second serial port) and ``qmp`` are unix socket paths (None: stdio/none/none).
    ``memory_file``: guest RAM mapped from that file, written through when
    ``memory_shared``, copy-on-write otherwise; ``incoming``: wait for a saved state
    instead of booting (both for snapshots, vm_snapshots.py). ``terminal``: a third
    serial port on that unix socket, for an interactive shell (vm_terminals.py)."""
    cmdline = "console=ttyS0 quiet panic=-1"
    if machine == "microvm":
        cmdline += " pci=off"  # microvm has no PCI; saves a probe at every boot
    if accelerator == "tcg" and (khz := host_tsc_khz()):
        # Under TCG the guest's TSC ticks at the host's rate, but the kernel's early
        # calibration against the emulated PIT fails when the host is busy (vCPU stalls
        # spoil every sample; microvm has no HPET/PM timer to fall back on) and the
        # guest then hangs with no clocksource. Telling it the rate skips that;
        # tsc=reliable stops the jiffies-based watchdog (itself skewed by the same
        # stalls) from later demoting the TSC, so guest-clock timings stay host-true.
        cmdline += f" tsc_early_khz={khz} tsc=reliable"
    if oneshot:
        cmdline += " virtlab.mode=oneshot"
    if modules:
        unknown = set(modules) - set(guest_modules.WANTED)
        if unknown:
            raise VMRequestError(f"no such guest module: {', '.join(sorted(unknown))}")
        cmdline += " virtlab.modules=" + ",".join(modules)
    initrd = (
        guest_assets.initramfs_with_modules_path() if modules else guest_assets.initramfs_path()
    )
    if extra_cmdline:
        cmdline += " " + extra_cmdline
    argv = [
        "qemu-system-x86_64",
        "-name",
        f"{process_name},process={process_name}",
        "-M",
        f"{machine},memory-backend=vlram" if memory_file else machine,
        "-accel",
        accelerator,
        "-cpu",
        "host" if accelerator == "kvm" else "max",
        "-m",
        str(memory_mib),
        "-smp",
        str(vcpus),
        "-nodefaults",
        "-no-user-config",
        "-nographic",
        "-no-reboot",  # panic=-1 and reboot both end QEMU instead of looping
        "-kernel",
        str(guest_assets.kernel_path()),
        "-initrd",
        str(initrd),
        "-append",
        cmdline,
    ]
    if serial:
        # wait=on: QEMU starts the guest only once we listen, so no output is lost.
        argv += ["-chardev", f"socket,id=ser0,path={serial},server=on,wait=on"]
        argv += ["-serial", "chardev:ser0"]
    else:
        argv += ["-serial", "stdio"]
    if control:
        # COM2's address and interrupt, where the guest kernel looks for ttyS1.
        argv += ["-chardev", f"socket,id=ctl0,path={control},server=on,wait=on"]
        argv += ["-device", "isa-serial,chardev=ctl0,iobase=0x2f8,irq=3"]
    if terminal:
        # COM3, where the guest kernel looks for ttyS2; nobody need be connected.
        argv += ["-chardev", f"socket,id=term0,path={terminal},server=on,wait=off"]
        argv += ["-device", "isa-serial,chardev=term0,iobase=0x3e8,irq=4"]
    if qmp:
        argv += ["-qmp", f"unix:{qmp},server=on,wait=off"]
    if memory_file:
        share = "on" if memory_shared else "off"
        argv += ["-object", f"memory-backend-file,id=vlram,size={memory_mib}M,"
                 f"mem-path={memory_file},share={share}"]  # fmt: skip
    if incoming:
        argv += ["-incoming", "defer"]
    return argv + list(extra_args)


def probe_boot(accelerator: str, timeout: float) -> dict:
    """Boot one oneshot guest under ``accelerator``; what happened, in plain terms
    (the probe accel.py decides with)."""
    started = time.monotonic()
    probe_id = adhoc_run_id()
    try:
        result = boot_vm(
            probe_id, VMOptions(accel=accelerator, name=f"probe-{accelerator}", timeout=timeout),
            oneshot=True,
        )  # fmt: skip
    except VMBootTimeout:
        return {"booted": False, "why": f"a probe guest did not boot in {timeout:g} s"}
    except (VMError, VMRequestError, OSError) as error:
        return {"booted": False, "why": f"a probe guest failed: {str(error)[:300]}"}
    finally:
        reaper.reap(only={probe_id})  # a hung probe's QEMU too; then the id is released
    return {
        "booted": True,
        "why": f"a probe guest booted in {result.boot_wall_seconds:.2f} s",
        "boot_wall_seconds": result.boot_wall_seconds,
        "seconds": round(time.monotonic() - started, 3),
    }


def decide_accelerator(refresh: bool = False) -> dict:
    """KVM or TCG for this host, and why (cached; see accel.py)."""
    return accel.decide(probe_boot, refresh=refresh)


def capabilities() -> list:
    """The doctor's "kvm" and "tcg" findings."""
    return accel.capabilities(probe_boot)


@cache
def _accelerator_decision(asked: str) -> tuple[str, str]:
    if asked in ("kvm", "tcg"):
        return asked, "asked for explicitly"
    decision = decide_accelerator()
    return decision["accelerator"], decision["reason"]


class VMHandle:
    """A running guest: run commands over serial, read its memory, use QMP, stop it."""

    def __init__(self, process: QemuProcess, result: VMBootResult) -> None:
        self.process = process
        self.boot = result
        self._qmp: QMPClient | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def scratch(self) -> os.PathLike:
        return self.process.scratch

    def alive(self) -> bool:
        return self.process.alive()

    def run(self, command: str, timeout: float = 30.0) -> tuple[int, str]:
        """Run ``command`` with busybox sh in the guest; return (exit status, output)."""
        payload = command.encode()
        if len(payload) > MAX_COMMAND_BYTES:
            raise VMRequestError(f"command longer than {MAX_COMMAND_BYTES} bytes")
        token = secrets.token_hex(4)
        guest_limit = max(1, math.ceil(timeout))
        encoded = base64.b64encode(payload).decode()
        self.process.control_send(f"RUN {token} {guest_limit} {encoded}\n")
        # The guest kills the command at its own limit; allow for the reply to travel.
        deadline = time.monotonic() + guest_limit + 5.0
        self.process.control_wait_line(f"VIRTLAB-BEGIN {token}", deadline)
        lines: list[str] = []
        kept = 0
        while True:
            try:
                line = self.process.control_read_line(deadline)
            except TimeoutError:
                raise VMError(
                    f"the guest did not finish the command within {timeout:g} s"
                ) from None
            match = END_RE.fullmatch(line)
            if match and match.group(1) == token:
                output = "\n".join(lines)
                if kept > OUTPUT_CAP:
                    output += f"\n[output truncated at {OUTPUT_CAP} bytes]"
                return int(match.group(2)), output
            kept += len(line) + 1
            if kept <= OUTPUT_CAP:
                lines.append(line)

    def open_terminal(self, shell: str = "/bin/sh -i", enter: str = ""):
        """An interactive shell on the guest's third serial port (``VMOptions(terminal=
        True)``); see vm_terminals.py."""
        from .vm_terminals import VMTerminal  # the terminal needs this module, not v.v.

        return VMTerminal(self, shell, enter)

    def memory(self) -> dict[str, int]:
        """RSS, peak RSS and PSS of the QEMU process now, in bytes."""
        return self.process.memory()

    def qmp(self, command: str, arguments: dict | None = None, timeout: float = 10.0):
        if self._qmp is None:
            self._qmp = QMPClient(self.process.qmp_path, timeout=timeout).connect()
        return self._qmp.execute(command, arguments, timeout=timeout)

    @property
    def qmp_client(self) -> QMPClient:
        if self._qmp is None:
            self._qmp = QMPClient(self.process.qmp_path).connect()
        return self._qmp

    def poweroff(self, timeout: float = 10.0) -> VMBootResult:
        """Ask the guest to power off; wait for QEMU to exit; fill in the exit figures."""
        token = secrets.token_hex(4)
        asked = time.monotonic()
        try:
            self.process.control_send(f"POWEROFF {token}\n")
            exited = self.process.wait_exit(timeout)
        finally:
            self.stop()
        if not exited:
            raise VMError(f"guest did not power off within {timeout} s (killed)")
        self._finish(asked)
        return self.boot

    def _finish(self, since: float) -> None:
        self.boot.poweroff_seconds = round(self.process.exited_at - since, 4)
        self.boot.total_wall_seconds = round(self.process.exited_at - self.process.started_at, 4)
        self.boot.peak_rss_bytes = max(self.boot.peak_rss_bytes, self.process.max_rss_bytes)

    def stop(self) -> None:
        """Kill QEMU's process group, remove its sockets, scratch dir and cgroup."""
        if self._qmp is not None:
            self._qmp.close()
            self._qmp = None
        self.process.reap()

    def __enter__(self) -> VMHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True, kw_only=True)
class VMOptions:
    """How to boot a guest. ``snapshot_disk_mib``: attach an empty qcow2 image of that
    size (not visible to the guest) so ``savevm``/``loadvm`` have somewhere to keep VM
    state. ``modules``: guest drivers to load at boot (e.g. ``("virtio_mmio",
    "virtio_blk")`` for a disk given in ``extra_args``; guest_modules.py)."""

    memory_mib: int = 128
    vcpus: int = 1
    accel: str = "auto"  # "kvm", "tcg", or "auto": the probed choice (accel.py)
    machine: str = "auto"  # "microvm", "q35", or "auto": microvm unless QEMU lacks it
    name: str = "vm0"
    timeout: float = 30.0  # to the boot marker; the guest is killed past it
    extra_cmdline: str = ""
    extra_args: tuple[str, ...] = ()
    snapshot_disk_mib: int = 0
    modules: tuple[str, ...] = ()
    # "cold": boot the kernel; "snapshot": restore a booted template of the same shape
    # (vm_snapshots.py; built on first use). A restored guest has no devices beyond the
    # template's, so it takes none of the options that add some.
    start: str = "cold"
    terminal: bool = False  # a third serial port for an interactive shell (open_terminal)


def start_vm(run_id: int, options: VMOptions = VMOptions()) -> VMHandle:
    """Boot a guest and keep it running: the caller must ``stop()`` the handle (or use
    it as a context manager). QEMU always runs in a cgroup that caps its memory, pids
    and CPU (``QemuLimits.for_guest``)."""
    return _boot(run_id, options, oneshot=False)


def boot_vm(
    run_id: int, options: VMOptions = VMOptions(), *, oneshot: bool = False
) -> VMBootResult:
    """Boot a guest, measure it, power it off and return the figures. ``oneshot``: the
    guest powers itself off at the marker (plain boot timing, no control round trip)."""
    handle = _boot(run_id, options, oneshot=oneshot)
    if oneshot:
        return handle.boot
    return handle.poweroff(options.timeout)


def _boot(run_id: int, options: VMOptions, *, oneshot: bool) -> VMHandle:
    if options.accel not in ("auto", "kvm", "tcg"):
        raise VMRequestError(f"unknown accelerator {options.accel!r}")
    if options.start not in ("cold", "snapshot"):
        raise VMRequestError(f"unknown start {options.start!r} (cold or snapshot)")
    # Modules are allowed: the snapshot's template boots with them loaded (they are
    # part of its shape), and a driver without its device costs nothing.
    if options.start == "snapshot" and (
        oneshot or options.extra_args or options.extra_cmdline or options.snapshot_disk_mib
    ):  # fmt: skip
        raise VMRequestError("a guest restored from a snapshot takes no devices, "
                             "kernel arguments or oneshot mode")  # fmt: skip
    check_request(options.memory_mib, options.vcpus)
    initrd = (
        guest_assets.initramfs_with_modules_path()
        if options.modules
        else guest_assets.initramfs_path()
    )
    for path in (guest_assets.kernel_path(), initrd):
        if not path.exists():
            raise VMError(f"{path} is missing: run {guest_assets.BUILD_HINT}")
    accelerator, reason = _accelerator_decision(options.accel)
    machines = MACHINES if options.machine == "auto" else (options.machine,)
    for index, candidate in enumerate(machines):
        try:
            return _boot_on(run_id, options, candidate, accelerator, reason, oneshot)
        except VMError as error:
            # Fall back only when QEMU refused the machine type outright.
            if index + 1 < len(machines) and "machine" in str(error).lower():
                continue
            raise
    raise AssertionError("unreachable")


def _boot_on(
    run_id: int,
    options: VMOptions,
    machine: str,
    accelerator: str,
    reason: str,
    oneshot: bool,
    template_ram: Path | None = None,
) -> VMHandle:
    """One boot on one machine type: a running handle, or (``oneshot``) a handle whose
    guest has already powered itself off and whose figures are final. ``template_ram``:
    boot a snapshot template, its RAM written through to that file."""
    if options.start == "snapshot":
        return _restore_on(run_id, options, machine, accelerator, reason)
    process_name = name_for(run_id, options.name)
    process = QemuProcess(run_id, process_name)
    extra_args = options.extra_args
    if options.snapshot_disk_mib:
        drive = f"if=none,id=snap0,file={process.disk_path},format=qcow2"
        extra_args = ("-drive", drive, *extra_args)
    argv = qemu_argv(
        process_name=process_name, accelerator=accelerator, machine=machine,
        memory_mib=options.memory_mib, vcpus=options.vcpus, serial=str(process.serial_path),
        control=str(process.control_path), qmp=str(process.qmp_path), oneshot=oneshot,
        extra_cmdline=options.extra_cmdline, extra_args=extra_args, modules=options.modules,
        memory_file=str(template_ram) if template_ram else None, memory_shared=True,
        terminal=str(process.terminal_path) if options.terminal else None,
    )  # fmt: skip
    limits = QemuLimits.for_guest(options.memory_mib, options.vcpus)
    timeout = options.timeout
    try:
        process.start(
            argv,
            limits=limits,
            deadline=time.monotonic() + timeout,
            disk_mib=options.snapshot_disk_mib,
        )
        line = process.control_wait_marker(MARKER_RE, time.monotonic() + timeout, timeout)
        marker_at = time.monotonic()
        result = _result(run_id, options, machine, accelerator, reason, process, line,
                         marker_at, limits)  # fmt: skip
    except BaseException:
        process.reap()
        raise
    handle = VMHandle(process, result)
    if oneshot:
        try:
            exited = process.wait_exit(timeout)
        finally:
            handle.stop()
        if not exited:
            raise VMError(f"oneshot guest did not power off within {timeout} s (killed)")
        handle._finish(marker_at)
    return handle


def _restore_on(
    run_id: int, options: VMOptions, machine: str, accelerator: str, reason: str
) -> VMHandle:
    """Start a guest from the snapshot of its shape (vm_snapshots.py), building the
    snapshot first when there is none; then give it its own name, token and randomness."""
    shape = vm_snapshots.Shape(
        accelerator, machine, options.memory_mib, options.vcpus, options.terminal,
        tuple(sorted(options.modules)),
    )  # fmt: skip

    def boot_template(ram_path: Path) -> VMHandle:
        # Named after the caller's run, so the run's reaper and the sweep of a dead
        # worker's runs find a template whose build was interrupted.
        template = replace(options, name="tpl", start="cold", timeout=TEMPLATE_TIMEOUT)
        return _boot_on(run_id, template, machine, accelerator, reason, False, ram_path)

    process_name = name_for(run_id, options.name)
    process = QemuProcess(run_id, process_name)
    limits = QemuLimits.for_guest(options.memory_mib, options.vcpus)
    timeout = options.timeout
    token, seed = secrets.token_hex(8), secrets.token_hex(32)
    client = None
    try:
        with vm_snapshots.ready(shape, boot_template) as (snapshot, built_seconds):
            argv = qemu_argv(
                process_name=process_name, accelerator=accelerator, machine=machine,
                memory_mib=options.memory_mib, vcpus=options.vcpus,
                serial=str(process.serial_path), control=str(process.control_path),
                qmp=str(process.qmp_path), memory_file=str(snapshot.ram_path),
                memory_shared=False, incoming=True,
                terminal=str(process.terminal_path) if options.terminal else None,
            )  # fmt: skip
            process.start(argv, limits=limits, deadline=time.monotonic() + timeout)
            try:
                client = QMPClient(process.qmp_path).connect(wait=timeout)
            except QMPError as error:
                raise VMError(f"QEMU's monitor did not answer: {error}") from error
            vm_snapshots.restore(client, snapshot, time.monotonic() + timeout)
        restored_at = time.monotonic()
        process.control_send(f"WAKE {token} {process_name} {seed}\n")
        line = process.control_wait_marker(MARKER_RE, time.monotonic() + timeout, timeout)
        marker_at = time.monotonic()
        reseed = RESEED_RE.search(line)
        if not reseed or reseed.group(1) != "0":
            raise VMError(f"the restored guest could not reseed its random generator ({line})")
        result = _result(run_id, options, machine, accelerator, reason, process, line,
                         marker_at, limits)  # fmt: skip
    except BaseException:
        if client is not None:
            client.close()
        process.reap()
        raise
    result.extra.update(
        start="snapshot",
        restored_seconds=round(restored_at - process.started_at, 4),  # spawn to running
        snapshot_built_seconds=built_seconds,  # None: the snapshot was ready
        hostname=process_name,
        token=token,
    )
    handle = VMHandle(process, result)
    handle._qmp = client
    return handle


def _result(
    run_id: int,
    options: VMOptions,
    machine: str,
    accelerator: str,
    reason: str,
    process: QemuProcess,
    marker_line: str,
    marker_at: float,
    limits: QemuLimits,
) -> VMBootResult:
    memory = process.memory()
    return VMBootResult(
        run_id=run_id,
        name=options.name,
        accelerator=accelerator,
        accelerator_reason=reason,
        machine=machine,
        memory_mib=options.memory_mib,
        vcpus=options.vcpus,
        qemu_version=qemu_version(),
        kernel_release=guest_assets.kernel_version(),
        boot_wall_seconds=round(marker_at - process.started_at, 4),
        guest_uptime_seconds=float(MARKER_RE.search(marker_line).group(1)),
        rss_bytes_at_boot=memory["rss_bytes"],
        pss_bytes_at_boot=memory["pss_bytes"],
        peak_rss_bytes=memory["peak_rss_bytes"],
        cgroup_memory_bytes=limits.memory_bytes,
        extra={"start": "cold"},
    )
