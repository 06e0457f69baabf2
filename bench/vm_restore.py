"""A VM restored from a snapshot against a container start and a cold VM boot.

All three through our drivers, interleaved in one run on this machine:

* container: ``containers.run_container`` (runc), request → first output;
* cold VM: ``vms.start_vm(start="cold")``, request → the guest's boot marker
  (ready for commands);
* restored VM: ``vms.start_vm(start="snapshot")``, request → the same marker, sent
  after the guest took its own hostname, token and fresh randomness
  (vm_snapshots.py). The snapshot is built before the timing starts.

Prints medians, the two ratios the README quotes (aim: a restored VM within 10× of a
container start), and where a restore's time goes.

    .venv/bin/python bench/vm_restore.py [repeats]
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from labs.sandbox import container_assets, containers, reaper, vms  # noqa: E402
from labs.sandbox.limits import Limits  # noqa: E402
from labs.sandbox.naming import adhoc_run_id  # noqa: E402

ARGV = ["sh", "-c", "echo READY"]
TIMEOUT = 60.0


def _container(run_id: int) -> float:
    result = containers.run_container(run_id, ARGV, Limits(wall_seconds=30), runtime="runc")
    if result.exit_code != 0:
        raise RuntimeError(f"container failed: {result.stderr!r}")
    return result.start_latency_seconds


def _vm(run_id: int, start: str) -> tuple[float, dict]:
    started = time.monotonic()
    handle = vms.start_vm(run_id, vms.VMOptions(start=start, name=start[:4], timeout=TIMEOUT))
    ready = time.monotonic() - started
    try:
        if handle.run("echo ok") != (0, "ok\n"):
            raise RuntimeError(f"the {start} guest did not answer")
        figures = {"spawn_to_marker": handle.boot.boot_wall_seconds, **handle.boot.extra}
    finally:
        handle.stop()
    return ready, figures


def bench(repeats: int) -> dict[str, float]:
    container_assets.build()
    run_id = adhoc_run_id()
    samples: dict[str, list[float]] = {
        key: [] for key in ("container", "cold", "snapshot", "restored", "wake")
    }
    try:
        _container(run_id)
        _vm(run_id, "snapshot")  # builds the snapshot (a cold boot) when there is none
        for _ in range(repeats):
            samples["container"].append(_container(run_id))
            ready, figures = _vm(run_id, "snapshot")
            samples["snapshot"].append(ready)
            samples["restored"].append(figures["restored_seconds"])
            samples["wake"].append(figures["spawn_to_marker"] - figures["restored_seconds"])
            samples["cold"].append(_vm(run_id, "cold")[0])
    finally:
        reaper.reap(only={run_id})
    return {key: statistics.median(values) for key, values in samples.items()}


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 7
    medians = bench(repeats)
    container, cold, restored = medians["container"], medians["cold"], medians["snapshot"]
    print(f"medians of {repeats}, request → ready:")
    print(f"  container start (runc)              {container * 1000:8.1f} ms")
    print(f"  VM restored from a snapshot         {restored * 1000:8.1f} ms")
    print(f"    of which QEMU spawn → running     {medians['restored'] * 1000:8.1f} ms")
    print(f"    of which running → marker (WAKE)  {medians['wake'] * 1000:8.1f} ms")
    print(f"  VM cold boot                        {cold * 1000:8.1f} ms")
    print(f"restored VM ready vs container start … {restored / container:.1f}× (aim ≤ 10×)")
    print(f"cold VM boot vs restored VM ready … {cold / restored:.1f}×")


if __name__ == "__main__":
    main()
