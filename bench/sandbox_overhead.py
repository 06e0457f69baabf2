"""How much our sandbox drivers add to the bare tools.

Containers: ``containers.run_container`` (request → first output, request → return
with everything cleaned up) against ``runc run`` of the same bundle by hand (same
rootfs, namespaces, mounts and limits; spawn → first output, spawn → exit). VMs:
``bench/vm_overhead.py``'s ``bench_vms`` when it is there. Prints medians and
ours/by-hand ratios (aim ≤ 1.3× for containers).

    .venv/bin/python bench/sandbox_overhead.py [repeats]
"""

from __future__ import annotations

import ctypes
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    sys.path.insert(0, str(Path(__file__).resolve().parent))

from labs.sandbox import cgroups, container_assets, container_setup, containers, reaper  # noqa: E402
from labs.sandbox.limits import Limits  # noqa: E402
from labs.sandbox.naming import adhoc_run_id, name_for  # noqa: E402
from labs.sandbox.paths import scratch_root  # noqa: E402
from labs.sandbox.proc import sandbox_env  # noqa: E402

ARGV = ["sh", "-c", "echo READY"]
LIMITS = Limits(wall_seconds=30)


def _raw_bundle(run_id: int) -> tuple[Path, str]:
    """A bundle with the same config our driver writes, limits set on runc's own cgroup."""
    cid = name_for(run_id, "raw")
    bundle = scratch_root() / cid
    (bundle / "tmp").mkdir(parents=True)
    options = f"size={LIMITS.tmpfs_mib}m,mode=1777".encode()
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(b"tmpfs", os.fsencode(str(bundle / "tmp")), b"tmpfs", 6, options) != 0:
        raise OSError(ctypes.get_errno(), "mount tmpfs")
    config = container_assets.oci_config(
        argv=ARGV,
        limits=LIMITS,
        rootfs=container_assets.rootfs_dir(),
        tmp_dir=bundle / "tmp",
        hostname=cid,
        cgroups_path=f"/{cgroups.PARENT}/{cid}",
        env={"PATH": "/bin"},
    )
    container_assets.write_bundle(bundle, config)
    return bundle, cid


def _by_hand(bundle: Path, cid: str) -> tuple[float, float]:
    started = time.monotonic()
    child = subprocess.Popen(
        ["runc", "run", "--bundle", str(bundle), cid],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    child.stdout.read(1)
    first = time.monotonic() - started
    child.stdout.read()
    child.wait()
    return first, time.monotonic() - started


def _ours(run_id: int) -> tuple[float, float]:
    started = time.monotonic()
    result = containers.run_container(run_id, ARGV, LIMITS, runtime="runc")
    done = time.monotonic() - started
    if result.exit_code != 0:
        raise RuntimeError(f"container failed: {result.stderr!r}")
    return result.start_latency_seconds, done


def bench_containers(repeats: int = 15) -> list[dict]:
    """One row per measure: medians for our driver and by hand, and their ratio."""
    container_assets.build()
    run_id = adhoc_run_id()
    bundle, cid = _raw_bundle(run_id)
    samples: dict[str, list[float]] = {
        key: [] for key in ("ours_first", "ours_exit", "hand_first", "hand_exit")
    }
    try:
        _ours(run_id), _by_hand(bundle, cid)  # warm caches on both sides
        for index in range(repeats):
            # Alternate the order so drift on a busy host hits both sides alike.
            for side in ("ours", "hand") if index % 2 == 0 else ("hand", "ours"):
                first, done = _ours(run_id) if side == "ours" else _by_hand(bundle, cid)
                samples[f"{side}_first"].append(first)
                samples[f"{side}_exit"].append(done)
    finally:
        reaper.reap(only={run_id})
    rows = []
    for measure, label in (
        ("first", "request to first output"),
        ("exit", "request to exit (ours: cleaned up)"),
    ):
        ours = statistics.median(samples[f"ours_{measure}"])
        hand = statistics.median(samples[f"hand_{measure}"])
        rows.append(
            {
                "bench": f"container runc: {label}",
                "ours_seconds": round(ours, 4),
                "baseline_seconds": round(hand, 4),
                "ratio": round(ours / hand, 3),
                "repeats": repeats,
                "target_ratio": 1.3,
            }
        )
    return rows


def _bench_bwrap(repeats: int) -> list[dict]:
    """bwrap for reference: our driver against the same bwrap command line by hand."""
    run_id = adhoc_run_id()
    ours, hand = [], []
    try:
        for _ in range(repeats):
            started = time.monotonic()
            containers.run_container(run_id, ARGV, LIMITS, runtime="bwrap")
            ours.append(time.monotonic() - started)
            scratch = scratch_root() / name_for(run_id, "rawbw")
            (scratch / "tmp").mkdir(parents=True, exist_ok=True)
            command = container_setup.bwrap_argv(ARGV, scratch, "raw", sandbox_env(run_id), {})
            started = time.monotonic()
            subprocess.run(command, capture_output=True, check=True)
            hand.append(time.monotonic() - started)
    finally:
        reaper.reap(only={run_id})
    ours_median, hand_median = statistics.median(ours), statistics.median(hand)
    return [
        {
            "bench": "container bwrap: request to exit",
            "ours_seconds": round(ours_median, 4),
            "baseline_seconds": round(hand_median, 4),
            "ratio": round(ours_median / hand_median, 3),
            "repeats": repeats,
            "target_ratio": None,
        }
    ]


def print_table(rows: list[dict]) -> None:
    print(f"{'bench':<58} {'ours ms':>9} {'by hand ms':>11} {'ratio':>7} {'aim':>6}")
    for row in rows:
        aim = f"≤{row['target_ratio']}" if row.get("target_ratio") else ""
        ours, hand = row["ours_seconds"] * 1000, row["baseline_seconds"] * 1000
        print(f"{row['bench']:<58} {ours:>9.1f} {hand:>11.1f} {row['ratio']:>6.2f}× {aim:>6}")


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 15
    rows = bench_containers(repeats)
    if containers.probe_runtime("bwrap")[0]:
        rows += _bench_bwrap(repeats)
    print_table(rows)  # printed now: the VM part takes minutes and may fail on its own
    try:
        from vm_overhead import bench_vms
    except ImportError as error:
        print(f"(VM benchmark skipped: {error})")
        return
    try:
        vm_rows = bench_vms(max(3, repeats // 3))
    except Exception as error:  # a hung TCG boot must not hide the container figures
        print(f"(VM benchmark failed: {type(error).__name__}: {error})")
        return
    print()
    print_table(vm_rows)


if __name__ == "__main__":
    main()
