"""How much our VM driver adds to a plain QEMU boot.

Compares ``vms.boot_vm(…, oneshot=True)`` with the same QEMU command line run by hand
(same kernel, initramfs, machine, accelerator, memory and flags; the serial console on
stdio instead of our socket, and no QMP socket). Both boot the oneshot guest, which
prints its marker and powers off. Reports medians and our/by-hand ratios (aim ≤ 1.1×).

    .venv/bin/python bench/vm_overhead.py [repeats]
"""

from __future__ import annotations

import os
import selectors
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


def _by_hand(accelerator: str, machine: str) -> tuple[float, float] | None:
    """(seconds to the marker, seconds to exit) for QEMU started directly; None if it hung."""
    run_id = adhoc_run_id()
    argv = vms.qemu_argv(
        process_name=name_for(run_id, "hand"), accelerator=accelerator, machine=machine,
        memory_mib=128, vcpus=1, serial=None, qmp=None, oneshot=True,
    )  # fmt: skip
    started = time.monotonic()
    deadline = started + TIMEOUT
    child = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
        env=sandbox_env(run_id), start_new_session=True,
    )  # fmt: skip
    marker = None
    seen = b""
    try:
        with selectors.DefaultSelector() as selector:
            selector.register(child.stdout, selectors.EVENT_READ)
            while time.monotonic() < deadline:
                if not selector.select(timeout=deadline - time.monotonic()):
                    continue
                chunk = os.read(child.stdout.fileno(), 65536)
                if not chunk:  # QEMU exited and closed stdout
                    break
                seen = (seen + chunk)[-4096:]
                if marker is None and b"VIRTLAB-BOOTED" in seen:
                    marker = time.monotonic() - started
        child.wait(max(0.1, deadline - time.monotonic()))
        done = time.monotonic() - started
    except subprocess.TimeoutExpired:
        return None
    finally:
        kill_group(child.pid)  # a hung guest must not outlive the benchmark
        child.wait()
        child.stdout.close()
    return None if marker is None else (marker, done)


def _ours() -> tuple[float, float, str, str] | None:
    try:
        result = vms.boot_vm(
            adhoc_run_id(), vms.VMOptions(timeout=TIMEOUT, name="bench"), oneshot=True
        )
    except vms.VMBootTimeout:
        return None
    return result.boot_wall_seconds, result.total_wall_seconds, result.accelerator, result.machine


def bench_vms(repeats: int = 5) -> list[dict]:
    """One row per measure: medians for our driver and by hand, and their ratio."""
    guest_assets.build()
    warm = _ours() or _ours()  # warm caches (and the accelerator decision)
    if warm is None:
        raise RuntimeError(f"two warm-up boots timed out after {TIMEOUT:g} s")
    _, _, accelerator, machine = warm
    hangs = {"ours": 0, "hand": 0}
    samples: dict[str, list[float]] = {k: [] for k in ("ours_marker", "ours_exit", "hand_marker", "hand_exit")}  # fmt: skip
    for index in range(repeats):
        # Alternate the order so drift on a busy host hits both sides alike.
        order = ("ours", "hand") if index % 2 == 0 else ("hand", "ours")
        for side in order:
            measured = _ours() if side == "ours" else _by_hand(accelerator, machine)
            if measured is None:
                hangs[side] += 1  # reported, not averaged in
                continue
            samples[f"{side}_marker"].append(measured[0])
            samples[f"{side}_exit"].append(measured[1])
    rows = []
    if not samples["ours_exit"] or not samples["hand_exit"]:
        raise RuntimeError(f"every boot of one side hung: {hangs}")
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
                "hangs_ours": hangs["ours"],
                "hangs_baseline": hangs["hand"],
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
