"""limits: what a cgroup limit does to a container, and what vCPUs do for a VM.

Three measurements:

* memory — a hog grows its memory steadily in a container with a memory limit;
  the host reads the container's cgroup every ~50 ms until the kernel's OOM killer
  stops the hog at the limit;
* CPU — a busybox shell loop counts iterations for a fixed window in a container
  with a CPU quota of 10–75 % of one core, between two runs with a whole core;
  throughput is its count as a fraction of theirs;
* vCPUs — two such loops run side by side in a guest given 1 vCPU and then 2.
"""

from __future__ import annotations

import statistics
import time

from labs.sandbox import container_setup, containers, vms
from labs.sandbox.limits import Limits

from .base import NEEDS_CONTAINERS, NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .guests import MIB, RESTORED_NOTE, VM_BOOT_TIMEOUT, boot_kept_vm, kept_alive, stopping
from .limits_figure import cpu_fractions, figure
from .stats import ratio_or_none, rounded

QUOTAS = (10, 25, 50, 75)  # each between two runs at FULL_CORE
FULL_CORE = 100  # all a single-threaded loop can use
SAMPLE_EVERY = 0.05
HOG_STEPS = 48  # the hog reaches the limit in about this many 50 ms steps
HOG_WALL_SECONDS = 30.0
VM_MEMORY_MIB = 128
VM_WARM_UP_CENTIS = 30  # TCG translates the loop on its first run; not measured

# Busybox sh: count loop iterations until the window (in centiseconds of
# /proc/uptime) has passed, then print how many and how long it really took. All
# builtins, so nothing but the loop runs. The "1${frac} - 100" keeps a fraction
# like "08" from being read as octal.
CPU_LOOP = r"""centis() { read up idle < /proc/uptime; c=$(( ${up%.*} * 100 + 1${up#*.} - 100 )); }
burn() {
  centis; start=$c; n=0
  while :; do
    i=0; while [ $i -lt 200 ]; do i=$((i+1)); done
    n=$((n+200)); centis; [ $c -ge $((start + $1)) ] && break
  done
  echo "iterations=$n centis=$((c - start))"
}
"""

PARAMS = (
    Param("memory_limit_mib", "Memory limit", 64, 16, 256,
          "The container's cgroup memory limit, 16–256 MiB; the hog grows until it hits it.",
          "MiB"),
    Param("window_seconds", "Loop window", 1.0, 0.5, 3.0,
          "How long each CPU loop counts, 0.5–3 s (longer windows average out more noise).",
          "s", float),
    Param("include_vm", "Include the VM", 1, 0, 1,
          "Also run two loops in a VM with 1 and then 2 vCPUs (needs a 2-core host)."),
)  # fmt: skip


def parse_loops(output: str) -> list[tuple[int, int]]:
    """(iterations, centiseconds) of every loop that reported."""
    found = []
    for line in output.splitlines():
        fields = dict(part.split("=", 1) for part in line.split() if "=" in part)
        if "iterations" in fields and "centis" in fields:
            found.append((int(fields["iterations"]), int(fields["centis"])))
    return found


# --- memory ---------------------------------------------------------------------------


def _hog_argv(limit_mib: int) -> list[str]:
    # `tail -c N` keeps the last N bytes it read: with N beyond the limit it holds
    # everything, growing by one chunk per step. When the OOM killer kills tail,
    # head's next write fails and the loop ends.
    chunk = max(16 * 1024, (limit_mib * MIB) // HOG_STEPS)
    keep = 4 * limit_mib * MIB
    script = (
        f"while head -c {chunk} /dev/zero; do sleep {SAMPLE_EVERY}; done "
        f"| tail -c {keep} > /dev/null"
    )
    return ["/bin/sh", "-c", script]


def _oom_kills(handle: containers.ContainerHandle) -> int:
    # cgroup v1 counts a kill in the victim's own group (the runtime's leaf), v2 in ours.
    return handle.group.oom_kills() + handle.group.child(container_setup.OCI_LEAF).oom_kills()


def _memory_part(ctx: RunContext, limit_mib: int):
    limits = Limits(wall_seconds=HOG_WALL_SECONDS, memory_mib=limit_mib, pids=16, output_bytes=1024)
    with kept_alive() as running:
        handle = containers.start_container(ctx.run_id, _hog_argv(limit_mib), limits, name="hog")
        running.append(handle)
        started = time.monotonic()
        killed_at = None
        tick = 0
        while True:
            now = time.monotonic() - started
            current = handle.memory_bytes() or 0
            alive = handle.alive()
            if killed_at is None and _oom_kills(handle):
                killed_at = now
            yield Sample(
                {
                    "part": "memory",
                    "t_seconds": rounded(now, 3),
                    "memory_mib": rounded(current / MIB, 2),
                    "limit_mib": limit_mib,
                }
            )
            if not alive or now > HOG_WALL_SECONDS or ctx.should_stop():
                break
            tick += 1
            time.sleep(max(0.0, started + tick * SAMPLE_EVERY - time.monotonic()))
        peak = handle.peak_memory_bytes()
        kills = _oom_kills(handle)
    yield Sample(
        {
            "part": "memory-kill" if kills else "memory-end",
            "t_seconds": rounded(killed_at if killed_at is not None else now, 3),
            "memory_mib": None if peak is None else rounded(peak / MIB, 2),
            "limit_mib": limit_mib,
            "oom_kills": kills,
            "note": "OOM-killed at the limit (peak shown)"
            if kills
            else "the hog ended without an OOM kill",
        }
    )


# --- CPU ------------------------------------------------------------------------------


def _loop_in_container(run_id: int, quota: int, name: str, window_centis: int) -> dict:
    limits = Limits(wall_seconds=window_centis / 100 + 15, cpu_percent=quota, output_bytes=1024)
    result = containers.run_container(
        run_id, ["/bin/sh", "-c", f"{CPU_LOOP}burn {window_centis}"], limits, name=name
    )
    loops = parse_loops(result.stdout.decode(errors="replace"))
    if result.exit_code != 0 or not loops:
        raise RuntimeError(
            f"the CPU loop at {quota} % did not report (exit {result.exit_code}, stopped by "
            f"{result.stopped_by}): {result.stderr.decode(errors='replace')[:300]}"
        )
    iterations, centis = loops[0]
    elapsed = centis / 100
    return {
        "iterations": iterations,
        "elapsed_seconds": elapsed,
        "rate": iterations / elapsed,
        "cpu_seconds": result.cpu_seconds,
    }


def _cpu_sample(quota: int, loop: dict, reference: float | None = None) -> dict:
    return {
        "part": "cpu",
        "quota_percent": quota,
        "iterations": loop["iterations"],
        "elapsed_seconds": loop["elapsed_seconds"],
        "iterations_per_second": rounded(loop["rate"], 1),
        "reference_iterations_per_second": rounded(reference, 1),
        "fraction_of_full": rounded(ratio_or_none(loop["rate"], reference), 4),
        "cpu_seconds": rounded(loop["cpu_seconds"], 3),
        # CPU time granted ÷ wall time: what the quota allowed, read by the kernel.
        "cpu_share": rounded(ratio_or_none(loop["cpu_seconds"], loop["elapsed_seconds"]), 3),
        "note": "reference (a whole core)" if reference is None else "",
    }


def _cpu_part(ctx: RunContext, window_centis: int, first_step: int, steps: int):
    """Each quota run is bracketed by two full-core reference runs.

    This host's speed drifts (other tenants, clock changes) by tens of percent within
    seconds, so a quota run is compared with the mean of the reference runs just
    before and just after it, not with one run at the start. Running one loop at a
    time also keeps other work on a second core from skewing the pair.
    """
    before = _loop_in_container(ctx.run_id, FULL_CORE, "ref0", window_centis)
    yield Sample(_cpu_sample(FULL_CORE, before))
    for index, quota in enumerate(QUOTAS, start=1):
        if ctx.should_stop():
            yield from stopping()
            return
        yield Progress(f"CPU loop at a {quota} % quota", (first_step + index) / steps)
        capped = _loop_in_container(ctx.run_id, quota, f"cpu{index}", window_centis)
        after = _loop_in_container(ctx.run_id, FULL_CORE, f"ref{index}", window_centis)
        yield Sample(_cpu_sample(quota, capped, (before["rate"] + after["rate"]) / 2))
        yield Sample(_cpu_sample(FULL_CORE, after))
        before = after


# --- VM -------------------------------------------------------------------------------


def _vm_sample(run_id: int, vcpus: int, window_centis: int) -> dict:
    with kept_alive() as running:
        handle, attempts = boot_kept_vm(
            run_id, f"cpu{vcpus}", memory_mib=VM_MEMORY_MIB, vcpus=vcpus
        )
        running.append(handle)
        handle.run(f"{CPU_LOOP}burn {VM_WARM_UP_CENTIS}", timeout=10)
        status, output = handle.run(
            f"{CPU_LOOP}burn {window_centis} & burn {window_centis} & wait",
            timeout=window_centis / 100 + 15,
        )
    loops = parse_loops(output)
    if status != 0 or len(loops) != 2:
        raise RuntimeError(f"the loops in the {vcpus}-vCPU guest did not report: {output[:300]}")
    iterations = sum(n for n, _ in loops)
    elapsed = max(centis for _, centis in loops) / 100
    boot = handle.boot
    return {
        "part": "vm",
        "vcpus": vcpus,
        "iterations": iterations,
        "elapsed_seconds": elapsed,
        "iterations_per_second": rounded(iterations / elapsed, 1),
        "note": f"2 loops; QEMU {boot.qemu_version} {boot.machine} {boot.accelerator}",
        "boot_attempts": attempts,
    }


def run(params: dict, ctx: RunContext):
    window_centis = round(params["window_seconds"] * 100)
    include_vm = bool(params["include_vm"])
    host_cores = vms.host_capacity()["vcpus"]
    steps = 1 + len(QUOTAS) + (2 if include_vm else 0)
    yield Progress(f"memory hog under a {params['memory_limit_mib']} MiB limit", 0.0)
    yield from _memory_part(ctx, params["memory_limit_mib"])
    yield from _cpu_part(ctx, window_centis, 0, steps)
    if not include_vm:
        return
    if host_cores < 2:
        yield Sample(
            {
                "part": "note",
                "note": f"VM part skipped: 2 vCPUs need 2 host cores; this host has {host_cores}.",
            }  # fmt: skip
        )
        return
    for vcpus in (1, 2):
        if ctx.should_stop():
            yield from stopping()
            return
        yield Progress(f"two loops in a VM with {vcpus} vCPU(s)", (steps - 3 + vcpus) / steps)
        yield Sample(_vm_sample(ctx.run_id, vcpus, window_centis))


def summarize(samples: list[dict], params: dict) -> dict:
    fractions = cpu_fractions(samples)
    end = next((s for s in samples if s.get("part") in ("memory-kill", "memory-end")), None)
    vm = {s["vcpus"]: s["iterations_per_second"] for s in samples if s.get("part") == "vm"}
    notes = [s["note"] for s in samples if s.get("part") == "note"]

    def at(quota: int) -> float | None:
        return rounded(statistics.mean(fractions[quota]), 3) if quota in fractions else None

    return {
        "cpu_throughput_at_50_percent": at(50),
        "cpu_throughput_at_10_percent": at(10),
        "cpu_throughput_at_25_percent": at(25),
        "cpu_throughput_at_75_percent": at(75),
        "oom_killed": None if end is None else bool(end.get("oom_kills")),
        "memory_limit_mib": params.get("memory_limit_mib"),
        "memory_peak_mib": None if end is None else end.get("memory_mib"),
        "oom_kill_after_seconds": None
        if end is None or not end.get("oom_kills")
        else end["t_seconds"],  # fmt: skip
        "vm_two_vcpu_speedup": rounded(ratio_or_none(vm.get(2), vm.get(1)), 2),
        "vm_note": "; ".join(notes) or None,
    }


LAB = Lab(
    slug="limits",
    title="Limits: memory and CPU under cgroups, vCPUs in a VM",
    summary="Watch a container's memory hog get OOM-killed at its limit, a CPU loop slow "
    "down under quotas, and a VM's loops speed up with a second vCPU.",
    explanation=(
        "A container's limits are cgroup settings on the host kernel. A **memory limit** is "
        "a ceiling: when the group's memory reaches it and nothing can be reclaimed, the "
        "kernel's OOM killer kills a process in the group — here the hog, which holds in "
        "memory everything it reads, growing a little every 50 ms while the host reads "
        "the group's usage. A **CPU quota** is a budget per 100 ms period: at 25 % the "
        "loop may run 25 ms, then waits, so the work it gets done in a fixed window falls "
        "roughly in proportion. Throughput is the loop iterations the loop itself counted, "
        "as a fraction of the mean of two runs with a whole core, one just before and "
        "one just after (a shared host's speed drifts, so a single reference run at the "
        "start would not compare fairly). The table's CPU time ÷ wall time column is the "
        "kernel's own account of what the quota allowed; throughput can fall a little "
        "below it, because a throttled loop restarts with cold caches every period. "
        "A VM gets "
        "CPUs differently: each vCPU is a host thread, so two loops in a guest with one "
        "vCPU share it, and with two vCPUs (on a host with two cores) both run at once."
        "\n\n" + RESTORED_NOTE
    ),
    params=PARAMS,
    needs=NEEDS_CONTAINERS + NEEDS_VMS,
    columns=(
        Column("part", "Part"),
        Column("t_seconds", "Time", "s"),
        Column("memory_mib", "Container memory", "MiB"),
        Column("limit_mib", "Memory limit", "MiB"),
        Column("quota_percent", "CPU quota", "%"),
        Column("vcpus", "vCPUs"),
        Column("iterations", "Loop iterations"),
        Column("elapsed_seconds", "Window", "s"),
        Column("iterations_per_second", "Throughput", "iterations/s"),
        Column("reference_iterations_per_second", "Whole core, before/after", "iterations/s"),
        Column("fraction_of_full", "Fraction of a whole core's"),
        Column("cpu_share", "CPU time ÷ wall time"),
        Column("note", "Note"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: (
        60
        + HOG_WALL_SECONDS
        + (2 * len(QUOTAS) + 1) * (params.get("window_seconds", 1.0) + 5)
        + 2 * (2 * VM_BOOT_TIMEOUT + params.get("window_seconds", 1.0) + 15)
    ),  # fmt: skip
    predict_keys=("cpu_throughput_at_50_percent",),
    summary_labels={
        "cpu_throughput_at_50_percent": "Throughput at a 50 % quota (fraction of a whole core's)",
        "cpu_throughput_at_10_percent": "Throughput at a 10 % quota (fraction of 100 %)",
        "cpu_throughput_at_25_percent": "Throughput at a 25 % quota (fraction of 100 %)",
        "cpu_throughput_at_75_percent": "Throughput at a 75 % quota (fraction of 100 %)",
        "oom_killed": "Hog OOM-killed",
        "memory_limit_mib": "Memory limit (MiB)",
        "memory_peak_mib": "Peak container memory (MiB)",
        "oom_kill_after_seconds": "OOM kill after (s)",
        "vm_two_vcpu_speedup": "VM: 2 vCPUs ÷ 1 vCPU throughput (two loops)",
        "vm_note": "VM note",
    },
)
