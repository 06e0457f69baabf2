"""sandboxed-containers: a container inside a VM (the Kata idea), measured.

The same workload — a busybox script that prints ``started`` and then what it can
see — is started five ways, each timed from the host's request to the workload's
output:

* ``container``: a runc container on the host;
* ``vm``: run directly in a freshly booted guest (boot + command);
* ``warm``: a container started inside a guest that is already running, as a pod's
  sandbox VM is reused for its next container (only the container is timed);
* ``cold``: a guest booted for the container, then the container inside it — the
  Kata path;
* ``restored``: the same, with the guest restored from a snapshot instead of booted
  (Kata's VM templating).

In-guest containers are namespaces plus a cgroup made by busybox
(labs/sandbox/guest_containers.py). Host memory is the PSS of the container's
processes or of QEMU. What the workload sees shows the boundary the VM adds: whose
kernel answers (the boot id is per kernel), PID 1, how many processes, and whether
the host's disks are listed in /proc/partitions.
"""

from __future__ import annotations

import time

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labs.sandbox import containers, vms
from labs.sandbox.guest_containers import container_script
from labs.sandbox.limits import Limits

from .base import NEEDS_CONTAINERS, NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .charts import SERIES_COLOURS, base_layout, log_range
from .guests import MIB, VM_BOOT_TIMEOUT, boot_with_retry, kept_alive, process_memory, stopping
from .stats import median_or_none, ratio_or_none, rounded

MODES = ("container", "warm", "restored", "vm", "cold")
MODE_LABELS = {
    "container": "container on the host",
    "vm": "workload in a booted VM",
    "warm": "container in a running VM",
    "cold": "VM boot + container (Kata)",
    "restored": "VM restore + container",
}
MODE_COLOURS = {
    "container": SERIES_COLOURS["container"],
    "vm": SERIES_COLOURS["vm"],
    "warm": "#1b7a43",
    "cold": "#b8860b",
    "restored": SERIES_COLOURS["vm-restored"],
}
GUEST_MIB = 128
IN_GUEST_LIMITS = {"memory_bytes": 32 * MIB, "pids": 32}
HOST_LIMITS = Limits(wall_seconds=20, memory_mib=32, pids=32, output_bytes=4096)
COMMAND_TIMEOUT = 60.0  # a busy TCG guest can take many seconds for a short script

# What the workload prints: "started" first, then one "key value" line per fact.
# Counting /proc entries with a glob starts no process, so the count is honest.
WORKLOAD = (
    "echo started; "
    'echo "kernel $(uname -r)"; '
    'echo "pid1 $(cat /proc/1/comm)"; '
    'n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "processes $n"; '
    'echo "boot_id $(cat /proc/sys/kernel/random/boot_id)"; '
    'echo "partitions $(awk \'NR>2 && $4 != ""\' /proc/partitions | wc -l)"'
)

PARAMS = (
    Param("repeats", "Repeats", 2, 1, 5, "How many times to start the workload each way "
          "(1–5); every VM start boots or restores a guest of its own."),
)  # fmt: skip


def host_boot_id() -> str:
    with open("/proc/sys/kernel/random/boot_id") as handle:
        return handle.read().strip()


def parse_workload(output: str) -> dict[str, str]:
    facts = {}
    lines = output.splitlines()
    if "started" not in lines:
        raise RuntimeError(f"the workload did not start; it printed {output[:300]!r}")
    for line in lines[lines.index("started") + 1 :]:
        key, _, value = line.partition(" ")
        if key in ("kernel", "pid1", "processes", "boot_id", "partitions"):
            facts[key] = value.strip()
    return facts


def _sample(mode: str, repeat: int, seconds: float, output: str, pss_bytes: int | None) -> dict:
    facts = parse_workload(output)
    return {
        "mode": mode,
        "label": MODE_LABELS[mode],
        "repeat": repeat + 1,
        "start_seconds": rounded(seconds, 4),
        "pss_mib": rounded(pss_bytes / MIB, 1) if pss_bytes else None,
        "kernel": facts.get("kernel"),
        "host_kernel_answers": facts.get("boot_id") == host_boot_id(),
        "pid1": facts.get("pid1"),
        "processes": int(facts["processes"]) if facts.get("processes", "").isdigit() else None,
        "host_disks_listed": int(facts.get("partitions") or 0),
    }


def _host_container(run_id: int, repeat: int) -> dict:
    result = containers.run_container(
        run_id, ["/bin/sh", "-c", WORKLOAD], HOST_LIMITS, name=f"host{repeat}"
    )
    if result.exit_code != 0 or result.start_latency_seconds is None:
        raise RuntimeError(
            f"the host container failed (exit {result.exit_code}, stopped by "
            f"{result.stopped_by}): {result.stderr.decode(errors='replace')[:300]}"
        )
    pss = _container_pss(run_id, repeat) if repeat == 0 else None
    output = result.stdout.decode(errors="replace")
    return _sample("container", repeat, result.start_latency_seconds, output, pss)


def _container_pss(run_id: int, repeat: int) -> int:
    """Host PSS of a container like the workload's, kept alive long enough to read."""
    argv = ["/bin/sh", "-c", "sleep 10"]
    with containers.start_container(run_id, argv, HOST_LIMITS, name=f"mem{repeat}") as handle:
        return sum(process_memory(pid)["pss_bytes"] for pid in handle.group.pids())


def _in_guest(handle: vms.VMHandle, name: str, workload: str) -> str:
    status, output = handle.run(
        container_script(name, workload, **IN_GUEST_LIMITS), timeout=COMMAND_TIMEOUT
    )
    if status != 0:
        raise RuntimeError(f"the container in the guest failed (exit {status}): {output[:300]}")
    return output


def _vm_start(run_id: int, mode: str, repeat: int) -> tuple[dict, int]:
    """Boot (or restore) a guest and run the workload in it, the whole timed."""
    start = "snapshot" if mode == "restored" else "cold"
    requested = time.monotonic()
    with kept_alive() as running:
        handle, attempts = boot_with_retry(
            run_id, f"{mode[:4]}{repeat}", memory_mib=GUEST_MIB, keep_running=True, start=start
        )
        running.append(handle)
        if mode == "vm":
            status, output = handle.run(WORKLOAD, timeout=COMMAND_TIMEOUT)
            if status != 0:
                raise RuntimeError(f"the workload failed in the guest (exit {status})")
        else:
            output = _in_guest(handle, f"c{repeat}", WORKLOAD)
        seconds = time.monotonic() - requested
        pss = handle.memory()["pss_bytes"]
    sample = _sample(mode, repeat, seconds, output, pss)
    # A restore that had to build its snapshot first timed a boot too: say so.
    sample["snapshot_built_seconds"] = handle.boot.extra.get("snapshot_built_seconds")
    return sample, attempts


def run(params: dict, ctx: RunContext):
    repeats = params["repeats"]
    total = repeats * len(MODES) + 1
    done = 0
    for repeat in range(repeats):
        yield Progress(f"container on the host, {repeat + 1} of {repeats}", done / total)
        yield Sample(_host_container(ctx.run_id, repeat))
        done += 1
    yield Progress("starting the VM the warm containers share (not timed)", done / total)
    with kept_alive() as running:
        pod_vm, _ = boot_with_retry(
            ctx.run_id, "pod", memory_mib=GUEST_MIB, keep_running=True, start="snapshot"
        )
        running.append(pod_vm)
        done += 1
        for repeat in range(repeats):
            if ctx.should_stop():
                yield from stopping()
                return
            yield Progress(f"container in the running VM, {repeat + 1} of {repeats}", done / total)
            requested = time.monotonic()
            output = _in_guest(pod_vm, f"w{repeat}", WORKLOAD)
            seconds = time.monotonic() - requested
            yield Sample(_sample("warm", repeat, seconds, output, pod_vm.memory()["pss_bytes"]))
            done += 1
    for mode in ("restored", "vm", "cold"):
        for repeat in range(repeats):
            if ctx.should_stop():
                yield from stopping()
                return
            yield Progress(f"{MODE_LABELS[mode]}, {repeat + 1} of {repeats}", done / total)
            sample, attempts = _vm_start(ctx.run_id, mode, repeat)
            sample["boot_attempts"] = attempts
            yield Sample(sample)
            done += 1


def _median(samples: list[dict], mode: str, key: str = "start_seconds") -> float | None:
    return median_or_none([s[key] for s in samples if s["mode"] == mode and s.get(key)])


def summarize(samples: list[dict], params: dict) -> dict:
    medians = {mode: _median(samples, mode) for mode in MODES}
    container = medians["container"]
    summary = {f"median_{mode}_seconds": rounded(medians[mode], 4) for mode in MODES}
    for mode in ("warm", "restored", "vm", "cold"):
        summary[f"{mode}_over_container"] = rounded(ratio_or_none(medians[mode], container), 1)
    for mode in MODES:
        summary[f"{mode}_pss_mib"] = rounded(_median(samples, mode, "pss_mib"), 1)

    def one(mode: str, key: str):
        return next((s.get(key) for s in samples if s["mode"] == mode), None)

    summary["container_sees_host_kernel"] = one("container", "host_kernel_answers")
    summary["sandboxed_sees_host_kernel"] = one("cold", "host_kernel_answers")
    summary["container_host_disks_listed"] = one("container", "host_disks_listed")
    summary["sandboxed_host_disks_listed"] = one("cold", "host_disks_listed")
    return summary


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        column_widths=[0.62, 0.38],
        subplot_titles=("Request → workload output (s, log scale)", "Host memory, PSS (MiB)"),
        horizontal_spacing=0.12,
    )
    present = [mode for mode in MODES if any(s["mode"] == mode for s in samples)]
    for mode in present:
        values = [s["start_seconds"] for s in samples if s["mode"] == mode]
        fig.add_trace(
            go.Box(
                # Categories on x (not only names), so a phone's layout can wrap them.
                x=[MODE_LABELS[mode]] * len(values),
                y=values,
                name=MODE_LABELS[mode],
                boxpoints="all",
                pointpos=0,
                marker={"color": MODE_COLOURS[mode], "size": 8},
                line={"color": MODE_COLOURS[mode]},
                hovertemplate="%{y:.4f} s<extra>" + MODE_LABELS[mode] + "</extra>",
                showlegend=False,
            ),
            row=1,
            col=1,
        )
    memory = [(mode, summary.get(f"{mode}_pss_mib")) for mode in present]
    memory = [(mode, value) for mode, value in memory if value]
    fig.add_trace(
        go.Bar(
            x=[MODE_LABELS[mode] for mode, _ in memory],
            y=[value for _, value in memory],
            marker={"color": [MODE_COLOURS[mode] for mode, _ in memory]},
            text=[f"{value:g}" for _, value in memory],
            textposition="outside",
            cliponaxis=False,
            hovertemplate="%{y} MiB<extra>%{x}</extra>",
            showlegend=False,
        ),
        row=1,
        col=2,
    )
    fig.update_yaxes(
        type="log", range=log_range([s["start_seconds"] for s in samples]), row=1, col=1
    )
    fig.update_yaxes(title="MiB", row=1, col=2)
    title = "Containers on the host and in VMs"
    if ratio := summary.get("cold_over_container"):
        title += f" — the Kata path took {ratio:g}× a host container"
    fig.update_layout(height=560)
    return base_layout(fig, title=title, host=host, yaxis_title="seconds (log scale)")


LAB = Lab(
    slug="sandboxed-containers",
    title="Sandboxed containers: a container inside a VM",
    summary="Start the same workload as a host container, inside a running VM, and in a "
    "VM started just for it (the Kata Containers path), and see what each costs and hides.",
    explanation=(
        "Kata Containers gives each pod a small VM of its own and runs the pod's "
        "containers inside it, so a container escape lands in a guest kernel, not the "
        "host's. This lab starts one small workload five ways and times each from the "
        "host's request to the workload's output: as a runc container on the host; "
        "directly in a freshly booted VM; as a container inside a VM that is already "
        "running (a pod's sandbox VM reused for its next container); as a container in a "
        "VM booted for it (the Kata path); and the same with the VM restored from a "
        "snapshot instead of booted (what Kata calls VM templating).\n\n"
        "The containers inside the guest are what a container is made of — namespaces "
        "and a cgroup with memory and pids limits — set up by the guest's busybox, not by "
        "a full runtime and agent as in Kata, so treat the in-VM container start as a "
        "lower bound. Memory is the host's proportional share (PSS) of the container's "
        "processes or of the VM's QEMU process; a restored VM's is smaller because the "
        "pages it has only read belong to the snapshot file, shared with every other VM "
        "restored from it. The table shows what the workload sees: "
        "whose kernel answered (the kernel's boot id is compared with the host's), its "
        "PID 1, how many processes it can see, and how many of the host's disks "
        "/proc/partitions lists, since that file is not namespaced."
    ),
    params=PARAMS,
    needs=NEEDS_CONTAINERS + NEEDS_VMS,
    columns=(
        Column("label", "Started as"),
        Column("repeat", "Repeat"),
        Column("start_seconds", "Request → output", "s"),
        Column("pss_mib", "Host PSS", "MiB"),
        Column("kernel", "Kernel it sees"),
        Column("host_kernel_answers", "Host's kernel answers"),
        Column("pid1", "PID 1"),
        Column("processes", "Processes visible"),
        Column("host_disks_listed", "Disks in /proc/partitions"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: 120 + params.get("repeats", 2) * 4 * (2 * VM_BOOT_TIMEOUT + 10),
    terminals=("container", "vm", "vm-container"),
    predict_keys=("cold_over_container", "warm_over_container"),
    summary_labels={
        "median_container_seconds": "Median container start on the host (s)",
        "median_warm_seconds": "Median container start in a running VM (s)",
        "median_restored_seconds": "Median VM restore + container (s)",
        "median_vm_seconds": "Median VM boot + workload (s)",
        "median_cold_seconds": "Median VM boot + container, the Kata path (s)",
        "warm_over_container": "Container in a running VM ÷ host container",
        "restored_over_container": "VM restore + container ÷ host container",
        "vm_over_container": "VM boot + workload ÷ host container",
        "cold_over_container": "Kata path ÷ host container",
        "container_pss_mib": "Host PSS of the host container (MiB)",
        "warm_pss_mib": "Host PSS of the running VM with its container (MiB)",
        "restored_pss_mib": "Host PSS of a restored VM with its container (MiB)",
        "vm_pss_mib": "Host PSS of a booted VM (MiB)",
        "cold_pss_mib": "Host PSS of a booted VM with its container (MiB)",
        "container_sees_host_kernel": "A host container is answered by the host's kernel",
        "sandboxed_sees_host_kernel": "A container in a VM is answered by the host's kernel",
        "container_host_disks_listed": "Host disks a host container sees listed",
        "sandboxed_host_disks_listed": "Host disks a container in a VM sees listed",
    },
)
