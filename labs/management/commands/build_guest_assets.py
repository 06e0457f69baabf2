from django.core.management.base import BaseCommand, CommandError

from labs.sandbox import container_assets, guest_assets


class Command(BaseCommand):
    help = (
        "Build the guest kernel, initramfs, container root filesystem and aarch64 busybox "
        "under var/ (idempotent; quick when up to date)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--force", action="store_true", help="rebuild even if up to date")
        parser.add_argument(
            "--strict", action="store_true", help="exit non-zero when an asset cannot be built"
        )

    def handle(self, *args, force, strict, **options):
        failures = []
        for name, module in (("container rootfs", container_assets), ("guest", guest_assets)):
            try:
                self.stdout.write(f"{name}: {module.build(force=force)}")
            except Exception as exc:  # a missing host tool: report and let the doctor explain
                failures.append(f"{name}: {exc}")
                self.stderr.write(f"{name}: could not build: {exc}")
        if failures and strict:
            raise CommandError("; ".join(failures))
