import asyncio
import logging

from django.conf import settings
from django.core.management.base import BaseCommand

from terminals.host import Clocks, HostRunning, TerminalHost
from terminals.services import socket_path


def clocks_from_settings() -> Clocks:
    return Clocks(
        capacity=settings.VIRTLAB_TERMINALS_MAX,
        idle_seconds=settings.VIRTLAB_TERMINAL_IDLE_SECONDS,
        lifetime_seconds=settings.VIRTLAB_TERMINAL_LIFETIME_SECONDS,
        grace_seconds=settings.VIRTLAB_TERMINAL_GRACE_SECONDS,
    )


class Command(BaseCommand):
    help = "Hold the students' browser terminals (scripts/serve starts one per instance)."

    def add_arguments(self, parser):
        parser.add_argument("--socket", help="listen here instead of the instance's socket")

    def handle(self, *args, **options):
        logging.basicConfig(level=logging.INFO, format="terminal host: %(message)s")
        host = TerminalHost(options["socket"] or socket_path(), clocks_from_settings())

        async def main():
            host.install_signal_handlers()
            try:
                await host.serve()
            except HostRunning as error:
                # Its web workers attach to that host's socket (it is the instance's):
                # stay up, idle, so scripts/serve does not read this as a crash.
                logging.getLogger(__name__).warning("%s; this one stays idle", error)
                await host.stopping.wait()

        asyncio.run(main())
