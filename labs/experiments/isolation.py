"""isolation: what a process sees from the host, from a container and from a VM.

The same probes — kernel, hostname, PID 1, processes, network interfaces, mounts,
cgroup, memory, uptime, CPUs — are read on the host (by the worker itself, from
/proc: reads only, nothing is started), in a container (one busybox shell script)
and in a guest booted under QEMU (the same script over the serial console). The
container answers from the host's own kernel through its namespaces; the guest
answers from a kernel of its own.
"""

from __future__ import annotations

import os
import platform
import socket

import plotly.graph_objects as go

from labs.sandbox import containers
from labs.sandbox.limits import Limits

from .base import NEEDS_CONTAINERS, NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .charts import base_layout
from .guests import (
    MIN_GUEST_MIB,
    RESTORED_NOTE,
    VM_BOOT_TIMEOUT,
    boot_kept_vm,
    kept_alive,
    stopping,
)

MARK = "@@virtlab-probe "
OUTPUT_BYTES = 16 * 1024
LIST_SHOWN = 6  # list entries shown in a table cell; the count is always exact
CELL_CHARS = 400

# (key, label). The order is the table's.
PROBES = (
    ("kernel_release", "Kernel release (uname -r)"),
    ("kernel_build", "Kernel build (uname -v)"),
    ("hostname", "Hostname"),
    ("pid1", "PID 1 (its command name)"),
    ("processes", "Processes visible in /proc (kernel threads included)"),
    ("interfaces", "Network interfaces"),
    ("mounts", "Mounted filesystems"),
    ("cgroup", "Own cgroup (memory controller, or the unified one)"),
    ("memory_total_mib", "MemTotal in /proc/meminfo (MiB)"),
    ("uptime_seconds", "Kernel uptime (s; same = within a minute)"),
    ("cpus", "CPUs in /proc/cpuinfo"),
    ("uid_map", "User ids: inside → on the host (/proc/self/uid_map)"),
    ("seccomp", "System-call filter (Seccomp in /proc/self/status)"),
)

# Busybox sh; runs unchanged in the container and in the guest. Counting /proc
# entries with a shell glob starts no process, so the count is not inflated by the
# probe itself. Every section starts with MARK and its key.
PROBE_SCRIPT = r"""s() { echo "@@virtlab-probe $1"; }
s kernel_release; uname -r
s kernel_build; uname -v
s hostname; hostname
s pid1; cat /proc/1/comm
s processes; n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n
s interfaces; awk -F: 'NR>2 {gsub(/ /, "", $1); print $1}' /proc/net/dev
s mounts; awk '{print $2 " (" $3 ")"}' /proc/mounts
s cgroup; cat /proc/self/cgroup
s memory_total_mib; awk '/^MemTotal:/ {print int($2 / 1024)}' /proc/meminfo
s uptime_seconds; cut -d' ' -f1 /proc/uptime
s cpus; grep -c ^processor /proc/cpuinfo
s uid_map; cat /proc/self/uid_map
s seccomp; awk '/^Seccomp:/ {print $2}' /proc/self/status
s end
"""

PARAMS = (
    Param("vm_memory_mib", "Guest memory", 128, MIN_GUEST_MIB, 256,
          f"RAM given to the VM, {MIN_GUEST_MIB}–256 MiB; the guest's MemTotal is this "
          f"less what its kernel keeps.", "MiB"),
)  # fmt: skip


def parse_probe_output(text: str) -> dict[str, list[str]]:
    """Sections of the probe script's output, by key; lines before the first mark are dropped."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.splitlines():
        if line.startswith(MARK):
            current = sections.setdefault(line[len(MARK) :].strip(), [])
        elif current is not None and line.strip():
            current.append(line.rstrip())
    return sections


# --- host probes: the worker reads its own view, nothing is started -------------------


def _read_lines(path: str) -> list[str]:
    try:
        with open(path) as handle:
            return handle.read().splitlines()
    except OSError:
        return []


def host_sections() -> dict[str, list[str]]:
    net = _read_lines("/proc/net/dev")[2:]
    meminfo = [line for line in _read_lines("/proc/meminfo") if line.startswith("MemTotal:")]
    cpuinfo = [line for line in _read_lines("/proc/cpuinfo") if line.startswith("processor")]
    mounts = [line.split() for line in _read_lines("/proc/self/mounts")]
    uptime = _read_lines("/proc/uptime")
    return {
        "kernel_release": [platform.release()],
        "kernel_build": [platform.version()],
        "hostname": [socket.gethostname()],
        "pid1": _read_lines("/proc/1/comm"),
        "processes": [str(sum(entry.isdigit() for entry in os.listdir("/proc")))],
        "interfaces": [line.split(":", 1)[0].strip() for line in net if ":" in line],
        "mounts": [f"{parts[1]} ({parts[2]})" for parts in mounts if len(parts) > 2],
        "cgroup": _read_lines("/proc/self/cgroup"),
        "memory_total_mib": [str(int(meminfo[0].split()[1]) // 1024)] if meminfo else [],
        "uptime_seconds": [uptime[0].split()[0]] if uptime else [],
        "cpus": [str(len(cpuinfo))],
        "uid_map": _read_lines("/proc/self/uid_map"),
        "seccomp": [
            line.split()[1]
            for line in _read_lines("/proc/self/status")
            if line.startswith("Seccomp:")
        ],
        "end": [],
    }


# --- turning sections into table cells --------------------------------------------------


def _cgroup_line(lines: list[str]) -> str:
    # v1 lists one line per hierarchy; the memory one says where limits apply.
    for wanted in (":memory:", "0::"):
        for line in lines:
            if wanted in line:
                return line
    return lines[0] if lines else "(none)"


SECCOMP_MODES = {"0": "none", "1": "strict", "2": "filter"}
ALL_IDS = 4294967295  # a uid_map line covering every id: the initial user namespace


def _uid_map_line(line: str) -> str:
    try:
        inside, outside, count = (int(part) for part in line.split())
    except ValueError:
        return line.strip()
    if count == ALL_IDS:
        return f"{inside} → {outside} (every id: no user namespace)"
    return f"{inside} → {outside} ({count} id{'s' if count != 1 else ''})"


def cell(key: str, lines: list[str]) -> str:
    if key == "uid_map":
        text = "; ".join(_uid_map_line(line) for line in lines) or "(none)"
    elif key == "seccomp":
        text = ", ".join(SECCOMP_MODES.get(line.strip(), line.strip()) for line in lines)
        text = text or "(none)"
    elif key in ("interfaces", "mounts"):
        shown = ", ".join(lines[:LIST_SHOWN])
        more = f", … ({len(lines) - LIST_SHOWN} more)" if len(lines) > LIST_SHOWN else ""
        text = f"{len(lines)}: {shown}{more}"
    elif key == "cgroup":
        text = _cgroup_line(lines)
    else:
        text = " ".join(lines) or "(none)"
    return text if len(text) <= CELL_CHARS else text[: CELL_CHARS - 1] + "…"


UPTIME_SAME_WITHIN = 60.0  # seconds: the probes run a few seconds apart


def _same(a: str | None, b: str | None, probe: str = "") -> bool | None:
    if a is None or b is None:
        return None
    if probe == "uptime_seconds":
        # Read moments apart, one kernel's uptime differs by those moments.
        try:
            return abs(float(a) - float(b)) < UPTIME_SAME_WITHIN
        except ValueError:
            return False
    return a == b


def rows(views: dict[str, dict[str, list[str]]]) -> list[dict]:
    """One sample per probe: the host, container and VM values side by side."""
    result = []
    for key, label in PROBES:
        values = {
            where: cell(key, sections[key]) if key in sections else None
            for where, sections in views.items()
        }
        result.append(
            {
                "probe": key,
                "label": label,
                "host": values.get("host"),
                "container": values.get("container"),
                "vm": values.get("vm"),
                "container_same_as_host": _same(values.get("container"), values.get("host"), key),
                "vm_same_as_host": _same(values.get("vm"), values.get("host"), key),
            }
        )
    return result


def _complete(sections: dict[str, list[str]], where: str, raw: str) -> dict[str, list[str]]:
    if "end" not in sections:
        raise RuntimeError(f"the {where} probe did not finish; its output began: {raw[:300]!r}")
    return sections


def _container_sections(run_id: int) -> dict[str, list[str]]:
    limits = Limits(wall_seconds=20, memory_mib=32, pids=16, output_bytes=OUTPUT_BYTES)
    result = containers.run_container(run_id, ["/bin/sh", "-c", PROBE_SCRIPT], limits, name="probe")
    raw = result.stdout.decode(errors="replace")
    if result.exit_code != 0:
        raise RuntimeError(
            f"the container probe failed (exit {result.exit_code}, stopped by "
            f"{result.stopped_by}): {result.stderr.decode(errors='replace')[:300]}"
        )
    return _complete(parse_probe_output(raw), "container", raw)


def run(params: dict, ctx: RunContext):
    views = {"host": host_sections()}
    yield Progress("probing a container", 0.1)
    views["container"] = _container_sections(ctx.run_id)
    if ctx.should_stop():
        yield from stopping()
        return
    yield Progress("booting a VM and probing it", 0.3)
    with kept_alive() as running:
        handle, attempts = boot_kept_vm(ctx.run_id, "vm", memory_mib=params["vm_memory_mib"])
        running.append(handle)
        status, output = handle.run(PROBE_SCRIPT, timeout=20)
    if status != 0:
        raise RuntimeError(f"the VM probe failed (exit {status}): {output[:300]}")
    views["vm"] = _complete(parse_probe_output(output), "VM", output)
    boot = handle.boot
    yield Progress("comparing", 0.9)
    for row in rows(views):
        if row["probe"] == "kernel_release":
            row["vm_detail"] = f"QEMU {boot.qemu_version} {boot.machine} {boot.accelerator}"
            row["boot_attempts"] = attempts
        yield Sample(row)


def _value(samples: list[dict], probe: str, where: str):
    return next((s.get(where) for s in samples if s.get("probe") == probe), None)


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def summarize(samples: list[dict], params: dict) -> dict:
    host, container, vm = (
        _value(samples, "kernel_release", w) for w in ("host", "container", "vm")
    )
    return {
        "container_processes_visible": _int_or_none(_value(samples, "processes", "container")),
        "container_shares_host_kernel": _same(container, host),
        "vm_shares_host_kernel": _same(vm, host),
        "host_kernel": host,
        "container_kernel": container,
        "vm_kernel": vm,
        "host_processes_visible": _int_or_none(_value(samples, "processes", "host")),
        "vm_processes_visible": _int_or_none(_value(samples, "processes", "vm")),
        "container_memory_total_mib": _int_or_none(
            _value(samples, "memory_total_mib", "container")
        ),
        "vm_memory_total_mib": _int_or_none(_value(samples, "memory_total_mib", "vm")),
        "container_root_on_host": _value(samples, "uid_map", "container"),
        "container_syscall_filter": _value(samples, "seccomp", "container"),
    }


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    def column(where: str) -> list[str]:
        return [s.get(where) or "—" for s in samples]

    def fill(where: str) -> list[str]:
        # Pale green where the value is the host's own: shared, not isolated.
        flags = [s.get(f"{where}_same_as_host") for s in samples]
        return ["#e6f4ea" if flag else "white" for flag in flags]

    fig = go.Figure(
        go.Table(
            columnwidth=[2.2, 3, 3, 3],
            header={
                "values": ["<b>probe</b>", "<b>host</b>", "<b>container</b>", "<b>VM</b>"],
                "fill_color": "#eef1f6",
                "align": "left",
            },
            cells={
                "values": [column("label"), column("host"), column("container"), column("vm")],
                "fill_color": [
                    ["white"] * len(samples),
                    ["white"] * len(samples),
                    fill("container"),
                    fill("vm"),
                ],  # fmt: skip
                "align": "left",
                "height": 26,
            },
        )
    )
    title = "Isolation: the same probes on the host, in a container, in a VM"
    if summary.get("container_shares_host_kernel"):
        title += " — the container runs on the host's kernel"
    fig.update_layout(height=max(480, 220 + 56 * len(samples)))
    return base_layout(fig, title=title, host=host, yaxis_title="")


LAB = Lab(
    slug="isolation",
    title="Isolation: what a container and a VM can see",
    summary="Ask the host, a container and a virtual machine the same questions about "
    "their kernel, processes, network and mounts.",
    explanation=(
        "Namespaces give a container its own hostname, process list, network interfaces "
        "and mounts, but every answer still comes from the host's kernel: `uname` in a "
        "container prints the host's kernel, and its uptime is the host's. A VM boots its "
        "own kernel, so it reports a different release, a fresh uptime and only the "
        "memory and CPUs it was given. Cells shaded green are identical to the host's.\n\n"
        "What is probed: the host column is read by the lab worker from its own /proc; "
        "the container and the VM run the same busybox script. The container's cgroup "
        "namespace shows its own group as `/`, and its /proc/meminfo shows the host's "
        "memory, not its limit. Process counts include kernel threads where the view "
        "has them (host, VM); a container's PID namespace shows only its own processes. "
        "The last two rows are the container's defences beyond namespaces: a user "
        "namespace maps its root (uid 0) to an unprivileged uid on the host, and a seccomp "
        "filter refuses the system calls a container never needs (lesson 9)."
        "\n\n" + RESTORED_NOTE
    ),
    params=PARAMS,
    needs=NEEDS_CONTAINERS + NEEDS_VMS,
    columns=(
        Column("label", "Probe"),
        Column("host", "Host"),
        Column("container", "Container"),
        Column("vm", "VM"),
        Column("container_same_as_host", "Container same as host"),
        Column("vm_same_as_host", "VM same as host"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: 60 + 2 * VM_BOOT_TIMEOUT + 30,
    terminals=("container", "vm"),
    predict_keys=("container_processes_visible", "container_shares_host_kernel"),
    summary_labels={
        "container_processes_visible": "Processes a container sees",
        "container_shares_host_kernel": "Container runs on the host's kernel",
        "vm_shares_host_kernel": "VM runs on the host's kernel",
        "host_kernel": "Host kernel",
        "container_kernel": "Kernel seen in the container",
        "vm_kernel": "Kernel seen in the VM",
        "host_processes_visible": "Processes the host sees",
        "vm_processes_visible": "Processes the VM sees",
        "container_memory_total_mib": "MemTotal seen in the container (MiB)",
        "vm_memory_total_mib": "MemTotal seen in the VM (MiB)",
        "container_root_on_host": "Container user ids on the host",
        "container_syscall_filter": "Container's system-call filter",
    },
)
