"""The check every lab test ends with: nothing named after the run is left on the host.

``reaper.inventory`` lists what the reaper looks for: processes (QEMU and the TCP
servers included), containers, cgroups, network namespaces, links, mounts below the
scratch root and everything in it (the runs' qcow2 and raw images live there). The
check adds the places the reaper does not list, so a lab that leaves something
where no reaper looks still fails its test: nftables tables in the host's own
ruleset, mounts anywhere on the host, loop devices backed by a file of the run, and
files in the system's temporary directories.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from labs.sandbox import reaper
from labs.sandbox.naming import run_prefix

TEMP_DIRS = (Path(tempfile.gettempdir()), Path("/dev/shm"))


def _names_the_run(path: str, prefix: str) -> bool:
    return any(part.startswith(prefix) for part in Path(path).parts)


def host_nft_tables(prefix: str) -> list[str]:
    """Tables of the host's own ruleset named after the run ("ip vl12-nat")."""
    if not shutil.which("nft"):
        return []
    listed = subprocess.run(
        ["nft", "list", "tables"], capture_output=True, text=True, timeout=10, check=True
    ).stdout
    tables = [line.split()[1:] for line in listed.splitlines() if line.startswith("table ")]
    return [" ".join(t) for t in tables if len(t) == 2 and t[1].startswith(prefix)]


def mounts(prefix: str) -> list[str]:
    """Mount points anywhere (not only below the scratch root) with a part named after
    the run, in the test process's mount namespace."""
    found = []
    with open("/proc/self/mountinfo") as mountinfo:
        for line in mountinfo:
            point = re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), line.split()[4])
            if _names_the_run(point, prefix):
                found.append(point)
    return found


def loop_devices(prefix: str) -> list[str]:
    """Loop devices whose backing file has a part named after the run."""
    found = []
    for backing in Path("/sys/block").glob("loop*/loop/backing_file"):
        try:
            text = backing.read_text().strip()
        except OSError:  # detached while we looked
            continue
        if _names_the_run(text, prefix):
            found.append(f"/dev/{backing.parts[3]} → {text}")
    return found


def temp_files(prefix: str) -> list[str]:
    found = []
    for directory in TEMP_DIRS:
        if directory.is_dir():
            found += [str(p) for p in directory.iterdir() if p.name.startswith(prefix)]
    return found


def leftovers(sandbox_id: int) -> dict[str, list[str]]:
    """Everything named after the run still on the host (empty lists when clean)."""
    prefix = run_prefix(sandbox_id)
    return {
        **reaper.inventory(only={sandbox_id}),
        "host_nft_tables": host_nft_tables(prefix),
        "mounts_anywhere": mounts(prefix),
        "loop_devices": loop_devices(prefix),
        "temp_files": temp_files(prefix),
    }


def nothing_left(sandbox_id: int) -> bool:
    return not any(leftovers(sandbox_id).values())
