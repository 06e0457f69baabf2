"""images: layers, the build cache and a registry, with a real builder.

Podman (rootful, its storage in the run's scratch directory) builds small images
from a base imported from the app's busybox root filesystem — nothing is pulled from
the internet. The student picks which Containerfile variants to build; each is built

- cold (``--no-cache``), then again with nothing changed (every step should come
  from the cache: podman says "Using cache" for each),
- after editing the application (one small file), and
- after changing the dependencies (the list the "install" step reads),

and timed each time; podman's own report says which steps came from the cache.
Each layer's size comes from ``podman history``. The first and the edited image of
each variant are pushed to a registry (Debian's ``docker-registry``) the run starts
inside a network namespace of its own, and pulled back, the first into an empty store
and the second into the store that already holds the first; the bytes
that crossed the veth between the client's namespace and the registry's are counted
by the kernel, so the second push shows which layers the registry already had.
"""

from __future__ import annotations

from labs.sandbox import images
from labs.sandbox.images import ImageWorkspace

from .base import NEEDS_CONTAINERS, Column, Lab, Param, Progress, RunContext, Sample
from .guests import stopping
from .images_figure import figure
from .stats import ratio_or_none, rounded

MIB = 1 << 20

# The steps the variants are made of. The "install" makes an archive of the
# dependencies (random bytes, standing in for a download with no network: nothing
# compresses them away), unpacks it and deletes
# the archive; the "build" turns the application's source into its installed form.
FETCH = (
    ". /src/deps.txt && mkdir -p /var/cache/dl && dd if=/dev/urandom of=/var/cache/dl/libdeps.so"
    " bs=1M count=$DEPS_MIB 2>/dev/null && tar -cf /var/cache/deps.tar -C /var/cache/dl ."
    " && rm -rf /var/cache/dl"
)
UNPACK = "mkdir -p /opt/deps && tar -xf /var/cache/deps.tar -C /opt/deps"
CLEAN = "rm -f /var/cache/deps.tar"
BUILD_APP = "mkdir -p /opt/app && cp /src/app.sh /opt/app/app && chmod 755 /opt/app/app"

VARIANTS = {
    1: ("deps first", "dependencies first, one step per layer", [
        "COPY deps.txt /src/deps.txt", f"RUN {FETCH}", f"RUN {UNPACK}", f"RUN {CLEAN}",
        "COPY app.sh /src/app.sh", f"RUN {BUILD_APP}",
    ]),
    2: ("app first", "everything copied first (COPY . /src), then the same steps", [
        "COPY . /src/", f"RUN {FETCH}", f"RUN {UNPACK}", f"RUN {CLEAN}", f"RUN {BUILD_APP}",
    ]),
    3: ("one fat layer", "dependencies first, installed in one RUN (download, unpack, delete)", [
        "COPY deps.txt /src/deps.txt", f"RUN {FETCH} && {UNPACK} && {CLEAN}",
        "COPY app.sh /src/app.sh", f"RUN {BUILD_APP}",
    ]),
    4: ("multi-stage", "built in a first stage; the final image copies only the app", [
        "COPY deps.txt /src/deps.txt", f"RUN {FETCH} && {UNPACK} && {CLEAN}",
        "COPY app.sh /src/app.sh", f"RUN {BUILD_APP}",
        "FROM {base}", "COPY --from=build /opt/app/app /opt/app/app",
    ]),
}  # fmt: skip
VARIANT_NAMES = {number: name for number, (name, _, _) in VARIANTS.items()}
# The builds of each variant, in order; each edit stays for the builds after it.
BUILDS = ("cold", "cached", "app edited", "deps changed")

PARAMS = (
    Param("variant", "Containerfile variant", 1, 0, len(VARIANTS),
          "0 builds all four and compares them; 1 dependencies first, one step per layer; "
          "2 the application copied first (COPY . /src); 3 the dependencies installed in "
          "one fat RUN; 4 a multi-stage build."),
    Param("deps_mib", "Dependencies", 4, 1, 32,
          "Size of the dependency archive the install step makes (standing in for a "
          "download), 1–32 MiB.", "MiB"),
)  # fmt: skip


def containerfile(variant: int, base: str) -> str:
    _, _, steps = VARIANTS[variant]
    first = f"FROM {base} AS build" if variant == 4 else f"FROM {base}"
    lines = [first, *[step.replace("{base}", base) for step in steps]]
    return "\n".join(lines) + "\n"


def app_source(version: int) -> str:
    return f'#!/bin/sh\necho "hello from the app, version {version}"\n'


def deps_list(deps_mib: int, version: int) -> str:
    return f"DEPS_MIB={deps_mib}\nDEPS_VERSION={version}\n"


def _write_context(space: ImageWorkspace, variant: int, base: str, params: dict):
    context = space.context(f"v{variant}")
    (context / "Containerfile").write_text(containerfile(variant, base))
    (context / "app.sh").write_text(app_source(1))
    (context / "deps.txt").write_text(deps_list(params["deps_mib"], 1))
    return context


def _edit(context, build: str, params: dict) -> None:
    if build == "app edited":
        (context / "app.sh").write_text(app_source(2))
    elif build == "deps changed":
        (context / "deps.txt").write_text(deps_list(params["deps_mib"], 2))


def _build_row(variant: int, build: str, made: images.Build, image_bytes: int) -> dict:
    return {
        "part": "build", "variant": variant, "variant_name": VARIANT_NAMES[variant],
        "build": build, "seconds": rounded(made.seconds, 3), "steps": made.steps,
        "cache_hits": made.cache_hits, "first_rebuilt_step": made.first_rebuilt_step,
        "image_mib": rounded(image_bytes / MIB, 3), "image_id": made.image_id[:12],
    }  # fmt: skip


def _layer_rows(space: ImageWorkspace, variant: int, image: str) -> list[dict]:
    return [
        {
            "part": "layer", "variant": variant, "variant_name": VARIANT_NAMES[variant],
            "layer": index, "instruction": "(base image: busybox)" if layer["base"]
            else layer["instruction"][:160],
            "layer_mib": rounded(layer["bytes"] / MIB, 3),
        }
        for index, layer in enumerate(space.layers(image))
    ]  # fmt: skip


def _transfer_row(variant: int, what: str, transfer: images.Transfer, stored: int) -> dict:
    return {
        "part": "registry", "variant": variant, "variant_name": VARIANT_NAMES[variant],
        "transfer": what, "seconds": rounded(transfer.seconds, 3),
        "uploaded_mib": rounded(transfer.bytes_sent / MIB, 4),
        "downloaded_mib": rounded(transfer.bytes_received / MIB, 4),
        "registry_mib": rounded(stored / MIB, 3),
    }  # fmt: skip


def run(params: dict, ctx: RunContext):
    chosen = [params["variant"]] if params["variant"] else list(VARIANTS)
    total = len(chosen) * (len(BUILDS) + 4) + 2
    done = 0

    def step(text: str) -> Progress:
        return Progress(text, min(0.99, done / total))

    with ImageWorkspace(ctx.run_id) as space:
        yield step("starting a registry in the run's network namespace")
        space.start_registry()
        done += 1
        for variant in chosen:
            # A store per variant: one variant's layers are never another's cache.
            space.use_store(f"v{variant}")
            yield step(f"{VARIANT_NAMES[variant]}: importing the busybox rootfs as a base image")
            base, seconds = space.import_base()
            if variant == chosen[0]:
                yield Sample({"part": "base", "build": "import", "seconds": rounded(seconds, 3),
                              "image_mib": rounded(space.image_bytes(base)[0] / MIB, 3),
                              "podman_version": images.version(images.PODMAN),
                              "registry_version": images.version(images.REGISTRY)})  # fmt: skip
                done += 1
            context = _write_context(space, variant, base, params)
            tags, made = {}, {}
            for build in BUILDS:
                if ctx.should_stop():
                    yield from stopping()
                    return
                yield step(f"{VARIANT_NAMES[variant]}: build, {build}")
                _edit(context, build, params)
                tags[build] = space.image_name(f"v{variant}") + ":" + build.split()[0]
                made[build] = space.build(context, tags[build], no_cache=build == "cold")
                done += 1
            sizes = space.image_bytes(*tags.values())
            for build, size in zip(BUILDS, sizes, strict=True):
                yield Sample(_build_row(variant, build, made[build], size))
            for row in _layer_rows(space, variant, tags["cold"]):
                yield Sample(row)
            for index, (build, label) in enumerate((("cold", "first"), ("app edited", "second"))):
                yield step(f"{VARIANT_NAMES[variant]}: push, {label} image")
                remote = space.remote(f"v{variant}", f"v{index + 1}")
                pushed = space.push(tags[build], remote)
                yield Sample(
                    _transfer_row(variant, f"push {label}", pushed, space.registry_bytes())
                )
                done += 1
            for index, label in enumerate(("first", "second")):
                yield step(f"{VARIANT_NAMES[variant]}: pull, {label} image")
                pulled = space.pull(space.remote(f"v{variant}", f"v{index + 1}"))
                yield Sample(
                    _transfer_row(variant, f"pull {label}", pulled, space.registry_bytes())
                )
                done += 1


def _rows(samples: list[dict], part: str, variant: int | None = None) -> list[dict]:
    return [
        s for s in samples if s.get("part") == part and (variant is None or s["variant"] == variant)
    ]


def _headline_variant(samples: list[dict], params: dict) -> int:
    return params.get("variant") or 1


def summarize(samples: list[dict], params: dict) -> dict:
    variant = _headline_variant(samples, params)
    builds = {s["build"]: s for s in _rows(samples, "build", variant)}
    transfers = {s["transfer"]: s for s in _rows(samples, "registry", variant)}
    cold, cached = builds.get("cold", {}), builds.get("cached", {})
    late, early = builds.get("app edited", {}), builds.get("deps changed", {})
    first, second = transfers.get("push first", {}), transfers.get("push second", {})
    pull1, pull2 = transfers.get("pull first", {}), transfers.get("pull second", {})
    # One line for the summary list: "deps first 10.1 · app first 10.1 · …".
    sizes = " · ".join(
        f"{s['variant_name']} {s['image_mib']:.1f}"
        for s in _rows(samples, "build")
        if s["build"] == "cold" and s.get("image_mib") is not None
    )
    return {
        "variant": VARIANT_NAMES.get(variant),
        "cold_build_s": cold.get("seconds"),
        "cached_build_s": cached.get("seconds"),
        "cached_steps": cached.get("cache_hits"),
        "cold_over_cached": rounded(ratio_or_none(cold.get("seconds"), cached.get("seconds")), 2),
        "app_edit_rebuild_s": late.get("seconds"),
        "deps_change_rebuild_s": early.get("seconds"),
        "app_edit_steps_from_cache": late.get("cache_hits"),
        "early_over_late_rebuild": rounded(
            ratio_or_none(early.get("seconds"), late.get("seconds")), 2
        ),
        "image_mib": cold.get("image_mib"),
        "first_push_mib": first.get("uploaded_mib"),
        "second_push_mib": second.get("uploaded_mib"),
        "second_push_fraction": rounded(
            ratio_or_none(second.get("uploaded_mib"), first.get("uploaded_mib")), 4
        ),
        "first_pull_mib": pull1.get("downloaded_mib"),
        "second_pull_mib": pull2.get("downloaded_mib"),
        "image_mib_by_variant": sizes or None,
    }


LAB = Lab(
    slug="images",
    title="Images: layers, the build cache and a registry",
    summary="Build real images with podman from Containerfiles that differ only in how "
    "they are written, and measure layer sizes, cached and uncached builds, rebuilds after "
    "an early and a late change, and what a registry receives the second time.",
    explanation=(
        "An image is a stack of layers, one per instruction that changes the filesystem, "
        "and a builder keeps every layer it made in its cache, keyed by the instruction and "
        "what it copied. On a rebuild it reuses layers from the top of the file down until "
        "the first instruction whose input changed; from there on, everything runs "
        "again.\n\n"
        "**The variants.** All four install the same dependencies (an archive of random "
        "bytes the install step downloads, unpacks and deletes) and the same small "
        "application:\n\n"
        "1. *deps first*: the dependency list is copied and installed before the "
        "application is copied, one instruction per step;\n"
        "2. *app first*: `COPY . /src` first, so the application is part of the very first "
        "step;\n"
        "3. *one fat layer*: like 1, but download, unpack and delete in one `RUN`;\n"
        "4. *multi-stage*: like 3 in a build stage; the final image starts again from the "
        "base and copies only the application.\n\n"
        "**What is measured.** Each variant is built cold (`--no-cache`), again unchanged, "
        "after editing the application and after changing the dependency list. Podman's "
        "own report says which steps came from its cache; the layer sizes come from "
        "`podman history`. Then the first and the edited image are pushed to a registry "
        "this run starts (Debian's `docker-registry`) in a network namespace of its own, "
        "and pulled back into an empty store: the kernel counts the bytes that crossed "
        "the virtual cable, so you see which layers were sent twice and which the registry "
        "already had. Every variant builds in a store of its own (no variant's layers serve "
        "as another's cache) but pushes to the one registry, so with several variants the "
        "base layer is sent only with the first.\n\n"
        "Everything is real: podman builds with runc from a base image imported from the "
        "app's busybox root filesystem (nothing comes from the internet), its storage lives "
        "in this run's scratch directory, and the registry, the namespaces and the images "
        "are removed when the run ends. Times on a shared two-core host are noisy; the "
        "cache hits and the bytes are not."
    ),
    params=PARAMS,
    needs=(*NEEDS_CONTAINERS, "image-builder", "image-registry", "netns"),
    columns=(
        Column("part", "Part"),
        Column("variant_name", "Variant"),
        Column("build", "Build"),
        Column("seconds", "Time", "s"),
        Column("steps", "Steps"),
        Column("cache_hits", "Steps from the cache"),
        Column("first_rebuilt_step", "First step run again"),
        Column("image_mib", "Image size", "MiB"),
        Column("image_id", "Image id"),
        Column("layer", "Layer"),
        Column("instruction", "Instruction"),
        Column("layer_mib", "Layer size", "MiB"),
        Column("transfer", "Transfer"),
        Column("uploaded_mib", "Sent to the registry", "MiB"),
        Column("downloaded_mib", "Received from the registry", "MiB"),
        Column("registry_mib", "Stored in the registry", "MiB"),
    ),
    run=run,
    summarize=summarize,
    figure=figure,
    max_seconds=lambda params: (
        90 + (1 if params.get("variant") else len(VARIANTS)) * (75 + 3 * params.get("deps_mib", 4))
    ),
    predict_keys=("early_over_late_rebuild", "second_push_fraction", "cold_over_cached"),
    summary_labels={
        "variant": "Variant the headline figures come from",
        "cold_build_s": "Cold build (s)",
        "cached_build_s": "Rebuild, nothing changed (s)",
        "cached_steps": "Steps taken from the cache, nothing changed",
        "cold_over_cached": "Cold ÷ cached build time",
        "app_edit_rebuild_s": "Rebuild after editing the app (s)",
        "deps_change_rebuild_s": "Rebuild after changing the dependencies (s)",
        "app_edit_steps_from_cache": "Steps from the cache after editing the app",
        "early_over_late_rebuild": "Rebuild time, dependencies changed ÷ app edited",
        "image_mib": "Image size (MiB)",
        "first_push_mib": "First push: sent to the registry (MiB)",
        "second_push_mib": "Second push (app edited): sent (MiB)",
        "second_push_fraction": "Second push ÷ first push, bytes sent",
        "first_pull_mib": "First pull into an empty store: received (MiB)",
        "second_pull_mib": "Second pull: received (MiB)",
        "image_mib_by_variant": "Image size by variant (MiB)",
    },
)
