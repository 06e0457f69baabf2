"""Runs last (pytest collects this file after the test folders): after the whole suite,
nothing named after a run may remain on the host — no process, cgroup, runc state,
network namespace, interface, nftables table, mount or scratch directory."""

import pytest

from labs.sandbox import reaper


@pytest.mark.sandbox
def test_the_suite_left_nothing_behind():
    leftovers = {kind: names for kind, names in reaper.inventory().items() if names}
    assert leftovers == {}
