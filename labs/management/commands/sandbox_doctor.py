import contextlib
import json
import socket
import sys

from django.core.management.base import BaseCommand
from django.db import DatabaseError

from labs import capabilities, hosts
from labs.sandbox import doctor, ownership
from labs.slots import slots_in_use, slots_total


class Command(BaseCommand):
    help = (
        "Probe what the labs need on this host; exit 0 when the labs can run. With "
        "--json, also this host's id, facts and slots (what the hosts page shows)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--quiet", action="store_true", help="print nothing; exit status only")

    def handle(self, *args, as_json, quiet, **options):
        found = capabilities.refresh()  # also updates the cache the lab pages read
        # And this host's row, when it has one; with no database here (yet) the doctor
        # answers all the same.
        with contextlib.suppress(DatabaseError):
            hosts.record_capabilities(found)
        if quiet:
            pass
        elif as_json:
            self.stdout.write(json.dumps(host_report(found), indent=2))
        else:
            self.stdout.write(doctor.render(found))
        sys.exit(0 if doctor.labs_ready(found) else 1)


def host_report(found) -> dict:
    """The doctor's findings with the host they were made on. Needs no database: it
    answers on a host whose worker cannot reach the database yet."""
    return {
        "host": {
            "id": hosts.this_host_id(),
            "hostname": socket.gethostname(),
            "instance": ownership.instance().id,
        },
        "ready": doctor.labs_ready(found),
        "capabilities": [cap.as_dict() for cap in found],
        "facts": hosts.facts(),
        "slots": {"total": slots_total(), "in_use": slots_in_use()},
    }
