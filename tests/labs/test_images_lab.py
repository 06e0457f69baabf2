"""images on the real host: podman builds from a base imported from the busybox
rootfs, its own report of cache hits, layer sizes, and a registry in the run's
namespaces that receives shared layers once. Data, never timings; nothing left."""

from __future__ import annotations

import pytest

from labs.experiments import get_lab
from labs.models import LabRun
from labs.runner import execute_run
from labs.sandbox.images import parse_build
from tests.labs.leftovers import leftovers, nothing_left

MIB_DEPS = 2


def _run(params: dict) -> LabRun:
    lab = get_lab("images")
    params, errors = lab.validate(params)
    assert not errors
    run = LabRun.objects.create(lab=lab.slug, params=params)
    run = execute_run(run.pk)
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    return run


def _builds(run: LabRun) -> dict[str, dict]:
    return {s["build"]: s for s in run.samples if s["part"] == "build"}


def _transfers(run: LabRun) -> dict[str, dict]:
    return {s["transfer"]: s for s in run.samples if s["part"] == "registry"}


@pytest.mark.sandbox
def test_cache_layers_and_registry_dedup_deps_first(db, host_capabilities):
    run = _run({"variant": 1, "deps_mib": MIB_DEPS})
    builds = _builds(run)
    cold, cached = builds["cold"], builds["cached"]
    app, deps = builds["app edited"], builds["deps changed"]
    # Six instructions after FROM; podman's own report says which came from its cache.
    assert cold["steps"] == 6 and cold["cache_hits"] == 0
    assert cached["cache_hits"] == 6 and cached["first_rebuilt_step"] is None
    assert cached["image_id"] == cold["image_id"]  # the very same image, rebuilt from cache
    # Editing the app (step 6) reuses the four steps above it; changing the dependency
    # list (step 2) reuses nothing.
    assert app["first_rebuilt_step"] == 6 and app["cache_hits"] == 4
    assert deps["first_rebuilt_step"] == 2 and deps["cache_hits"] == 0
    assert app["image_id"] != cold["image_id"]

    layers = [s for s in run.samples if s["part"] == "layer"]
    assert len(layers) == 7 and layers[0]["instruction"].startswith("(base")
    # The archive's layer and the unpacked copy each hold the dependencies; deleting the
    # archive in a later step adds a layer and frees nothing.
    assert layers[2]["layer_mib"] >= MIB_DEPS and layers[3]["layer_mib"] >= MIB_DEPS
    assert layers[4]["layer_mib"] < 0.1
    assert cold["image_mib"] >= 2 * MIB_DEPS

    transfers = _transfers(run)
    first, second = transfers["push first"], transfers["push second"]
    assert first["uploaded_mib"] >= 2 * MIB_DEPS  # every layer, base included
    assert second["uploaded_mib"] < first["uploaded_mib"] / 10  # only the app's layers
    assert transfers["pull second"]["downloaded_mib"] < transfers["pull first"]["downloaded_mib"]
    summary = run.summary
    assert summary["second_push_fraction"] < 0.1
    assert summary["cached_steps"] == 6
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)


@pytest.mark.sandbox
def test_app_first_rebuilds_everything_and_multi_stage_drops_the_dependencies(
    db, host_capabilities
):
    run = _run({"variant": 2, "deps_mib": MIB_DEPS})
    app = _builds(run)["app edited"]
    # COPY . /src is the first step: an edit to the app invalidates every step.
    assert app["cache_hits"] == 0 and app["first_rebuilt_step"] == 2
    second = _transfers(run)["push second"]
    assert second["uploaded_mib"] >= 2 * MIB_DEPS  # the dependencies are sent again
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)

    run = _run({"variant": 4, "deps_mib": MIB_DEPS})
    builds = _builds(run)
    cold, cached = builds["cold"], builds["cached"]
    # Both stages' steps are read from podman's report ("[1/2] STEP 3/5: …").
    assert cold["steps"] == cached["cache_hits"] == 5 and cold["cache_hits"] == 0
    layers = [s for s in run.samples if s["part"] == "layer"]
    assert len(layers) == 2  # the base and the copied app: the build stage stays behind
    base = next(s for s in run.samples if s["part"] == "base")
    assert cold["image_mib"] < base["image_mib"] + 0.1  # the base and a few bytes of app
    assert nothing_left(run.sandbox_id), leftovers(run.sandbox_id)


def test_out_of_bounds_parameters_are_refused():
    lab = get_lab("images")
    _, errors = lab.validate({"variant": 5, "deps_mib": 0})
    assert set(errors) == {"variant", "deps_mib"}
    _, errors = lab.validate({"variant": 1.5, "deps_mib": 64, "base": "debian"})
    assert set(errors) == {"variant", "deps_mib", "base"}
    cleaned, errors = lab.validate({})
    assert not errors and cleaned == {"variant": 1, "deps_mib": 4}


PODMAN_OUTPUT = """STEP 1/4: FROM localhost/vl1-base:latest
STEP 2/4: COPY deps.txt /src/deps.txt
--> Using cache 4f6c526aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa
--> 4f6c526aaaa
STEP 3/4: COPY app.sh /src/app.sh
--> 9be1ca305f7
STEP 4/4: RUN echo built
COMMIT localhost/vl1-v1:cold
--> 7aa757edd89
Successfully tagged localhost/vl1-v1:cold
7aa757edd8989a58891d42d3de23133746c3a13ed24a348d93d8234ba98e6012
"""


def test_the_cache_report_is_read_from_podman_output():
    build = parse_build("t", 1.0, PODMAN_OUTPUT)
    assert (build.steps, build.cache_hits, build.first_rebuilt_step) == (3, 1, 3)
    assert build.image_id.startswith("7aa757edd898")


def test_a_host_without_podman_is_told_what_to_install(monkeypatch):
    from labs.sandbox import images

    real_which = images.shutil.which
    monkeypatch.setattr(
        images.shutil, "which", lambda tool: None if tool == "podman" else real_which(tool)
    )
    found = {cap.name: cap for cap in images.capabilities()}
    assert not found["image-builder"].ok and not found["image-registry"].ok
    assert "apt-get install -y podman docker-registry" in found["image-builder"].install
    assert set(get_lab("images").needs) >= {"image-builder", "image-registry"}
