"""Runs last (pytest collects this file after the test folders): after the whole suite,
nothing named after one of its runs may remain on the host — no process, cgroup, runc
state, network namespace, interface, nftables table, mount or scratch directory.

"Its runs": the ids this test session claimed (ownership.py). Another virtlab on the
host may be running labs right now, and its sandboxes are not leftovers."""

import pytest

from labs.sandbox import reaper


@pytest.mark.sandbox
def test_the_suite_left_nothing_behind():
    leftovers = {kind: names for kind, names in reaper.inventory(owned_only=True).items() if names}
    assert leftovers == {}
