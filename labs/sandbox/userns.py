"""User namespaces: container root is an unprivileged uid on the host.

Without a user namespace, uid 0 in a container is uid 0 to the kernel: every file
owned by root, every root-only knob not hidden by a mount, is the container's. With
one, container uid N is host uid ``SANDBOX_UID + N``, an id no host account uses.

- runc creates the namespace itself (it runs as root) from the bundle's mappings,
  all 65,536 ids of the container mapped to ``SANDBOX_UID…``.
- bubblewrap is started as ``SANDBOX_UID`` and makes an unprivileged user namespace
  with that one id mapped to uid 0 inside, so it never holds host privileges at all.
  That needs the kernel to allow unprivileged user namespaces, which some hosts turn
  off (``user.max_user_namespaces=0``, Debian's old ``kernel.unprivileged_userns_clone``,
  Ubuntu's AppArmor restriction): we probe rather than assume, and the doctor says
  when bubblewrap has to run without one.

All sandboxes, of every run and of every virtlab on the host, share these host ids:
that is safe because each also has its own pid, ipc, net and mount namespaces and
nothing writable in common.
"""

from __future__ import annotations

import os
import subprocess
from functools import cache
from pathlib import Path

from .capability import Capability

SANDBOX_UID = int(os.environ.get("VIRTLAB_SANDBOX_UID", "3000000"))
ID_COUNT = 65536  # container ids 0…65535, as Docker/Podman map them


def oci_mappings() -> dict:
    """The ``linux`` keys that give an OCI container its own user namespace."""
    mapping = [{"containerID": 0, "hostID": SANDBOX_UID, "size": ID_COUNT}]
    return {"uidMappings": mapping, "gidMappings": mapping}


def drop_to_sandbox_uid() -> None:
    """Become ``SANDBOX_UID`` for good (called in a forked child before exec)."""
    os.setgroups([])
    os.setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)
    os.setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID)


def _max_user_namespaces() -> int:
    try:
        return int(Path("/proc/sys/user/max_user_namespaces").read_text())
    except (OSError, ValueError):
        return 0


@cache
def available() -> bool:
    """Whether root can create user namespaces here (what runc needs)."""
    return os.path.exists("/proc/self/ns/user") and _max_user_namespaces() > 0


@cache
def unprivileged_bwrap_works() -> tuple[bool, str]:
    """Whether bubblewrap, started as ``SANDBOX_UID``, can make its user namespace."""
    if os.geteuid() != 0:
        return False, "the lab worker does not run as root, so it cannot change uid"
    if not available():
        return False, "user namespaces are disabled (sysctl user.max_user_namespaces=0)"
    try:
        done = subprocess.run(
            ["bwrap", "--unshare-user", "--uid", "0", "--gid", "0", "--ro-bind", "/", "/", "true"],
            capture_output=True,
            text=True,
            timeout=10,
            preexec_fn=drop_to_sandbox_uid,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        return False, f"bwrap could not be started: {error}"
    if done.returncode != 0:
        return False, (
            "the kernel refuses unprivileged user namespaces "
            f"({done.stderr.strip()[:200] or done.returncode})"
        )
    return True, f"bubblewrap runs as host uid {SANDBOX_UID} in its own user namespace"


def capabilities() -> list[Capability]:
    if not available():
        return [
            Capability(
                "user-namespaces",
                False,
                "user namespaces are disabled: container root would be host root",
                "sysctl -w user.max_user_namespaces=15000",
            )
        ]
    ok, detail = unprivileged_bwrap_works()
    return [
        Capability(
            "user-namespaces",
            True,
            f"container root is host uid {SANDBOX_UID} (runc maps {ID_COUNT} ids)",
        ),
        Capability(
            "bwrap-user-namespace",
            ok,
            detail,
            ""
            if ok
            else "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1)",
        ),
    ]
