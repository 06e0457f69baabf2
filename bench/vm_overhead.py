"""How much our VM driver adds to a plain QEMU boot.

Compares ``vms.boot_vm(oneshot=True)`` with the same QEMU command line run by hand
(same kernel, initramfs, machine, accelerator, memory and flags; the serial console on
stdio instead of our socket, and no QMP socket). Both boot the oneshot guest, which
prints its marker and powers off. Reports medians and our/by-hand ratios (aim ≤ 1.1×).

    .venv/bin/python bench/vm_overhead.py [repeats]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labs.sandbox import guest_assets, vms  # noqa: E402
from labs.sandbox.naming import adhoc_run_id, name_for  # noqa: E402
from labs.sandbox.proc import kill_group, sandbox_env  # noqa: E402

TIMEOUT = 60.0


def _by_hand(accelerator: str, machine: str) -> tuple[float, float]:
    """(seconds to the marker, seconds to exit) for QEMU started directly."""
    run_id = adhoc_run_id()
    argv = vms.qemu_argv(
        process_name=name_for(run_id, "hand"), accelerator=accelerator, machine=machine,
        memory_mib=128, vcpus=1, serial=None, qmp=None, oneshot=True,
    )  # fmt: skip
    started = time.monotonic()
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=sandbox_env(run_id), start_new_session=True,
    )  # fmt: skip
    marker = None
    try:
        for line in child.stdout:
            if b"VIRTLAB-BOOTED" in line:
                marker = time.monotonic() - started
                break
        child.stdout.read()  # until QEMU exits and closes stdout
        child.wait(TIMEOUT)
    finally:
        kill_group(child.pid)
        child.wait()
        child.stdout.close()
    if marker is None:
        raise RuntimeError("the hand-run guest never printed its marker")
    return marker, time.monotonic() - started


def _ours() -> tuple[float, float, str, str]:
    result = vms.boot_vm(adhoc_run_id(), oneshot=True, timeout=TIMEOUT, name="bench")
    return result.boot_wall_seconds, result.total_wall_seconds, result.accelerator, result.machine


def bench_vms(repeats: int = 5) -> list[dict]:
    """One row per measure: medians for our driver and by hand, and their ratio."""
    guest_assets.build()
    _, _, accelerator, machine = _ours()  # warm caches (and the accelerator decision)
    samples: dict[str, list[float]] = {k: [] for k in ("ours_marker", "ours_exit", "hand_marker", "hand_exit")}  # fmt: skip
    for index in range(repeats):
        # Alternate the order so drift on a busy host hits both sides alike.
        order = ("ours", "hand") if index % 2 == 0 else ("hand", "ours")
        for side in order:
            if side == "ours":
                marker, done, _, _ = _ours()
            else:
                marker, done = _by_hand(accelerator, machine)
            samples[f"{side}_marker"].append(marker)
            samples[f"{side}_exit"].append(done)
    rows = []
    for measure, label in (("marker", "spawn to boot marker"), ("exit", "spawn to QEMU exit")):
        ours = statistics.median(samples[f"ours_{measure}"])
        hand = statistics.median(samples[f"hand_{measure}"])
        rows.append(
            {
                "bench": f"vm boot ({accelerator}, {machine}): {label}",
                "ours_seconds": round(ours, 4),
                "baseline_seconds": round(hand, 4),
                "ratio": round(ours / hand, 3),
                "repeats": repeats,
                "target_ratio": 1.1,
            }
        )
    return rows


if __name__ == "__main__":
    for row in bench_vms(int(sys.argv[1]) if len(sys.argv) > 1 else 5):
        print(
            f"{row['bench']}: ours {row['ours_seconds']:.3f} s, by hand "
            f"{row['baseline_seconds']:.3f} s, ratio {row['ratio']:.3f} (n={row['repeats']})"
        )
