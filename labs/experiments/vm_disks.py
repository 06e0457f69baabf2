"""vm-disks: what thin provisioning, overlays and clones really cost, on real images.

One guest is booted with every disk the lab made attached as a virtio disk (each
named by its serial number, so the guest finds them whatever order they appear in):

- thin vs thick: a qcow2 image and a preallocated raw image of the same virtual
  size; the guest writes the same amount to both; the host measures the blocks each
  file really occupies before and after;
- snapshot chains: a base image with data and chains of 0…K qcow2 overlays above it
  (each level writes a little of its own); the guest reads each chain's top
  sequentially and times the read and its first MiB;
- clones: C full copies (``qemu-img convert``) and C linked clones (an overlay on the
  base each); the host times their creation and measures their size, and the guest
  reads a linked clone to show it sees the base's data;
- overcommit: a thin disk whose virtual size is larger than a small filesystem (a
  size-limited tmpfs in the run's scratch) it lives on; the guest writes until that
  filesystem is full, and the lab records what QEMU did then (its default for a full
  host disk is to pause the guest) and how much had been written.

Times come from the guest's own clock (``adjtimex``: nanoseconds), sizes from
``st_blocks`` and ``qemu-img info`` on the host.
"""

from __future__ import annotations

import time

from labs.sandbox import disks
from labs.sandbox.vm_process import VMError

from .base import NEEDS_VMS, Column, Lab, Param, Progress, RunContext, Sample
from .guests import MIB, VM_BOOT_TIMEOUT, boot_with_retry, kept_alive, stopping
from .stats import median_or_none, ratio_or_none, rounded
from .vm_disks_figure import figure

GIB = 1 << 30
CHAIN_VIRTUAL = "256M"  # the base and its overlays; the data written fits well inside
OVERCOMMIT_VIRTUAL_MIB = 512
GUEST_MIB = 160
DISK_MODULES = ("virtio_mmio", "virtio_blk")

PARAMS = (
    Param("virtual_gib", "Virtual disk size", 1, 1, 4,
          "Size the guest sees for the thin and the thick disk, 1–4 GiB. The thick one "
          "really takes that much space on the host for the length of the run.", "GiB"),
    Param("write_mib", "Data written", 32, 8, 128,
          "How much the guest writes to the thin and thick disks, and how much data the "
          "base image of the chains and clones holds, 8–128 MiB.", "MiB"),
    Param("chain_length", "Longest overlay chain", 4, 1, 6,
          "Chains of 0 up to this many overlays above the base are read (1–6).", "overlays"),
    Param("read_repeats", "Reads per chain", 3, 1, 7,
          "How many times each chain is read end to end; the median is plotted (1–7)."),
    Param("clones", "Clones of each kind", 3, 1, 6,
          "How many full and how many linked clones of the base to make (1–6)."),
    Param("full_disk_mib", "Small filesystem", 24, 16, 64,
          "Size of the filesystem the over-committed thin disk lives on, 16–64 MiB; its "
          "disk claims 512 MiB.", "MiB"),
)  # fmt: skip

# Busybox sh in the guest. ``now`` prints the guest clock in nanoseconds (adjtimex
# reports nanoseconds when the kernel's STA_NANO flag is set, microseconds otherwise).
GUEST_HELPERS = r"""now() { adjtimex | awk '/tv_sec/ {s=$2} /tv_usec/ {u=$2} /status/ {st=$2}
  END {if (int(st / 8192) % 2) printf "%d%09d\n", s, u; else printf "%d%06d000\n", s, u}'; }
dev() { for d in /sys/block/vd*; do [ "$(cat $d/serial)" = "$1" ] && echo /dev/${d##*/}; done; }
"""


def _timed(script: str) -> str:
    """A guest script that prints the nanoseconds ``script`` took."""
    return f"a=$(now); {script}; b=$(now); echo $((b - a))"


def _guest_ns(handle, script: str, timeout: float = 60) -> int:
    status, output = handle.run(GUEST_HELPERS + _timed(script), timeout=timeout)
    if status != 0:
        raise RuntimeError(f"guest command failed ({status}): {output[-300:]}")
    return int(output.split()[-1])


def _drive(path, serial: str, *, readonly: bool = False) -> tuple[str, ...]:
    ro = ",readonly=on" if readonly else ""
    return (
        "-drive", f"if=none,id={serial},file={path},format={_format(path)}{ro}",
        "-device", f"virtio-blk-device,drive={serial},serial={serial}",
    )  # fmt: skip


def _format(path) -> str:
    return "raw" if str(path).endswith(".raw") else "qcow2"


def _prepare(space: disks.DiskWorkspace, params: dict) -> dict:
    """Every image, made on the host before the guest boots."""
    virtual = f"{params['virtual_gib']}G"
    data = params["write_mib"]
    made: dict = {
        "thin": space.create("thin.qcow2", virtual).path,
        "thick": space.create("thick.raw", virtual, image_format="raw", preallocate=True).path,
    }
    base = space.create("base.qcow2", CHAIN_VIRTUAL).path
    space.fill(base, offset_mib=0, length_mib=data, pattern=0xAA)
    made["chains"] = {0: base}
    below = base
    for level in range(1, params["chain_length"] + 1):
        top = space.create(f"overlay{level}.qcow2", "", backing=below).path
        # Each level rewrites a stripe of its own, as a guest running on it would.
        space.fill(top, offset_mib=(level - 1) % data, length_mib=1, pattern=level)
        made["chains"][level] = top
        below = top
    made["full_clones"] = [space.full_copy(base, f"full{i}.qcow2") for i in range(params["clones"])]
    made["linked_clones"] = [
        space.create(f"linked{i}.qcow2", "", backing=base) for i in range(params["clones"])
    ]
    small = space.mount_small_filesystem(params["full_disk_mib"])
    made["overcommit"] = space.create(
        "overcommit.qcow2", f"{OVERCOMMIT_VIRTUAL_MIB}M", directory=small
    ).path
    return made


def _all_drives(made: dict) -> tuple[str, ...]:
    args = _drive(made["thin"], "thin") + _drive(made["thick"], "thick")
    for level, top in made["chains"].items():
        args += _drive(top, f"chain{level}", readonly=True)
    args += _drive(made["linked_clones"][0].path, "linked0")
    return args + _drive(made["overcommit"], "overcommit")


def thin_thick_samples(handle, made: dict, params: dict) -> list[dict]:
    before = {kind: disks.allocated_bytes(made[kind]) for kind in ("thin", "thick")}
    count = params["write_mib"]
    for kind in ("thin", "thick"):
        _guest_ns(
            handle, f"dd if=/dev/zero of=$(dev {kind}) bs=1M count={count} conv=fsync 2>/dev/null"
        )
    rows = []
    for kind in ("thin", "thick"):
        info = disks.image_info(made[kind])
        rows.append({
            "part": "provisioning", "kind": kind,
            "virtual_mib": info["virtual_bytes"] // MIB,
            "allocated_before_mib": rounded(before[kind] / MIB, 2),
            "allocated_after_mib": rounded(disks.allocated_bytes(made[kind]) / MIB, 2),
            "written_mib": count,
        })  # fmt: skip
    return rows


def chain_samples(handle, made: dict, params: dict) -> list[dict]:
    """Each chain's first MiB (its first read in the guest), then whole sequential
    reads, levels interleaved round by round so a busy moment on the host spoils one
    reading of each level rather than every reading of one."""
    data = params["write_mib"]
    levels = sorted(made["chains"])
    first = {
        level: _guest_ns(
            handle, f"dd if=$(dev chain{level}) of=/dev/null bs=1M count=1 iflag=direct"
        )
        for level in levels
    }
    rates: dict[int, list[float]] = {level: [] for level in levels}
    for _ in range(params["read_repeats"]):
        for level in levels:
            took = _guest_ns(
                handle, f"dd if=$(dev chain{level}) of=/dev/null bs=1M count={data} iflag=direct"
            )
            rates[level].append(data / (took / 1e9))
    return [
        {
            "part": "chain", "overlays": level,
            "images_read_through": disks.chain_depth(made["chains"][level]),
            "first_mib_ms": rounded(first[level] / 1e6, 3),
            "read_mib_per_s": rounded(median_or_none(rates[level]), 1),
            "read_mib_per_s_min": rounded(min(rates[level]), 1),
            "read_mib_per_s_max": rounded(max(rates[level]), 1),
            "read_mib": data,
        }
        for level in levels
    ]  # fmt: skip


def clone_samples(handle, made: dict) -> list[dict]:
    rows = []
    for kind in ("full", "linked"):
        for index, clone in enumerate(made[f"{kind}_clones"]):
            rows.append({
                "part": "clone", "kind": kind, "index": index,
                "create_ms": rounded(clone.seconds * 1000, 2),
                "allocated_mib": rounded(disks.allocated_bytes(clone.path) / MIB, 2),
            })  # fmt: skip
    # A linked clone works: the guest reads the base's bytes through it and writes its own.
    status, output = handle.run(
        GUEST_HELPERS
        + "d=$(dev linked0); dd if=$d bs=16 count=1 2>/dev/null | hexdump -C | head -1;"
        " echo clone-data | dd of=$d bs=512 seek=8 conv=fsync 2>/dev/null;"
        " dd if=$d bs=512 skip=8 count=1 2>/dev/null | head -c 10",
        timeout=30,
    )
    rows[len(made["full_clones"])]["guest_reads_base_data"] = status == 0 and " aa aa " in output
    rows[len(made["full_clones"])]["guest_writes_own_data"] = output.endswith("clone-data")
    return rows


def overcommit_sample(handle, made: dict, params: dict) -> dict:
    """Write past the small filesystem's end and record what QEMU does about it."""
    small = params["full_disk_mib"]
    target = small * 2
    handle.run(
        GUEST_HELPERS + f"(dd if=/dev/zero of=$(dev overcommit) bs=1M count={target} conv=fsync"
        " > /tmp/fill.log 2>&1; echo rc=$? >> /tmp/fill.log) & echo started",
        timeout=10,
    )
    outcome, reason = "guest finished writing", None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = handle.qmp("query-status")
        if status.get("status") in ("io-error", "paused") or not status.get("running", True):
            outcome, reason = "QEMU paused the guest", status.get("status")
            break
        try:
            _, log = handle.run("cat /tmp/fill.log", timeout=5)
        except VMError:
            continue
        if "rc=" in log:
            outcome = "the guest saw an I/O error" if "rc=0" not in log else outcome
            break
        time.sleep(0.2)
    io_status = next(
        (dev.get("io-status") for dev in handle.qmp("query-block") if dev.get("device") == "overcommit"
         or dev.get("qdev", "").endswith("overcommit")),
        None,
    )  # fmt: skip
    return {
        "part": "overcommit", "kind": "thin, over-committed",
        "virtual_mib": OVERCOMMIT_VIRTUAL_MIB, "filesystem_mib": small,
        "asked_to_write_mib": target,
        "allocated_after_mib": rounded(disks.allocated_bytes(made["overcommit"]) / MIB, 2),
        "outcome": outcome, "qemu_status": reason, "io_status": io_status,
    }  # fmt: skip


def run(params: dict, ctx: RunContext):
    if not disks.tools_present():
        raise RuntimeError("qemu-img and qemu-io are missing (apt-get install qemu-utils)")
    with disks.DiskWorkspace(ctx.run_id) as space, kept_alive() as running:
        needed = params["virtual_gib"] * GIB + 64 * MIB * (params["clones"] + 4)
        if space.free_bytes() < 2 * needed:
            raise RuntimeError(
                f"not enough free disk for the thick disk and the copies "
                f"({needed // MIB} MiB needed, twice that free required)"
            )
        yield Progress("creating images, overlays and clones on the host", 0.05)
        made = _prepare(space, params)
        if ctx.should_stop():
            yield from stopping()
            return
        yield Progress("booting a guest with every disk attached", 0.2)
        handle, attempts = boot_with_retry(
            ctx.run_id, "vm", memory_mib=GUEST_MIB, keep_running=True,
            modules=DISK_MODULES, extra_args=_all_drives(made),
        )  # fmt: skip
        running.append(handle)
        yield Progress("the guest writes to a thin and a thick disk", 0.35)
        for row in thin_thick_samples(handle, made, params):
            yield Sample({**row, "boot_attempts": attempts})
        yield Progress("the guest reads through overlay chains", 0.5)
        for row in chain_samples(handle, made, params):
            yield Sample(row)
        if ctx.should_stop():
            yield from stopping()
            return
        yield Progress("full and linked clones", 0.75)
        for row in clone_samples(handle, made):
            yield Sample(row)
        yield Progress("filling a thin disk past its filesystem", 0.85)
        yield Sample(overcommit_sample(handle, made, params))


def _rows(samples: list[dict], part: str) -> list[dict]:
    return [s for s in samples if s.get("part") == part]


def _mean(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None]
    return sum(clean) / len(clean) if clean else None


def summarize(samples: list[dict], params: dict) -> dict:
    provisioning = {s["kind"]: s for s in _rows(samples, "provisioning")}
    chains = sorted(_rows(samples, "chain"), key=lambda s: s["overlays"])
    clones = _rows(samples, "clone")
    full = _mean([s["allocated_mib"] for s in clones if s["kind"] == "full"])
    linked = _mean([s["allocated_mib"] for s in clones if s["kind"] == "linked"])
    overcommit = next(iter(_rows(samples, "overcommit")), {})
    thin, thick = provisioning.get("thin", {}), provisioning.get("thick", {})
    flat, deep = (chains[0], chains[-1]) if chains else ({}, {})
    return {
        "thin_allocated_mib": thin.get("allocated_after_mib"),
        "thick_allocated_mib": thick.get("allocated_after_mib"),
        "thin_fraction_of_thick": rounded(
            ratio_or_none(thin.get("allocated_after_mib"), thick.get("allocated_after_mib")), 4
        ),
        "read_mib_per_s_no_overlay": flat.get("read_mib_per_s"),
        "read_mib_per_s_longest_chain": deep.get("read_mib_per_s"),
        "longest_chain_read_slowdown": rounded(
            ratio_or_none(flat.get("read_mib_per_s"), deep.get("read_mib_per_s")), 3
        ),
        "full_clone_mib": rounded(full, 2),
        "linked_clone_mib": rounded(linked, 2),
        "full_over_linked_clone_size": rounded(ratio_or_none(full, linked), 1),
        "full_clone_create_ms": rounded(
            _mean([s["create_ms"] for s in clones if s["kind"] == "full"]), 2
        ),
        "linked_clone_create_ms": rounded(
            _mean([s["create_ms"] for s in clones if s["kind"] == "linked"]), 2
        ),
        "linked_clone_works": next(
            (s.get("guest_reads_base_data") for s in clones if "guest_reads_base_data" in s), None
        ),
        "overcommit_outcome": overcommit.get("outcome"),
        "overcommit_written_mib": overcommit.get("allocated_after_mib"),
    }


LAB = Lab(
    slug="vm-disks",
    title="Virtual disks: thin, thick, overlays, clones and a disk that runs out",
    summary="Make real disk images and let a guest write and read them: how much space a "
    "thin disk takes, what a chain of snapshots costs a read, what clones cost, and what "
    "happens when a thin disk's host runs out of space.",
    explanation=(
        "A virtual disk is a file on the host, and how that file is laid out decides what "
        "it costs.\n\n"
        "**Thin and thick.** A *thick* (preallocated) disk takes its whole virtual size on "
        "the host the moment it is made; a *thin* qcow2 disk takes space only as the guest "
        "writes. The lab creates both at the same virtual size, lets the guest write the "
        "same amount to each, and measures the blocks each file really holds on the "
        "host.\n\n"
        "**Overlays and snapshot chains.** A qcow2 overlay holds only what changed since "
        "its backing image; a disk snapshot in most hypervisors is one more overlay. The "
        "lab builds chains of 0 to K overlays over one base and has the guest read each "
        "chain's top: a block may have to be looked up through every level. Predict first, "
        "then look closely: here every image sits in the host's page cache and QEMU keeps "
        "each level's lookup tables in memory, so a few levels may cost little or nothing "
        "measurable, and the spread between repeated reads (the bars) tells you how much "
        "of a difference is noise. Long chains hurt on real storage, with cold caches, "
        "many levels and big disks — and every level is one more file that must never be "
        "lost, which is the reason hypervisors tell you to merge snapshots away.\n\n"
        "**Clones.** A *full* clone copies every allocated block; a *linked* clone is an "
        "overlay on the original, made in milliseconds and almost empty, but it needs the "
        "original forever. The guest reads a linked clone to show it sees the base's "
        "data.\n\n"
        "**Overcommit.** Thin disks let you promise more space than you have. The lab "
        "puts a 512 MiB thin disk on a filesystem of a few tens of MiB and lets the guest "
        "write until the host side is full, then shows what QEMU did. (The small "
        "filesystem is a size-limited tmpfs in this run's scratch directory: nothing is "
        "written anywhere else, and the server's own disk never fills.)\n\n"
        "The chain and clone images are filled with `qemu-io`, QEMU's own block layer, so "
        "they are laid out exactly as a guest's writes would lay them out; the thin, thick "
        "and overcommitted disks are written by the guest itself through a virtio disk."
    ),
    params=PARAMS,
    needs=(*NEEDS_VMS, "guest-modules"),
    columns=(
        Column("part", "Part"),
        Column("kind", "Disk"),
        Column("virtual_mib", "Virtual size", "MiB"),
        Column("allocated_before_mib", "On the host before", "MiB"),
        Column("allocated_after_mib", "On the host after", "MiB"),
        Column("written_mib", "Guest wrote", "MiB"),
        Column("overlays", "Overlays above the base"),
        Column("images_read_through", "Images in the chain"),
        Column("first_mib_ms", "First MiB read", "ms"),
        Column("read_mib_per_s", "Sequential read (median)", "MiB/s"),
        Column("read_mib_per_s_min", "slowest read", "MiB/s"),
        Column("read_mib_per_s_max", "fastest read", "MiB/s"),
        Column("index", "Clone"),
        Column("create_ms", "Time to create", "ms"),
        Column("allocated_mib", "Clone on the host", "MiB"),
        Column("guest_reads_base_data", "Guest reads the base's data"),
        Column("filesystem_mib", "Filesystem under it", "MiB"),
        Column("outcome", "What happened"),
        Column("qemu_status", "QEMU status"),
        Column("io_status", "Disk I/O status"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: 120 + 2 * VM_BOOT_TIMEOUT,
    predict_keys=("full_over_linked_clone_size", "thin_fraction_of_thick"),
    summary_labels={
        "thin_allocated_mib": "Thin disk on the host after the writes (MiB)",
        "thick_allocated_mib": "Thick disk on the host (MiB)",
        "thin_fraction_of_thick": "Thin ÷ thick space on the host",
        "read_mib_per_s_no_overlay": "Sequential read, base image (MiB/s)",
        "read_mib_per_s_longest_chain": "Sequential read, longest chain (MiB/s)",
        "longest_chain_read_slowdown": "Base ÷ longest-chain read speed",
        "full_clone_mib": "A full clone on the host (MiB)",
        "linked_clone_mib": "A linked clone on the host (MiB)",
        "full_over_linked_clone_size": "Full ÷ linked clone size",
        "full_clone_create_ms": "Making a full clone (ms)",
        "linked_clone_create_ms": "Making a linked clone (ms)",
        "linked_clone_works": "The guest reads the base's data through a linked clone",
        "overcommit_outcome": "When the thin disk's filesystem filled up",
        "overcommit_written_mib": "Over-committed disk on the host when it stopped (MiB)",
    },
)
