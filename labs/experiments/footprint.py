"""footprint: how much host memory and disk a container costs against a VM.

Starts k = 1..K idle containers, all kept alive together, and after each start
measures the host memory of all of them; then the same with k = 1..K QEMU guests.
Memory is read from the host: each container's processes (RSS and PSS from /proc)
and its cgroup's charge; each VM's QEMU process (RSS and PSS). The on-disk size of
what each boots from is measured too: the container's busybox root filesystem
against the guest kernel plus initramfs.
"""

from __future__ import annotations

import time

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labs.sandbox import container_assets, containers, guest_assets, vms
from labs.sandbox.limits import Limits

from .base import NEEDS_CONTAINERS, NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .charts import SERIES_COLOURS, base_layout
from .guests import (
    MIB,
    MIN_GUEST_MIB,
    VM_BOOT_TIMEOUT,
    boot_kept_vm,
    kept_alive,
    process_memory,
    stopping,
)
from .stats import ratio_or_none, rounded

# An idle shell with a child, like the guest's init waiting on its console. The
# trailing ":" stops the shell from exec'ing sleep, so both processes stay.
CONTAINER_ARGV = ["/bin/sh", "-c", "sleep 3600; :"]
CONTAINER_SETTLE_SECONDS = 0.2
VM_SETTLE_SECONDS = 0.5  # the guest's init finishes its first steps after the marker
MAX_GUEST_MIB = 256
SERIES_LABELS = {"container": "containers", "vm": "VMs (QEMU)"}


def _max_instances() -> int:
    """At most 6, and only as many of the largest guests as the host can hold now."""
    per_vm = MAX_GUEST_MIB + vms.QEMU_OVERHEAD_MIB
    return max(1, min(6, vms.host_capacity()["memory_mib"] // per_vm))


PARAMS = (
    Param("max_instances", "Instances (K)", 3, 1, _max_instances,
          "Start 1, 2, … K containers and then 1, 2, … K VMs, all kept running together "
          "(at most 6, and no more VMs than this host's free memory holds)."),
    Param("vm_memory_mib", "Guest memory", 128, MIN_GUEST_MIB, MAX_GUEST_MIB,
          f"RAM given to each VM, {MIN_GUEST_MIB}–{MAX_GUEST_MIB} MiB (the guest kernel "
          f"needs about 80 MiB to boot at all).", "MiB"),
)  # fmt: skip


def _container_limits(params: dict) -> Limits:
    # Wall limit: the whole run's deadline, so a crashed worker never leaves them idling.
    return Limits(wall_seconds=_max_seconds(params), memory_mib=32, pids=8, output_bytes=1024)


def _disk_samples() -> list[dict]:
    guest = guest_assets.footprint()
    sizes = (
        ("container", "busybox root filesystem", container_assets.rootfs_size_bytes()),
        ("vm", "guest kernel", guest["kernel_bytes"]),
        ("vm", "guest initramfs", guest["initramfs_bytes"]),
    )
    return [
        {"kind": "disk", "series": series, "item": item, "size_mib": rounded(size / MIB, 3)}
        for series, item, size in sizes
    ]


def _container_memory(handles: list[containers.ContainerHandle]) -> dict:
    rss = pss = charged = 0
    charged_known = True
    for handle in handles:
        for pid in handle.group.pids():
            memory = process_memory(pid)
            rss += memory["rss_bytes"]
            pss += memory["pss_bytes"]
        current = handle.memory_bytes()
        charged_known = charged_known and current is not None
        charged += current or 0
    return {"rss": rss, "pss": pss, "cgroup": charged if charged_known else None}


def _memory_sample(series: str, k: int, memory: dict, detail: str, **extra) -> dict:
    cgroup = memory.get("cgroup")
    return {
        "kind": "memory",
        "series": series,
        "instances": k,
        "rss_mib": rounded(memory["rss"] / MIB, 2),
        "pss_mib": rounded(memory["pss"] / MIB, 2),
        "cgroup_mib": None if cgroup is None else rounded(cgroup / MIB, 2),
        "pss_mib_per_instance": rounded(memory["pss"] / MIB / k, 3),
        "detail": detail,
        **extra,
    }


def run(params: dict, ctx: RunContext):
    count, guest_mib = params["max_instances"], params["vm_memory_mib"]
    needed = count * (guest_mib + vms.QEMU_OVERHEAD_MIB)
    if needed > vms.host_capacity()["memory_mib"]:
        raise RuntimeError(
            f"{count} VMs of {guest_mib} MiB need about {needed} MiB; this host can spare "
            f"{vms.host_capacity()['memory_mib']} MiB now. Choose fewer instances."
        )
    for sample in _disk_samples():
        yield Sample(sample)
    runtime = containers.choose_runtime()
    steps = 2 * count
    with kept_alive() as running:
        for k in range(1, count + 1):
            if ctx.should_stop():
                yield from stopping()
                return
            yield Progress(f"starting container {k} of {count}", (k - 1) / steps)
            running.append(
                containers.start_container(
                    ctx.run_id,
                    CONTAINER_ARGV,
                    _container_limits(params),
                    runtime=runtime,
                    name=f"c{k}",
                )  # fmt: skip
            )
            time.sleep(CONTAINER_SETTLE_SECONDS)
            memory = _container_memory(running)
            yield Sample(
                _memory_sample("container", k, memory, containers.runtime_version(runtime))
            )
    # The containers are gone before the first VM boots, so neither skews the other.
    with kept_alive() as running:
        for k in range(1, count + 1):
            if ctx.should_stop():
                yield from stopping()
                return
            yield Progress(f"booting VM {k} of {count}", (count + k - 1) / steps)
            # Booted, not restored: a restored guest's memory is partly the snapshot's
            # page cache, shared with every other guest restored from it.
            handle, attempts = boot_kept_vm(
                ctx.run_id, f"vm{k}", memory_mib=guest_mib, start="cold"
            )
            running.append(handle)
            time.sleep(VM_SETTLE_SECONDS)
            rss = pss = 0
            for vm in running:
                memory = vm.memory()
                rss, pss = rss + memory["rss_bytes"], pss + memory["pss_bytes"]
            boot = handle.boot
            detail = f"QEMU {boot.qemu_version} {boot.machine} {boot.accelerator}, {guest_mib} MiB"
            yield Sample(
                _memory_sample(
                    "vm",
                    k,
                    {"rss": rss, "pss": pss},
                    detail,
                    accelerator=boot.accelerator,
                    boot_attempts=attempts,
                )  # fmt: skip
            )


def _largest(samples: list[dict], series: str) -> dict | None:
    rows = [s for s in samples if s.get("kind") == "memory" and s["series"] == series]
    return max(rows, key=lambda s: s["instances"]) if rows else None


def _per_instance(row: dict | None, key: str) -> float | None:
    if row is None or row.get(key) is None:
        return None
    return row[key] / row["instances"]


def summarize(samples: list[dict], params: dict) -> dict:
    container, vm = _largest(samples, "container"), _largest(samples, "vm")
    container_pss = _per_instance(container, "pss_mib")
    vm_pss = _per_instance(vm, "pss_mib")
    disk = {s["item"]: s["size_mib"] for s in samples if s.get("kind") == "disk"}
    rootfs = disk.get("busybox root filesystem")
    guest_files = None
    if "guest kernel" in disk and "guest initramfs" in disk:
        guest_files = disk["guest kernel"] + disk["guest initramfs"]
    return {
        "vm_over_container_mib_per_instance": rounded(ratio_or_none(vm_pss, container_pss), 1),
        "container_mib_per_instance": rounded(container_pss, 3),
        "vm_mib_per_instance": rounded(vm_pss, 2),
        "container_rss_mib_per_instance": rounded(_per_instance(container, "rss_mib"), 3),
        "vm_rss_mib_per_instance": rounded(_per_instance(vm, "rss_mib"), 2),
        "container_cgroup_mib_per_instance": rounded(_per_instance(container, "cgroup_mib"), 3),
        "instances_measured": min(
            (row["instances"] for row in (container, vm) if row is not None), default=0
        ),
        "container_rootfs_mib": rootfs,
        "vm_kernel_initramfs_mib": rounded(guest_files, 3),
        "vm_over_container_disk": rounded(ratio_or_none(guest_files, rootfs), 1),
    }


def _memory_traces(fig: go.Figure, samples: list[dict]) -> None:
    for series in ("container", "vm"):
        rows = sorted(
            (s for s in samples if s.get("kind") == "memory" and s["series"] == series),
            key=lambda s: s["instances"],
        )
        if not rows:
            continue
        for key, dash, what in (("rss_mib", "solid", "RSS"), ("pss_mib", "dash", "PSS")):
            name = f"{SERIES_LABELS[series]} {what}"
            fig.add_trace(
                go.Scatter(
                    x=[s["instances"] for s in rows],
                    y=[s[key] for s in rows],
                    name=name,
                    mode="lines+markers",
                    line={"color": SERIES_COLOURS[series], "dash": dash},
                    marker={"size": 8, "symbol": "circle" if what == "RSS" else "diamond"},
                    hovertemplate="%{x} running: %{y:.2f} MiB<extra>" + name + "</extra>",
                ),
                row=1,
                col=1,
            )


def _disk_traces(fig: go.Figure, samples: list[dict]) -> None:
    # One bar per kind of instance; the VM's bar is stacked from its two files.
    colours = {
        "busybox root filesystem": SERIES_COLOURS["container"],
        "guest kernel": SERIES_COLOURS["vm"],
        "guest initramfs": "#f08c4a",
    }
    for row in (s for s in samples if s.get("kind") == "disk"):
        fig.add_trace(
            go.Bar(
                x=["container" if row["series"] == "container" else "VM"],
                y=[row["size_mib"]],
                name=row["item"],
                marker={"color": colours.get(row["item"], SERIES_COLOURS["host"])},
                hovertemplate="%{y:.2f} MiB<extra>" + row["item"] + "</extra>",
            ),
            row=1,
            col=2,
        )


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.66, 0.34],
        horizontal_spacing=0.12,
        subplot_titles=(
            "Host memory of k instances running together",
            "On disk: what each boots from",
        ),
    )
    _memory_traces(fig, samples)
    _disk_traces(fig, samples)
    fig.update_layout(barmode="stack", height=640)
    fig.update_xaxes(title="instances running together (k)", dtick=1, row=1, col=1)
    fig.update_xaxes(title="what is started", row=1, col=2)
    fig.update_yaxes(type="log", title="host memory, MiB (log scale)", row=1, col=1)
    fig.update_yaxes(title="on-disk size, MiB", row=1, col=2)
    title = "Footprint: host memory and disk per container and per VM"
    if ratio := summary.get("vm_over_container_mib_per_instance"):
        title += f" — a VM takes {ratio:g}× a container's memory (PSS)"
    base_layout(fig, title=title, host=host, yaxis_title="host memory, MiB (log scale)")
    # Two rows of legend sit between the title and the subplot titles.
    fig.update_layout(margin={"t": 170}, legend={"y": 1.06}, title={"y": 0.985, "yanchor": "top"})
    return fig


def _max_seconds(params: dict) -> float:
    count = params.get("max_instances", 3)
    return 60 + count * (2 * VM_BOOT_TIMEOUT + 10)


LAB = Lab(
    slug="footprint",
    title="Footprint: how many fit?",
    summary="Keep 1…K containers and 1…K virtual machines running and measure the host "
    "memory and disk each one costs.",
    explanation=(
        "A container is a few ordinary processes, so it costs the host roughly what those "
        "processes touch. A VM is a QEMU process holding a guest kernel and the guest RAM "
        "it has used, so each one costs far more. This lab keeps 1, 2, … K of each running "
        "at once and reads the host's view after every start.\n\n"
        "What is counted: **RSS** is memory resident for the processes, with shared pages "
        "counted in full for each; **PSS** splits each shared page between the processes "
        "sharing it, so PSS adds up across instances. For a container these are its shell "
        "and `sleep` (busybox, shared between all containers); its cgroup charge, also "
        "recorded, adds kernel memory and page cache charged to the group. For a VM they "
        "are the QEMU process: the guest RAM the guest has actually touched, QEMU itself "
        "and, under TCG, the translation cache of emulated code. The guest's RAM not yet "
        "touched costs nothing until it is. On disk, the container's root filesystem is "
        "one static busybox with links; the VM boots a whole kernel plus an initramfs."
    ),
    params=PARAMS,
    needs=NEEDS_CONTAINERS + NEEDS_VMS,
    columns=(
        Column("series", "Series"),
        Column("instances", "Instances running"),
        Column("item", "File"),
        Column("rss_mib", "Host RSS, all instances", "MiB"),
        Column("pss_mib", "Host PSS, all instances", "MiB"),
        Column("cgroup_mib", "cgroup charge, all instances", "MiB"),
        Column("pss_mib_per_instance", "PSS per instance", "MiB"),
        Column("size_mib", "On disk", "MiB"),
        Column("detail", "Runtime"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=_max_seconds,
    predict_keys=("vm_over_container_mib_per_instance",),
    summary_labels={
        "vm_over_container_mib_per_instance": "Host memory per VM ÷ per container (PSS)",
        "container_mib_per_instance": "Host memory per container, PSS (MiB)",
        "vm_mib_per_instance": "Host memory per VM, PSS (MiB)",
        "container_rss_mib_per_instance": "Host memory per container, RSS (MiB)",
        "vm_rss_mib_per_instance": "Host memory per VM, RSS (MiB)",
        "container_cgroup_mib_per_instance": "cgroup charge per container (MiB)",
        "instances_measured": "Instances running together (K)",
        "container_rootfs_mib": "Container root filesystem on disk (MiB)",
        "vm_kernel_initramfs_mib": "Guest kernel + initramfs on disk (MiB)",
        "vm_over_container_disk": "VM ÷ container, on disk",
    },
)
