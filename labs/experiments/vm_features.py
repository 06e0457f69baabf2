"""vm-features: a snapshot round trip and a live migration, measured on real QEMU.

Snapshot: boot a guest with a qcow2 image to hold VM state, write a random token to
a file in the guest, ``savevm``, overwrite the file, ``loadvm``, read the file back:
the token must be there again, because the guest's RAM (where its /tmp lives) came
back with the snapshot (the guest has no disk: its files live in its RAM). Migration: live-migrate a running guest to a second, empty
QEMU process on the same host over 127.0.0.1 and read the token from the
destination. QEMU's own migration statistics give total time, downtime and bytes.
"""

from __future__ import annotations

import json

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from labs.sandbox import proc, vms
from labs.sandbox import vm_features as features
from labs.sandbox.vm_process import VMBootTimeout

from .base import NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .charts import SERIES_COLOURS, base_layout
from .guests import MIB, MIN_GUEST_MIB, VM_BOOT_TIMEOUT, stopping
from .stats import median_or_none, ratio_or_none, rounded

MAX_GUEST_MIB = 256
MB = 1_000_000  # QEMU counts migrated bytes; shown in decimal megabytes like its "mbps"
SNAPSHOT_COLOURS = {"savevm": SERIES_COLOURS["bwrap"], "loadvm": "#b197fc"}
MIGRATION_COLOURS = {"total": SERIES_COLOURS["host"], "downtime": SERIES_COLOURS["vm"]}


def _memory_ceiling() -> int:
    # A migration holds two guests at once (source and destination).
    spare = vms.host_capacity()["memory_mib"] // 2
    return max(MIN_GUEST_MIB, min(MAX_GUEST_MIB, spare))


PARAMS = (
    Param("repeats", "Repeats", 1, 1, 3,
          "How many snapshot round trips and how many migrations to measure, each on a "
          "freshly booted guest (1–3)."),
    Param("vm_memory_mib", "Guest memory", 128, MIN_GUEST_MIB, _memory_ceiling,
          f"RAM given to the guest, {MIN_GUEST_MIB}–{MAX_GUEST_MIB} MiB and no more than "
          "half of what this host can spare (a migration runs two copies at once).", "MiB"),
)  # fmt: skip


# Asked of a QEMU with no machine at all: the defaults every migration here starts from.
QMP_SETTINGS_QUERY = (
    b'{"execute":"qmp_capabilities"}\n{"execute":"query-migrate-parameters"}\n{"execute":"quit"}\n'
)


def migration_settings(run_id: int) -> dict:
    """QEMU's own pace for migrations: its bandwidth cap and the downtime it aims for."""
    argv = ["qemu-system-x86_64", "-M", "none", "-nodefaults", "-no-user-config",
            "-display", "none", "-qmp", "stdio"]  # fmt: skip
    result = proc.run(argv, run_id=run_id, wall_seconds=10, stdin=QMP_SETTINGS_QUERY)
    found: dict = {}
    for line in result.stdout.decode(errors="replace").splitlines():
        try:
            answer = json.loads(line).get("return")
        except ValueError:
            continue
        if isinstance(answer, dict) and "max-bandwidth" in answer:
            found = answer
    if not found:
        raise RuntimeError(
            "QEMU did not report its migration parameters: "
            + result.stderr.decode(errors="replace").strip()[:300]
        )
    return {
        "feature": "migration settings",
        "max_bandwidth_mb_s": rounded(found["max-bandwidth"] / MB, 1),
        "downtime_limit_ms": found.get("downtime-limit"),
    }


def with_retry(measure, run_id: int, memory_mib: int):
    """The driver's result and the attempts it took: a TCG boot occasionally hangs, so a
    timed-out boot is retried once, and the retry is reported, never hidden."""
    for attempt in (1, 2):
        try:
            return measure(run_id, memory_mib=memory_mib, timeout=VM_BOOT_TIMEOUT), attempt
        except VMBootTimeout:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


def snapshot_sample(run_id: int, repeat: int, memory_mib: int) -> dict:
    result, attempts = with_retry(features.snapshot_roundtrip, run_id, memory_mib)
    return {
        "feature": "snapshot",
        "repeat": repeat,
        "memory_mib": memory_mib,
        "savevm_seconds": result.save_seconds,
        "loadvm_seconds": result.load_seconds,
        "state_mib": rounded(result.vm_state_bytes / MIB, 2),
        "state_restored": result.restored,
        "accelerator": result.accelerator,
        "boot_attempts": attempts,
    }


def migration_sample(run_id: int, repeat: int, memory_mib: int) -> dict:
    result, attempts = with_retry(features.migrate_vm, run_id, memory_mib)
    if result.status != "completed":
        raise RuntimeError(f"the migration ended as {result.status!r}")
    return {
        "feature": "migration",
        "repeat": repeat,
        "memory_mib": memory_mib,
        "total_ms": result.total_ms,
        "downtime_ms": result.downtime_ms,
        "setup_ms": result.setup_ms,
        "transferred_mb": rounded(result.transferred_bytes / MB, 2),
        "host_wall_seconds": result.host_wall_seconds,
        "guest_alive_after": result.guest_alive_after,
        "accelerator": result.accelerator,
        "boot_attempts": attempts,
    }


def run(params: dict, ctx: RunContext):
    repeats, memory = params["repeats"], params["vm_memory_mib"]
    steps = [("snapshot", snapshot_sample), ("migration", migration_sample)]
    total = repeats * len(steps)
    done = 0
    yield Progress("reading QEMU's migration settings", 0.0)
    yield Sample(migration_settings(ctx.run_id))
    for repeat in range(1, repeats + 1):
        for name, measure in steps:
            if ctx.should_stop():
                yield from stopping()
                return
            what = "savevm/loadvm round trip" if name == "snapshot" else "live migration"
            yield Progress(f"{what} {repeat} of {repeats}", done / total)
            # Each driver call stops its own QEMU processes before returning or raising;
            # the runner's reaper removes by name whatever a crash would leave.
            yield Sample(measure(ctx.run_id, repeat, memory))
            done += 1


def _median(samples: list[dict], feature: str, key: str) -> float | None:
    return median_or_none([s[key] for s in samples if s.get("feature") == feature])


def _all(samples: list[dict], feature: str, key: str) -> bool | None:
    rows = [s for s in samples if s.get("feature") == feature]
    return all(s[key] for s in rows) if rows else None


def summarize(samples: list[dict], params: dict) -> dict:
    total = _median(samples, "migration", "total_ms")
    downtime = _median(samples, "migration", "downtime_ms")
    sent = _median(samples, "migration", "transferred_mb")
    accelerators = sorted({s["accelerator"] for s in samples if s.get("accelerator")})
    settings = next((s for s in samples if s.get("feature") == "migration settings"), {})
    return {
        "savevm_seconds": rounded(_median(samples, "snapshot", "savevm_seconds"), 4),
        "loadvm_seconds": rounded(_median(samples, "snapshot", "loadvm_seconds"), 4),
        "snapshot_state_mib": rounded(_median(samples, "snapshot", "state_mib"), 2),
        "snapshot_restored": _all(samples, "snapshot", "state_restored"),
        "migration_total_ms": rounded(total, 1),
        "migration_downtime_ms": rounded(downtime, 1),
        "migration_mb": rounded(sent, 2),
        "migration_mb_per_s": rounded(ratio_or_none(sent, total and total / 1000), 1),
        "downtime_fraction": rounded(ratio_or_none(downtime, total), 3),
        "guest_alive_after_migration": _all(samples, "migration", "guest_alive_after"),
        "qemu_max_bandwidth_mb_s": settings.get("max_bandwidth_mb_s"),
        "qemu_downtime_limit_ms": settings.get("downtime_limit_ms"),
        "guest_memory_mib": params.get("vm_memory_mib"),
        "accelerator": ", ".join(accelerators) or None,
    }


def figure(samples: list[dict], summary: dict, host: dict) -> go.Figure:
    fig = make_subplots(
        rows=1,
        cols=2,
        horizontal_spacing=0.12,
        subplot_titles=("Snapshot: save and restore the whole VM", "Live migration over 127.0.0.1"),
    )
    snapshots = [s for s in samples if s.get("feature") == "snapshot"]
    for step in ("savevm", "loadvm"):
        fig.add_trace(
            go.Bar(
                x=[f"repeat {s['repeat']}" for s in snapshots],
                y=[s[f"{step}_seconds"] for s in snapshots],
                name=step,
                marker={"color": SNAPSHOT_COLOURS[step]},
                texttemplate="%{y:.3f} s",
                textposition="outside",
                customdata=[s["state_mib"] for s in snapshots],
                hovertemplate="%{y:.3f} s (state %{customdata:.1f} MiB)<extra>" + step + "</extra>",
            ),
            row=1,
            col=1,
        )
    migrations = [s for s in samples if s.get("feature") == "migration"]
    for key, label in (("total_ms", "migration total"), ("downtime_ms", "guest paused (downtime)")):
        colour = MIGRATION_COLOURS["total" if key == "total_ms" else "downtime"]
        fig.add_trace(
            go.Bar(
                x=[f"repeat {s['repeat']}" for s in migrations],
                y=[s[key] for s in migrations],
                name=label,
                marker={"color": colour},
                texttemplate="%{y} ms",
                textposition="outside",
                customdata=[s["transferred_mb"] for s in migrations],
                hovertemplate="%{y} ms (%{customdata:.1f} MB sent)<extra>" + label + "</extra>",
            ),
            row=1,
            col=2,
        )
    settings = next((s for s in samples if s.get("feature") == "migration settings"), None)
    if settings and settings.get("downtime_limit_ms") and migrations:
        limit = settings["downtime_limit_ms"]
        fig.add_hline(
            y=limit,
            line={"dash": "dash", "color": MIGRATION_COLOURS["downtime"]},
            annotation_text=f"QEMU's downtime target: {limit} ms",
            annotation_position="top left",
            row=1,
            col=2,
        )
    fig.update_layout(barmode="group", height=520)
    fig.update_xaxes(title="snapshot round trip", row=1, col=1)
    fig.update_xaxes(title="migration", row=1, col=2)
    fig.update_yaxes(title="seconds", rangemode="tozero", row=1, col=1)
    fig.update_yaxes(title="milliseconds", rangemode="tozero", row=1, col=2)
    title = f"VM features of a {summary.get('guest_memory_mib') or '?'} MiB guest"
    if (fraction := summary.get("downtime_fraction")) is not None:
        title += f" — paused for {fraction:.0%} of the migration"
    base_layout(fig, title=title, host=host, yaxis_title="seconds")
    # The legend gets its own row between the title and the subplot titles.
    fig.update_layout(margin={"t": 140}, legend={"y": 1.08}, title={"y": 0.97, "yanchor": "top"})
    return fig


def _max_seconds(params: dict) -> float:
    # Each measurement may boot twice (one retry) and boots a second QEMU to migrate to.
    return 30 + params.get("repeats", 1) * 2 * (2 * VM_BOOT_TIMEOUT + 30)


LAB = Lab(
    slug="vm-features",
    title="VM features: snapshot and live migration",
    summary="Save and restore a running VM with savevm/loadvm, and live-migrate one between "
    "two QEMU processes, timing every step.",
    explanation=(
        "A VM is state a hypervisor can read and write, and two everyday features follow "
        "from that.\n\n"
        "**Snapshot.** `savevm` pauses the guest and writes its RAM, CPU and device state "
        "into a qcow2 image; `loadvm` puts it all back. To check that it really is the "
        "guest's state, the lab writes a random token to a file in the guest's `/tmp` (the "
        "guest has no disk, so its files live in its RAM) before `savevm`, overwrites it afterwards, and reads it back after "
        "`loadvm`: the token is there again. The state size is the image on disk after "
        "`savevm`, mostly the guest RAM the guest has touched (untouched pages are zero "
        "and cost almost nothing).\n\n"
        "**Live migration.** A second, empty QEMU process waits for an incoming migration, "
        "and the running guest is copied to it while it keeps running (pre-copy); only the "
        "last dirty pages and the CPU and device state move while it is paused. QEMU "
        "reports the total time, that pause (the downtime) and the bytes sent; the lab "
        "then reads the token from the destination to prove the guest arrived alive.\n\n"
        "Be careful with the numbers: both QEMU processes run on this one host and talk "
        "through a local socket, so the network is not the bottleneck it "
        "would be between two real hosts. What paces the copy here is QEMU itself: it "
        "caps a migration's bandwidth and pauses the guest once the rest could be sent "
        "within its downtime target; the lab reads both settings from QEMU and shows "
        "them. Between real hosts the link sets the pace instead (1 Gbit/s carries about "
        "125 MB a second), and a guest that keeps writing to its memory leaves more to "
        "send in the pause."
    ),
    params=PARAMS,
    needs=NEEDS_VMS,
    columns=(
        Column("feature", "Feature"),
        Column("repeat", "Repeat"),
        Column("memory_mib", "Guest memory", "MiB"),
        Column("savevm_seconds", "savevm", "s"),
        Column("loadvm_seconds", "loadvm", "s"),
        Column("state_mib", "Snapshot image after savevm", "MiB"),
        Column("state_restored", "State came back"),
        Column("total_ms", "Migration total (QEMU)", "ms"),
        Column("downtime_ms", "Downtime (QEMU)", "ms"),
        Column("setup_ms", "Setup (QEMU)", "ms"),
        Column("transferred_mb", "Sent", "MB"),
        Column("host_wall_seconds", "migrate → completed, host clock", "s"),
        Column("guest_alive_after", "Guest alive after"),
        Column("max_bandwidth_mb_s", "QEMU bandwidth cap", "MB/s"),
        Column("downtime_limit_ms", "QEMU downtime target", "ms"),
        Column("accelerator", "Accelerator"),
        Column("boot_attempts", "Boots needed"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=_max_seconds,
    predict_keys=("downtime_fraction",),
    summary_labels={
        "savevm_seconds": "savevm (s, median)",
        "loadvm_seconds": "loadvm (s, median)",
        "snapshot_state_mib": "Snapshot image after savevm (MiB)",
        "snapshot_restored": "Guest state came back after loadvm",
        "migration_total_ms": "Migration total (ms, median)",
        "migration_downtime_ms": "Migration downtime (ms, median)",
        "migration_mb": "Data sent during migration (MB)",
        "migration_mb_per_s": "Migration rate on this host (MB/s)",
        "downtime_fraction": "Downtime ÷ total migration time",
        "guest_alive_after_migration": "Guest alive on the destination",
        "qemu_max_bandwidth_mb_s": "QEMU's migration bandwidth cap (MB/s)",
        "qemu_downtime_limit_ms": "QEMU's downtime target (ms)",
        "guest_memory_mib": "Guest memory (MiB)",
        "accelerator": "Accelerator",
    },
)
