"""boot-race: how long a container takes to start against how long a VM takes to boot.

Containers run ``echo`` in a fresh busybox container (start = request → the first
byte it prints); VMs boot the busybox initramfs under QEMU (boot = spawn → the init
marker on the control channel); restored VMs start from a snapshot of a booted guest
(spawn → the same marker, sent once the guest has its own name and randomness;
vm_snapshots.py). Bubblewrap is a further series where it works.
"""

from __future__ import annotations

import plotly.graph_objects as go

from labs.sandbox import containers, vms
from labs.sandbox.limits import Limits

from .base import NEEDS_CONTAINERS, NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .charts import SERIES_COLOURS, base_layout, log_range
from .guests import MIN_GUEST_MIB, VM_BOOT_TIMEOUT, boot_with_retry
from .stats import median_or_none, ratio_or_none, rounded

CONTAINER_ARGV = ["/bin/sh", "-c", "echo started"]
CONTAINER_LIMITS = Limits(wall_seconds=20, memory_mib=64, pids=32, output_bytes=4096)
SERIES_LABELS = {
    "container": "container (runc)",
    "bwrap": "container (bwrap)",
    "vm": "VM (QEMU)",
    "vm-restored": "VM restored from a snapshot",
}


def _vm_memory_ceiling() -> int:
    return max(MIN_GUEST_MIB, min(512, vms.host_capacity()["memory_mib"]))


PARAMS = (
    Param("repeats", "Repeats", 3, 1, 20, "How many containers and how many VMs to start, "
          "one after another (1–20)."),
    Param("vm_memory_mib", "Guest memory", 128, MIN_GUEST_MIB, _vm_memory_ceiling,
          f"RAM given to each VM, {MIN_GUEST_MIB}–512 MiB and never more than this host can "
          "spare (below that the guest kernel cannot unpack its initramfs).", "MiB"),
)  # fmt: skip


def _container_sample(run_id: int, runtime: str, series: str, repeat: int) -> dict:
    result = containers.run_container(
        run_id, CONTAINER_ARGV, CONTAINER_LIMITS, runtime=runtime, name=f"{series}{repeat}"
    )
    if result.exit_code != 0 or result.start_latency_seconds is None:
        raise RuntimeError(
            f"{series} {repeat + 1} did not start cleanly (exit {result.exit_code}, "
            f"stopped by {result.stopped_by}): {result.stderr.decode(errors='replace')[:300]}"
        )
    return {
        "series": series,
        "repeat": repeat + 1,
        "start_seconds": rounded(result.start_latency_seconds, 5),
        "total_seconds": rounded(result.wall_seconds, 5),
        "peak_memory_mib": rounded((result.peak_memory_bytes or 0) / 2**20, 2),
        "runtime": result.runtime_version or result.runtime,
        "guest_uptime_seconds": None,
    }


def _vm_sample(run_id: int, repeat: int, memory_mib: int) -> dict:
    result, attempts = boot_with_retry(run_id, f"vm{repeat}", memory_mib=memory_mib, oneshot=True)
    return {
        "series": "vm",
        "repeat": repeat + 1,
        "start_seconds": rounded(result.boot_wall_seconds, 4),
        "total_seconds": rounded(result.total_wall_seconds, 4),
        "peak_memory_mib": rounded(result.peak_rss_bytes / 2**20, 1),
        "runtime": f"QEMU {result.qemu_version} {result.machine} {result.accelerator}",
        "guest_uptime_seconds": rounded(result.guest_uptime_seconds, 3),
        "accelerator": result.accelerator,
        "boot_attempts": attempts,
    }


def _restored_sample(run_id: int, repeat: int, memory_mib: int) -> dict:
    handle, attempts = boot_with_retry(
        run_id, f"vr{repeat}", memory_mib=memory_mib, keep_running=True, start="snapshot"
    )
    handle.stop()  # ready is all this lab times
    result = handle.boot
    built = result.extra.get("snapshot_built_seconds")
    return {
        "series": "vm-restored",
        "repeat": repeat + 1,
        "start_seconds": rounded(result.boot_wall_seconds, 4),
        "total_seconds": None,
        "peak_memory_mib": rounded(result.rss_bytes_at_boot / 2**20, 1),
        "runtime": f"QEMU {result.qemu_version} {result.machine} {result.accelerator}"
        + (f"; snapshot built first ({built:.1f} s, not counted)" if built else ""),
        # The guest clock carries on from the template's boot: not this start's figure.
        "guest_uptime_seconds": None,
        "accelerator": result.accelerator,
        "boot_attempts": attempts,
    }


def run(params: dict, ctx: RunContext):
    repeats = params["repeats"]
    series = [("container", containers.choose_runtime())]
    if containers.probe_runtime("bwrap")[0]:
        series.append(("bwrap", "bwrap"))
    total = repeats * (len(series) + 2)
    done = 0
    for name, runtime in series:
        for repeat in range(repeats):
            yield Progress(f"{SERIES_LABELS[name]} {repeat + 1} of {repeats}", done / total)
            yield Sample(_container_sample(ctx.run_id, runtime, name, repeat))
            done += 1
    for repeat in range(repeats):
        yield Progress(f"VM boot {repeat + 1} of {repeats}", done / total)
        yield Sample(_vm_sample(ctx.run_id, repeat, params["vm_memory_mib"]))
        done += 1
    for repeat in range(repeats):
        what = "restoring a VM from a snapshot"
        if repeat == 0:
            what += " (the first builds the snapshot with one boot, if there is none yet)"
        yield Progress(f"{what}: {repeat + 1} of {repeats}", done / total)
        yield Sample(_restored_sample(ctx.run_id, repeat, params["vm_memory_mib"]))
        done += 1


def summarize(samples: list[dict], params: dict) -> dict:
    def median(series: str) -> float | None:
        return median_or_none([s["start_seconds"] for s in samples if s["series"] == series])

    container, vm, bwrap = median("container"), median("vm"), median("bwrap")
    restored = median("vm-restored")
    accelerators = sorted({s.get("accelerator") for s in samples if s.get("accelerator")})
    return {
        "median_container_seconds": rounded(container, 5),
        "median_bwrap_seconds": rounded(bwrap, 5),
        "median_vm_seconds": rounded(vm, 4),
        "median_vm_restored_seconds": rounded(restored, 4),
        "vm_over_container_median": rounded(ratio_or_none(vm, container), 2),
        "restored_over_container_median": rounded(ratio_or_none(restored, container), 2),
        "vm_over_restored_median": rounded(ratio_or_none(vm, restored), 2),
        "accelerator": ", ".join(accelerators) or None,
    }


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = go.Figure()
    for series in ("container", "bwrap", "vm-restored", "vm"):
        values = [s["start_seconds"] for s in samples if s["series"] == series]
        if not values:
            continue
        fig.add_trace(
            go.Box(
                y=values,
                name=SERIES_LABELS[series],
                boxpoints="all",
                jitter=0.4,
                pointpos=0,
                marker={"color": SERIES_COLOURS[series], "size": 8},
                line={"color": SERIES_COLOURS[series]},
                hovertemplate="%{y:.4f} s<extra>" + SERIES_LABELS[series] + "</extra>",
            )
        )
    ratio = summary.get("vm_over_container_median")
    title = "Start latency: containers vs VMs"
    if ratio:
        title += f" — median VM boot is {ratio:g}× a container start"
    fig.update_yaxes(
        type="log",
        dtick=1,  # one label per decade
        range=log_range([s["start_seconds"] for s in samples]),
        title="seconds (log scale)",
    )
    return base_layout(fig, title=title, host=host, yaxis_title="seconds (log scale)")


LAB = Lab(
    slug="boot-race",
    title="Boot race: containers vs virtual machines",
    summary="Start the same tiny workload as containers and as QEMU virtual machines, and time both.",
    explanation=(
        "A container is a process the host kernel fences off, so starting one costs a "
        "few system calls and a runtime's bookkeeping. A virtual machine must boot a "
        "whole guest kernel first. This lab starts containers with an OCI runtime "
        "(and bubblewrap where it works) and boots QEMU guests one after another, "
        "then plots every start time on a log axis so both fit on one chart.\n\n"
        "The third kind of start skips the boot: a guest booted once is frozen into a "
        "snapshot (its memory as a file, its devices' state beside it), and each "
        "restored VM maps that memory copy-on-write and carries on from the moment of "
        "the snapshot. Before it reports ready it takes its own hostname and fresh "
        "random numbers, so no two restored guests are clones. This is how Firecracker "
        "and serverless platforms start functions fast. The first run on a host builds "
        "the snapshot with one boot, which is not counted."
    ),
    params=PARAMS,
    needs=NEEDS_CONTAINERS + NEEDS_VMS,
    columns=(
        Column("series", "Series"),
        Column("repeat", "Repeat"),
        Column("start_seconds", "Start / boot", "s"),
        Column("guest_uptime_seconds", "Guest uptime at init", "s"),
        Column("total_seconds", "Total incl. cleanup", "s"),
        Column("peak_memory_mib", "Peak memory", "MiB"),
        Column("runtime", "Runtime"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: (
        120 + params.get("repeats", 3) * (4 * VM_BOOT_TIMEOUT + 10)
    ),  # each VM may retry once; the snapshot's template boots once
    terminals=("container", "vm"),
    predict_keys=("vm_over_container_median",),
    summary_labels={
        "median_container_seconds": "Median container start (s)",
        "median_bwrap_seconds": "Median bubblewrap start (s)",
        "median_vm_seconds": "Median VM boot (s)",
        "median_vm_restored_seconds": "Median VM restore from a snapshot (s)",
        "vm_over_container_median": "VM boot ÷ container start (medians)",
        "restored_over_container_median": "VM restore ÷ container start (medians)",
        "vm_over_restored_median": "VM boot ÷ VM restore (medians)",
        "accelerator": "Accelerator",
    },
)
