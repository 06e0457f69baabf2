"""Two virtlabs on one host: ids are claimed host-wide, and a reaper removes only what
its own instance claimed, even when another's names fall in its id range."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from labs.sandbox import containers, ownership, reaper
from labs.sandbox.limits import Limits
from labs.sandbox.paths import REPO_ROOT

pytestmark = pytest.mark.sandbox


def test_an_id_has_one_owner(run_id):
    assert ownership.owns(run_id)  # the fixture's ids are claimed for this session
    ownership.claim(run_id)  # claiming again is a no-op
    with pytest.raises(ownership.SandboxIdTaken, match="VIRTLAB_SANDBOX_ID_BASE"):
        ownership.claim(run_id, owner="another-server")
    foreign = run_id + 1
    ownership.claim(foreign, owner="another-server")
    try:
        assert not ownership.owns(foreign)
        ownership.release(foreign)  # not ours: release leaves it
        assert ownership.claimant(foreign) == "another-server"
    finally:
        ownership.drop_claim(foreign)


def test_each_instance_picks_its_own_id_range(tmp_path, monkeypatch):
    monkeypatch.delenv("VIRTLAB_INSTANCE")
    seen = []
    for name in ("one", "two"):
        monkeypatch.setenv("VIRTLAB_VAR", str(tmp_path / name))
        ownership.instance.cache_clear()
        made = ownership.instance()
        ownership.instance.cache_clear()
        assert ownership.instance() == made  # kept in var/, the same on every start
        seen.append(made)
    ownership.instance.cache_clear()
    assert seen[0].id != seen[1].id
    assert all(0 < item.id_base < 900_000_000 for item in seen)
    stored = json.loads((tmp_path / "one" / "instance.json").read_text())
    assert stored == {"id": seen[0].id, "id_base": seen[0].id_base}


def test_the_reaper_spares_a_sandbox_it_cannot_prove_is_its_own(run_id, runc, no_leftovers):
    foreign = run_id + 7
    ownership.claim(foreign, owner="another-server")
    handle = containers.start_container(
        foreign, ["sleep", "30"], Limits(wall_seconds=30), runtime=runc
    )
    try:
        report = reaper.reap()  # everything of ours, anywhere on the host
        assert not any(f"vl{foreign}-" in entry for entry in report.processes + report.containers)
        assert handle.alive()
        assert reaper.inventory(only={foreign})["cgroups"]
        assert not any(reaper.inventory(only={foreign}, owned_only=True).values())
    finally:
        handle.stop()
        ownership.drop_claim(foreign)
    no_leftovers(foreign)


# A second virtlab in another process: its own instance id, a long-lived container,
# and a reaper sweep of everything it owns while ours runs.
OTHER_SERVER = textwrap.dedent(
    """
    import json, sys, time
    from labs.sandbox import containers, ownership, reaper
    from labs.sandbox.limits import Limits
    from labs.sandbox.naming import adhoc_run_id

    mine = adhoc_run_id()
    handle = containers.start_container(mine, ["sleep", "30"], Limits(wall_seconds=30), runtime="runc")
    print(json.dumps({"id": mine}), flush=True)
    theirs = int(sys.stdin.readline())
    try:
        ownership.claim(theirs)
        stole = True
    except ownership.SandboxIdTaken:
        stole = False
    report = reaper.reap(keep={mine})  # a server keeps what is running now
    print(json.dumps({"stole": stole, "reaped": report.removed, "alive": handle.alive()}), flush=True)
    sys.stdin.readline()
    handle.stop()
    reaper.reap(only={mine})
    """
)


def test_two_instances_at_once_do_not_disturb_each_other(run_id, runc, no_leftovers):
    ours = containers.start_container(
        run_id, ["sleep", "30"], Limits(wall_seconds=30), runtime=runc
    )
    env = {**os.environ, "VIRTLAB_INSTANCE": f"other-{os.getpid()}"}
    other = subprocess.Popen(
        [sys.executable, "-c", OTHER_SERVER],
        cwd=REPO_ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        their_id = json.loads(other.stdout.readline())["id"]
        assert not ownership.owns(their_id)
        other.stdin.write(f"{run_id}\n")
        other.stdin.flush()
        verdict = json.loads(other.stdout.readline())
        # They could neither take our id nor reap our container; theirs is alive too.
        assert verdict == {"stole": False, "reaped": 0, "alive": True}
        assert ours.alive()
        report = reaper.reap(keep={run_id})
        assert report.removed == 0
        assert reaper.inventory(only={their_id})["cgroups"]  # theirs survived our sweep
        other.stdin.write("done\n")
        other.stdin.flush()
        assert other.wait(timeout=60) == 0
    finally:
        if other.poll() is None:
            other.kill()
        ours.stop()
    deadline = time.monotonic() + 10
    while any(reaper.inventory(only={their_id}).values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    no_leftovers(run_id)
    no_leftovers(their_id)


def test_claims_of_dead_processes_with_nothing_left_are_dropped(run_id, db):
    from labs import stale

    finished = subprocess.Popen(["true"])
    finished.wait()
    abandoned_id, live_id = run_id + 11, run_id + 12
    for sandbox_id, pid in ((abandoned_id, finished.pid), (live_id, os.getpid())):
        record = {"owner": "another-server", "pid": pid, "at": time.time()}
        (ownership.CLAIMS_DIR / f"vl{sandbox_id}").write_text(json.dumps(record))
    try:
        stale.drop_abandoned_claims()
        assert ownership.claimant(abandoned_id) is None
        assert ownership.claimant(live_id) == "another-server"  # its process still runs
    finally:
        ownership.drop_claim(abandoned_id)
        ownership.drop_claim(live_id)


def test_what_a_killed_test_session_left_is_reaped_by_the_next(run_id, runc, db, no_leftovers):
    from labs import stale

    finished = subprocess.Popen(["true"])
    finished.wait()
    dead_session, dead_server, live_session = run_id + 21, run_id + 22, run_id + 23
    owners = {
        dead_session: (f"test-{finished.pid}-deadbeef", finished.pid),
        dead_server: ("a-server-instance", finished.pid),
        live_session: (f"test-{os.getpid()}-cafe", os.getpid()),
    }
    handles = []
    try:
        for sandbox_id, (owner, pid) in owners.items():
            ownership.claim(sandbox_id, owner=owner)
            record = {"owner": owner, "pid": pid, "at": time.time()}
            (ownership.CLAIMS_DIR / f"vl{sandbox_id}").write_text(json.dumps(record))
            handles.append(
                containers.start_container(
                    sandbox_id, ["sleep", "30"], Limits(wall_seconds=30), runtime=runc
                )
            )
        stale.reap_dead_test_sessions()
        # A dead test session's container is gone, its claim with it; a server's (it
        # comes back for its own) and a live session's are left alone.
        no_leftovers(dead_session)
        assert ownership.claimant(dead_session) is None
        assert handles[1].alive() and ownership.claimant(dead_server) == "a-server-instance"
        assert handles[2].alive() and ownership.claimant(live_session).endswith("-cafe")
    finally:
        for handle in handles:
            handle.stop()
        for sandbox_id in owners:
            ownership.drop_claim(sandbox_id)
