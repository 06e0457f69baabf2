import sys

from django.core.management.base import BaseCommand

from labs import capabilities
from labs.sandbox import doctor


class Command(BaseCommand):
    help = "Probe what the labs need on this host; exit 0 when the labs can run."

    def add_arguments(self, parser):
        parser.add_argument("--json", action="store_true", dest="as_json", help="print JSON")
        parser.add_argument("--quiet", action="store_true", help="print nothing; exit status only")

    def handle(self, *args, as_json, quiet, **options):
        found = capabilities.refresh()  # also updates the cache the lab pages read
        if not quiet:
            self.stdout.write(doctor.render(found, as_json=as_json))
        sys.exit(0 if doctor.labs_ready(found) else 1)
