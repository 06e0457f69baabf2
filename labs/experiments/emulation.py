"""emulation: the same CPU loop natively, under qemu-user and inside a full VM.

The loop is a busybox shell arithmetic loop. Natively the host's x86-64 busybox runs
it; under qemu-user an aarch64 busybox runs it while QEMU translates every aarch64
instruction into x86-64 code; inside the VM the guest's own x86-64 busybox runs it,
so the only cost is whatever the accelerator adds: close to nothing with KVM, a
whole-system translation with TCG.
"""

from __future__ import annotations

import plotly.graph_objects as go

from labs.sandbox import emulation, vms

from .base import NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .charts import SERIES_COLOURS, base_layout
from .guests import RESTORED_NOTE, boot_kept_vm
from .stats import median_or_none, ratio_or_none, rounded

MODES = ("native", "qemu-user", "vm")
MODE_LABELS = {
    "native": "native x86-64",
    "qemu-user": "qemu-user (aarch64 on x86-64)",
    "vm": "inside a VM",
}


PARAMS = (
    Param("iterations", "Loop iterations", 100_000, 10_000, 1_000_000,
          "How many times the shell loop counts up (10 000–1 000 000). More iterations "
          "take longer but shrink the effect of start-up time."),
    Param("repeats", "Repeats", 3, 1, 5, "How often each way of running is measured (1–5)."),
    Param("include_vm", "Include the VM", 1, 0, 1,
          "Also run the loop inside a QEMU guest (adds a few seconds)."),
)  # fmt: skip


def _sample(mode: str, repeat: int, timing: emulation.WorkloadTiming) -> dict:
    return {
        "mode": mode,
        "label": MODE_LABELS[mode] + (f" ({timing.mode[3:]})" if mode == "vm" else ""),
        "repeat": repeat + 1,
        "iterations": timing.iterations,
        "wall_seconds": timing.wall_seconds,
        "cpu_seconds": timing.cpu_seconds,
        "clock": timing.clock,
        "accelerator": timing.mode[3:] if mode == "vm" else None,
    }


def run(params: dict, ctx: RunContext):
    iterations, repeats = params["iterations"], params["repeats"]
    guest = None
    try:
        if params["include_vm"]:
            yield Progress("booting a VM for the in-guest runs", 0.0)
            guest, _attempts = boot_kept_vm(ctx.run_id, "emu")
        steps = repeats * (3 if guest else 2)
        done = 0
        for repeat in range(repeats):
            yield Progress(f"native run {repeat + 1} of {repeats}", done / steps)
            yield Sample(_sample("native", repeat, emulation.run_native(iterations, ctx.run_id)))
            done += 1
            yield Progress(f"qemu-user run {repeat + 1} of {repeats}", done / steps)
            timing = emulation.run_qemu_user(iterations, ctx.run_id)
            yield Sample(_sample("qemu-user", repeat, timing))
            done += 1
            if guest is not None:
                yield Progress(f"in-VM run {repeat + 1} of {repeats}", done / steps)
                yield Sample(_sample("vm", repeat, emulation.run_in_vm(iterations, handle=guest)))
                done += 1
    finally:
        if guest is not None:
            guest.stop()


def summarize(samples: list[dict], params: dict) -> dict:
    medians = {
        mode: median_or_none([s["wall_seconds"] for s in samples if s["mode"] == mode])
        for mode in MODES
    }
    accelerators = sorted({s["accelerator"] for s in samples if s.get("accelerator")})
    vm_slowdown = ratio_or_none(medians["vm"], medians["native"])
    decision = vms.decide_accelerator()
    summary = {
        "median_native_seconds": rounded(medians["native"]),
        "median_qemu_user_seconds": rounded(medians["qemu-user"]),
        "median_vm_seconds": rounded(medians["vm"]),
        "qemu_user_slowdown": rounded(ratio_or_none(medians["qemu-user"], medians["native"]), 2),
        "vm_slowdown": rounded(vm_slowdown, 2),
        "vm_accelerator": ", ".join(accelerators) or None,
        "kvm_on_this_host": "usable" if decision.get("accelerator") == "kvm" else "not usable",
    }
    # The quiz's "TCG VM" prediction is scored only against a VM that really ran on TCG.
    if accelerators == ["tcg"]:
        summary["tcg_vm_slowdown"] = summary["vm_slowdown"]
    return summary


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = go.Figure()
    native = median_or_none([s["wall_seconds"] for s in samples if s["mode"] == "native"])
    for mode in MODES:
        values = [s["wall_seconds"] for s in samples if s["mode"] == mode]
        if not values:
            continue
        middle = median_or_none(values)
        factor = ratio_or_none(middle, native)
        label = next(s["label"] for s in samples if s["mode"] == mode)
        colour = SERIES_COLOURS["vm" if mode == "vm" else mode]
        fig.add_trace(
            go.Bar(
                x=[label],
                y=[middle],
                name=label,
                marker={"color": colour},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": [max(values) - middle],
                    "arrayminus": [middle - min(values)],
                },
                text=[f"{factor:.1f}×" if factor else ""],
                textposition="outside",
                hovertemplate="%{y:.3f} s (median of "
                + str(len(values))
                + ")<extra>"
                + label
                + "</extra>",
            )
        )
    fig.update_layout(showlegend=False, bargap=0.45)
    iterations = samples[0]["iterations"] if samples else 0
    base_layout(
        fig,
        title=f"The same shell loop ({iterations:,} iterations): time and slowdown vs native",
        host=host,
        yaxis_title="seconds (median; bars span min–max)",
    )
    return fig


LAB = Lab(
    slug="emulation",
    title="Emulation vs virtualization",
    summary="Time one CPU loop natively, translated by qemu-user, and inside a virtual machine.",
    explanation=(
        "Emulation translates every instruction of one architecture into another; "
        "virtualization lets the guest's instructions run on the real CPU and traps "
        "only the privileged ones. This lab runs the same busybox shell loop natively, "
        "as an aarch64 program under qemu-user, and inside a QEMU guest, and shows how "
        "many times slower each is. Hardware virtualization (KVM) would make the VM "
        "almost as fast as native; where KVM is not usable, the VM itself is emulated "
        "(TCG) and pays a translation cost too."
        "\n\n" + RESTORED_NOTE
    ),
    params=PARAMS,
    needs=("qemu-user", "aarch64-busybox", *NEEDS_VMS),
    columns=(
        Column("mode", "Mode"),
        Column("repeat", "Repeat"),
        Column("iterations", "Iterations"),
        Column("wall_seconds", "Wall time", "s"),
        Column("cpu_seconds", "CPU time", "s"),
        Column("clock", "Timed by"),
        Column("accelerator", "VM accelerator"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: (
        90 + params.get("repeats", 3) * params.get("iterations", 100_000) / 100_000 * 25
    ),
    predict_keys=("qemu_user_slowdown", "tcg_vm_slowdown"),
    summary_labels={
        "median_native_seconds": "Median native time (s)",
        "median_qemu_user_seconds": "Median qemu-user time (s)",
        "median_vm_seconds": "Median in-VM time (s)",
        "qemu_user_slowdown": "qemu-user ÷ native",
        "vm_slowdown": "VM ÷ native",
        "tcg_vm_slowdown": "TCG VM ÷ native",
        "vm_accelerator": "VM accelerator",
        "kvm_on_this_host": "KVM on this host",
    },
)
