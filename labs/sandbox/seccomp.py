"""The system-call filter every container runs under, for runc and bubblewrap alike.

One policy, two encodings: the OCI runtime gets it as the bundle's ``linux.seccomp``
section (runc compiles it with libseccomp), bubblewrap gets it as a classic BPF
program we assemble here (``bwrap --seccomp FD`` takes compiled BPF, and libseccomp
has no binding for our Python). The tests check both refuse the same calls.

The policy is a deny list modelled on the default profiles of Docker and Podman:
everything their allow lists leave out (or grant only with a capability our
containers never have) is refused with EPERM — kernel modules, kexec, mounts and
the new mount API, namespaces (``unshare``, ``setns``, ``clone`` with a namespace
flag), keyrings, BPF, perf events, userfaultfd, io_uring, clock setting, swap,
reboot, raw port I/O, NUMA memory policy, cross-process memory access and
personality flags that turn off address-space randomisation. ``clone3`` answers
ENOSYS, as in those profiles, because its flags sit in memory a filter cannot read:
C libraries then fall back to ``clone``, whose flags are checked. Everything the
labs run (busybox, a Python interpreter bound in from the host, qemu-user) needs
none of these.

Only x86-64 is encoded (``ARCHITECTURE``); any other system-call ABI (i386, x32) is
refused outright in the BPF program and listed for libseccomp in the OCI profile.
"""

from __future__ import annotations

import errno
import struct
from collections.abc import Iterable

# x86-64 system-call numbers (arch/x86/entry/syscalls/syscall_64.tbl).
DENIED_SYSCALLS: dict[str, int] = {
    "acct": 163,
    "add_key": 248,
    "bpf": 321,
    "clock_adjtime": 305,
    "clock_settime": 227,
    "create_module": 174,
    "delete_module": 176,
    "fanotify_init": 300,
    "finit_module": 313,
    "fsconfig": 431,
    "fsmount": 432,
    "fsopen": 430,
    "fspick": 433,
    "get_kernel_syms": 177,
    "get_mempolicy": 239,
    "init_module": 175,
    "io_uring_enter": 426,
    "io_uring_register": 427,
    "io_uring_setup": 425,
    "ioperm": 173,
    "iopl": 172,
    "kcmp": 312,
    "kexec_file_load": 320,
    "kexec_load": 246,
    "keyctl": 250,
    "lookup_dcookie": 212,
    "mbind": 237,
    "mount": 165,
    "mount_setattr": 442,
    "move_mount": 429,
    "move_pages": 279,
    "name_to_handle_at": 303,
    "nfsservctl": 180,
    "open_by_handle_at": 304,
    "open_tree": 428,
    "perf_event_open": 298,
    "pidfd_getfd": 438,
    "pivot_root": 155,
    "process_vm_readv": 310,
    "process_vm_writev": 311,
    "query_module": 178,
    "quotactl": 179,
    "quotactl_fd": 443,
    "reboot": 169,
    "request_key": 249,
    "set_mempolicy": 238,
    "setns": 308,
    "settimeofday": 164,
    "swapoff": 168,
    "swapon": 167,
    "syslog": 103,
    "sysfs": 139,
    "_sysctl": 156,
    "umount2": 166,
    "unshare": 272,
    "uselib": 134,
    "userfaultfd": 323,
    "ustat": 136,
    "vhangup": 153,
}
CLONE = 56
CLONE3 = 435
PERSONALITY = 135
# clone() flags that would create a namespace. (CLONE_NEWTIME shares its bit with the
# exit-signal field of clone(), so it can only be asked for through clone3/unshare,
# both refused.)
CLONE_NAMESPACE_FLAGS = {
    "CLONE_NEWNS": 0x0002_0000,
    "CLONE_NEWCGROUP": 0x0200_0000,
    "CLONE_NEWUTS": 0x0400_0000,
    "CLONE_NEWIPC": 0x0800_0000,
    "CLONE_NEWUSER": 0x1000_0000,
    "CLONE_NEWPID": 0x2000_0000,
    "CLONE_NEWNET": 0x4000_0000,
}
# personality() flags that weaken the process's own hardening.
PERSONALITY_DENIED_FLAGS = {
    "ADDR_NO_RANDOMIZE": 0x0004_0000,
    "MMAP_PAGE_ZERO": 0x0010_0000,
    "ADDR_COMPAT_LAYOUT": 0x0020_0000,
    "READ_IMPLIES_EXEC": 0x0040_0000,
}
ARCHITECTURE = "x86_64"
AUDIT_ARCH_X86_64 = 0xC000_003E
X32_SYSCALL_BIT = 0x4000_0000


# --- the OCI encoding -----------------------------------------------------------------


def oci_profile() -> dict:
    """The policy as an OCI ``linux.seccomp`` section."""
    deny = {"action": "SCMP_ACT_ERRNO", "errnoRet": errno.EPERM}
    rules: list[dict] = [{"names": sorted(DENIED_SYSCALLS), **deny}]
    # Conditions inside one rule are ANDed, so "any of these bits" is one rule per bit.
    for flag in CLONE_NAMESPACE_FLAGS.values():
        rules.append({"names": ["clone"], **deny, "args": [_bit_set(0, flag)]})
    for flag in PERSONALITY_DENIED_FLAGS.values():
        rules.append({"names": ["personality"], **deny, "args": [_bit_set(0, flag)]})
    rules.append({"names": ["clone3"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS})
    return {
        "defaultAction": "SCMP_ACT_ALLOW",
        # libseccomp adds the same rules for the 32-bit ABIs, by name.
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": rules,
    }


def _bit_set(index: int, flag: int) -> dict:
    return {"index": index, "value": flag, "valueTwo": flag, "op": "SCMP_CMP_MASKED_EQ"}


# --- the BPF encoding -----------------------------------------------------------------

# Classic BPF opcodes (linux/filter.h) and seccomp return values (linux/seccomp.h).
LD_W_ABS = 0x20
JEQ_K = 0x15
JGE_K = 0x35
JSET_K = 0x45
RET_K = 0x06
RET_ALLOW = 0x7FFF_0000
RET_ERRNO = 0x0005_0000
# Offsets in struct seccomp_data: nr, arch, then the arguments as 64-bit values
# (little endian, so an argument's low 32 bits come first).
OFFSET_NR, OFFSET_ARCH, OFFSET_ARG0_LOW = 0, 4, 16


def bpf_program() -> bytes:
    """The policy as a compiled classic-BPF seccomp filter (struct sock_filter[])."""
    program = _Assembler()
    program.load(OFFSET_ARCH)
    program.jump_unless_equal(AUDIT_ARCH_X86_64, "deny")
    program.load(OFFSET_NR)
    program.jump_if(JGE_K, X32_SYSCALL_BIT, "deny")
    for number in sorted(DENIED_SYSCALLS.values()):
        program.jump_if(JEQ_K, number, "deny")
    program.jump_if(JEQ_K, CLONE, "check-clone")
    program.jump_if(JEQ_K, PERSONALITY, "check-personality")
    program.jump_if(JEQ_K, CLONE3, "no-such-call")
    program.ret(RET_ALLOW)
    _flag_check(program, "check-clone", CLONE_NAMESPACE_FLAGS.values())
    _flag_check(program, "check-personality", PERSONALITY_DENIED_FLAGS.values())
    program.label("no-such-call")
    program.ret(RET_ERRNO | errno.ENOSYS)
    program.label("deny")
    program.ret(RET_ERRNO | errno.EPERM)
    return program.assemble()


def _flag_check(program: _Assembler, label: str, flags: Iterable[int]) -> None:
    mask = 0
    for flag in flags:
        mask |= flag
    program.label(label)
    program.load(OFFSET_ARG0_LOW)
    program.jump_if(JSET_K, mask, "deny")
    program.ret(RET_ALLOW)


class _Assembler:
    """Just enough of a BPF assembler: forward jumps to named labels."""

    def __init__(self) -> None:
        self.code: list[tuple[int, str | None, str | None, int]] = []
        self.labels: dict[str, int] = {}

    def load(self, offset: int) -> None:
        self.code.append((LD_W_ABS, None, None, offset))

    def jump_if(self, opcode: int, value: int, target: str) -> None:
        self.code.append((opcode, target, None, value))

    def jump_unless_equal(self, value: int, target: str) -> None:
        self.code.append((JEQ_K, None, target, value))

    def ret(self, value: int) -> None:
        self.code.append((RET_K, None, None, value))

    def label(self, name: str) -> None:
        self.labels[name] = len(self.code)

    def assemble(self) -> bytes:
        out = bytearray()
        for index, (opcode, if_true, if_false, value) in enumerate(self.code):
            out += struct.pack(
                "=HBBI", opcode, self._offset(index, if_true), self._offset(index, if_false), value
            )
        return bytes(out)

    def _offset(self, index: int, target: str | None) -> int:
        if target is None:
            return 0  # fall through to the next instruction
        offset = self.labels[target] - index - 1
        if not 0 <= offset <= 255:
            raise ValueError(f"jump to {target} out of range ({offset})")
        return offset
