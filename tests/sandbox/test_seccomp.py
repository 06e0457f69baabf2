"""The seccomp policy's two encodings say the same thing (the real-kernel checks are in
test_container_abuse.py, which runs them in both runtimes)."""

from __future__ import annotations

import errno
import re
import struct
from pathlib import Path

import pytest

from labs.sandbox import seccomp

HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")


def evaluate(program: bytes, *, nr: int, arg0: int = 0, arch: int = seccomp.AUDIT_ARCH_X86_64):
    """Run the filter the way the kernel would, on one system call."""
    data = struct.pack("=iIQ6Q", nr, arch, 0, arg0, 0, 0, 0, 0, 0)
    code = [struct.unpack_from("=HBBI", program, offset) for offset in range(0, len(program), 8)]
    pc, accumulator = 0, 0
    while True:
        opcode, if_true, if_false, value = code[pc]
        if opcode == seccomp.LD_W_ABS:
            accumulator = struct.unpack_from("=I", data, value)[0]
            pc += 1
            continue
        if opcode == seccomp.RET_K:
            return value
        taken = {
            seccomp.JEQ_K: accumulator == value,
            seccomp.JGE_K: accumulator >= value,
            seccomp.JSET_K: bool(accumulator & value),
        }[opcode]
        pc += 1 + (if_true if taken else if_false)


DENY = seccomp.RET_ERRNO | errno.EPERM
PROGRAM = seccomp.bpf_program()


@pytest.mark.parametrize("name", sorted(seccomp.DENIED_SYSCALLS))
def test_each_denied_call_is_refused_with_eperm(name):
    assert evaluate(PROGRAM, nr=seccomp.DENIED_SYSCALLS[name]) == DENY


@pytest.mark.parametrize(
    "nr", [0, 1, 2, 39, 57, 59, 60, 231]
)  # read write open getpid fork execve exit exit_group
def test_ordinary_calls_are_allowed(nr):
    assert evaluate(PROGRAM, nr=nr) == seccomp.RET_ALLOW


def test_clone_is_refused_only_with_a_namespace_flag():
    sigchld = 17
    assert evaluate(PROGRAM, nr=seccomp.CLONE, arg0=0x3D0F00 | sigchld) == seccomp.RET_ALLOW
    for flag in seccomp.CLONE_NAMESPACE_FLAGS.values():
        assert evaluate(PROGRAM, nr=seccomp.CLONE, arg0=flag | sigchld) == DENY


def test_clone3_says_it_does_not_exist_so_libraries_fall_back_to_clone():
    assert evaluate(PROGRAM, nr=seccomp.CLONE3) == seccomp.RET_ERRNO | errno.ENOSYS


def test_personality_may_not_turn_off_randomisation():
    assert evaluate(PROGRAM, nr=seccomp.PERSONALITY, arg0=0) == seccomp.RET_ALLOW
    assert evaluate(PROGRAM, nr=seccomp.PERSONALITY, arg0=0x0004_0000) == DENY


def test_other_abis_are_refused():
    assert evaluate(PROGRAM, nr=0, arch=0x4000_0003) == DENY  # i386
    assert evaluate(PROGRAM, nr=0x4000_0000 | 1) == DENY  # x32 write


def test_the_oci_profile_lists_the_same_calls():
    profile = seccomp.oci_profile()
    assert profile["defaultAction"] == "SCMP_ACT_ALLOW"
    named = profile["syscalls"][0]
    assert set(named["names"]) == set(seccomp.DENIED_SYSCALLS)
    assert named["errnoRet"] == errno.EPERM
    clone_bits = {
        rule["args"][0]["value"] for rule in profile["syscalls"] if rule["names"] == ["clone"]
    }
    assert clone_bits == set(seccomp.CLONE_NAMESPACE_FLAGS.values())


@pytest.mark.skipif(not HEADER.exists(), reason="kernel headers (linux-libc-dev) not installed")
def test_syscall_numbers_match_the_kernel_headers():
    defined = dict(re.findall(r"#define __NR_(\w+) (\d+)", HEADER.read_text()))
    known = {name: number for name, number in seccomp.DENIED_SYSCALLS.items() if name in defined}
    assert len(known) >= len(seccomp.DENIED_SYSCALLS) - 3  # headers older than the newest calls
    for name, number in known.items():
        assert int(defined[name]) == number, name
    assert int(defined["clone"]) == seccomp.CLONE and int(defined["clone3"]) == seccomp.CLONE3
