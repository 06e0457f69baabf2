"""Containers inside a guest: the Kata idea, with what the guest already has.

Kata Containers runs each pod in a small VM and starts the pod's containers inside
it with an agent and a real runtime. Our guest is busybox on a Debian kernel, which
is enough for the two things a container is made of: **namespaces** (busybox
``unshare``: its own PID, mount, UTS, IPC and network namespaces, with /proc mounted
afresh) and a **cgroup** (cgroup v2, mounted in the guest on first use, with memory
and pids limits). ``container_script`` writes the shell that does both; the host
sends it over the VM's control channel like any command (``VMHandle.run``).

The script is the guest's own container runtime, so it is kept to builtins and a
handful of busybox applets: under TCG every process start costs milliseconds.
"""

from __future__ import annotations

import re
import shlex

CGROUP_ROOT = "/sys/fs/cgroup"
NAME_RE = re.compile(r"[a-z][a-z0-9-]{0,30}")


def container_script(name: str, workload: str, *, memory_bytes: int, pids: int) -> str:
    """Shell for the guest: put a fresh cgroup (``name``) with limits around a new set
    of namespaces, run ``workload`` (busybox sh) as the namespaces' PID 1's child,
    then remove the cgroup. The exit status is the workload's."""
    if not NAME_RE.fullmatch(name):
        raise ValueError(f"container name {name!r}: lower-case letters, digits and dashes")
    if memory_bytes <= 0 or pids <= 0:
        raise ValueError("a container inside the guest needs memory and pids limits")
    group = f"{CGROUP_ROOT}/{name}"
    inner = f"hostname {name}; {workload}"
    return "\n".join(
        [
            # The guest's init mounts no cgroup file system: the first container does.
            f"[ -f {CGROUP_ROOT}/cgroup.controllers ] || "
            f"{{ mkdir -p {CGROUP_ROOT} && mount -t cgroup2 none {CGROUP_ROOT}; }} || exit 125",
            # Any step failing stops here (125, as a runtime's own failure): a container
            # must never run without the limits the lab says it has.
            f"echo +memory +pids > {CGROUP_ROOT}/cgroup.subtree_control || exit 125",
            f"mkdir {group} || exit 125",
            f"echo {memory_bytes} > {group}/memory.max || exit 125",
            f"echo {pids} > {group}/pids.max || exit 125",
            # This shell joins the cgroup, so everything unshare starts is inside it.
            f"echo $$ > {group}/cgroup.procs || exit 125",
            f"unshare --fork --pid --mount --uts --ipc --net --mount-proc sh -c {shlex.quote(inner)}",
            "rc=$?",
            # Leave the cgroup before removing it (a cgroup with members cannot go).
            f"echo $$ > {CGROUP_ROOT}/cgroup.procs",
            f"rmdir {group}",
            "exit $rc",
        ]
    )
