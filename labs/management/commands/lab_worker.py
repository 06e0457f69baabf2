import logging
import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import close_old_connections, connection

from labs import capabilities, hosts
from labs.stale import sweep

log = logging.getLogger(__name__)
SWEEP_SECONDS = 30


class Command(BaseCommand):
    help = (
        "Run the lab worker: probe the host, register it (heartbeating every few "
        "seconds), reap what crashed runs left behind, then execute queued lab runs "
        "(django-tasks-db's db_worker) with a periodic reaper."
    )

    def add_arguments(self, parser):
        parser.add_argument("--batch", action="store_true", help="run what is queued, then exit")

    def handle(self, *args, batch, **options):
        found = capabilities.refresh()
        try:
            hosts.register(found)
        except hosts.HostIdTaken as error:
            raise CommandError(str(error)) from error
        failed, report = sweep()
        self.stdout.write(
            f"lab worker on host {hosts.this_host_id()}: failed {len(failed)} stale run(s); "
            f"leftovers: {report.summary()}"
        )
        stop = threading.Event()
        # Two threads: a long sweep (reaping a dead run's VMs) must not delay the
        # heartbeat that keeps other hosts from taking this one for dead.
        for target in (hosts.heartbeat_forever, self._sweep_forever):
            threading.Thread(target=target, args=(stop,), daemon=True).start()
        try:
            call_command(
                "db_worker",
                queue_name="labs",
                interval=0.1,  # how soon a queued run is picked up when idle
                batch=batch,
                reload=False,
                startup_delay=False,
            )
        finally:
            stop.set()

    @staticmethod
    def _sweep_forever(stop: threading.Event) -> None:
        while not stop.wait(SWEEP_SECONDS):
            try:
                close_old_connections()
                sweep()
            except Exception:  # the sweeper must outlive a bad iteration
                log.exception("periodic sweep failed")
            finally:
                connection.close()
