"""The reaper removes planted leftovers of a run, and nothing that only looks like one."""

from __future__ import annotations

import os
import shutil
import subprocess
import time

import pytest

from labs.sandbox import cgroups, reaper
from labs.sandbox.naming import name_for, run_prefix
from labs.sandbox.paths import scratch_root

pytestmark = [
    pytest.mark.sandbox,
    pytest.mark.skipif(os.geteuid() != 0, reason="the reaper runs as root"),
]


def _sleeper(
    env_marker: str | None, argv0: str = "sleep", executable: str = "/bin/sleep"
) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin"}
    if env_marker is not None:
        env["VIRTLAB_RUN"] = env_marker
    return subprocess.Popen([argv0, "60"], executable=executable, env=env, start_new_session=True)


@pytest.fixture
def fake_qemu(tmp_path) -> str:
    """/bin/sleep under a QEMU binary's name, so its comm is "qemu-system-x86"."""
    path = tmp_path / "qemu-system-x86_64"
    shutil.copy("/bin/sleep", path)
    return str(path)


def _alive(process: subprocess.Popen) -> bool:
    return process.poll() is None


@pytest.fixture
def lookalikes(run_id):
    """Things that resemble a run's leftovers but are not named ``vl<digits>-``."""
    made = {
        "process": _sleeper(f"vlx{run_id}-"),
        "process_argv": _sleeper(None, argv0=f"xvl{run_id}-vm0"),
        "scratch": scratch_root() / f"vlkeep{run_id}",
        "cgroup": cgroups.parent_dirs()[0] / f"notvl{run_id}-x",
        "netns": f"vlkeep{run_id}",
    }
    made["scratch"].mkdir(parents=True)
    made["cgroup"].mkdir(parents=True)
    has_ip = shutil.which("ip") is not None
    if has_ip:
        subprocess.run(["ip", "netns", "add", made["netns"]], check=True)
    yield made
    for key in ("process", "process_argv"):
        made[key].kill()
        made[key].wait()
    made["scratch"].rmdir()
    made["cgroup"].rmdir()
    if has_ip:
        subprocess.run(["ip", "netns", "delete", made["netns"]], check=True)


def test_reap_removes_planted_leftovers_and_spares_lookalikes(
    run_id, lookalikes, tmp_path, no_leftovers, fake_qemu
):
    marked = _sleeper(run_prefix(run_id))
    vm_name = name_for(run_id, "vm0")
    named = _sleeper(None, argv0=f"-name={vm_name},process={vm_name}", executable=fake_qemu)
    # Not one of our tools: a run's name in its arguments does not make it ours.
    bystander = _sleeper(None, argv0=f"/srv/virtlab/var/runs/{vm_name}/qemu.log")
    group = cgroups.create(name_for(run_id, "fake"), pids=4)
    nested = next(iter(group.dirs.values())) / "ctr"
    nested.mkdir()
    scratch = scratch_root() / name_for(run_id, "x")
    (scratch / "sub").mkdir(parents=True)
    target = tmp_path / "host-file"
    target.write_text("keep me")
    os.symlink(target, scratch / "link-to-host-file")
    os.symlink(tmp_path, scratch / "sub" / "link-to-host-dir")
    (scratch / "qmp.sock").write_text("")
    netns = name_for(run_id, "x")
    if shutil.which("ip"):
        subprocess.run(["ip", "netns", "add", netns], check=True)
    assert set(reaper.find_processes(only={run_id})) == {marked.pid, named.pid}

    report = reaper.reap(only={run_id})

    assert not report.errors, report.errors
    assert sorted(entry.split()[0] for entry in report.processes) == sorted(
        [str(marked.pid), str(named.pid)]
    )
    assert marked.wait(timeout=10) == -9 and named.wait(timeout=10) == -9
    assert any(path.endswith(name_for(run_id, "fake")) for path in report.cgroups)
    assert report.scratch_dirs == [name_for(run_id, "x")]
    assert not scratch.exists()
    assert target.read_text() == "keep me" and tmp_path.is_dir()
    if shutil.which("ip"):
        assert report.netns == [netns]
    # The lookalikes are all still there.
    assert _alive(lookalikes["process"]) and _alive(lookalikes["process_argv"])
    assert _alive(bystander)
    bystander.kill()
    bystander.wait()
    assert lookalikes["scratch"].is_dir() and lookalikes["cgroup"].is_dir()
    if shutil.which("ip"):
        assert lookalikes["netns"] in os.listdir("/run/netns")
    no_leftovers(run_id)


def test_keep_and_only_select_runs(run_id):
    other = run_id + 1
    mine, theirs = _sleeper(run_prefix(run_id)), _sleeper(run_prefix(other))
    try:
        report = reaper.reap(only={run_id, other}, keep={other})
        assert [entry.split()[0] for entry in report.processes] == [str(mine.pid)]
        assert mine.wait(timeout=10) == -9
        assert _alive(theirs)
    finally:
        theirs.kill()
        theirs.wait()
        mine.kill()
        mine.wait()


def test_reap_unmounts_before_deleting(run_id, tmp_path):
    scratch = scratch_root() / name_for(run_id, "m")
    (scratch / "tmp").mkdir(parents=True)
    subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(scratch / "tmp")], check=True
    )
    os.symlink(tmp_path, scratch / "tmp" / "escape")
    (tmp_path / "survivor").write_text("x")
    report = reaper.reap(only={run_id})
    assert report.mounts == [str(scratch / "tmp")]
    assert report.scratch_dirs == [name_for(run_id, "m")]
    assert not scratch.exists()
    assert (tmp_path / "survivor").exists()


def test_reap_with_nothing_to_do_is_quick_and_empty(run_id):
    started = time.monotonic()
    report = reaper.reap(only={run_id})
    elapsed = time.monotonic() - started
    assert report.empty, report.summary()
    assert report.summary() == "nothing to remove"
    # Not a timing assertion in earnest: only catches a reaper that shells out per process.
    assert elapsed < 5


def test_remove_scratch_dir_refuses_foreign_names(tmp_path):
    with pytest.raises(ValueError):
        reaper.remove_scratch_dir(tmp_path)
