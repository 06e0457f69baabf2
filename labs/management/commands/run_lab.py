import json

from django.core.management.base import BaseCommand, CommandError

from labs import capabilities
from labs.experiments import REGISTRY, get_lab
from labs.runner import execute_run
from labs.services import RunRefused, run_create


class Command(BaseCommand):
    help = "Run a lab in the foreground (for checks and benchmarks) and print its results."

    def add_arguments(self, parser):
        parser.add_argument("slug", help=f"one of: {', '.join(REGISTRY)}")
        parser.add_argument(
            "--param", action="append", default=[], metavar="NAME=VALUE", help="repeatable"
        )
        parser.add_argument(
            "--json", action="store_true", dest="as_json", help="print the results as JSON"
        )

    def handle(self, *args, slug, param, as_json, **options):
        lab = get_lab(slug)
        if lab is None:
            raise CommandError(f"No lab {slug!r}; labs: {', '.join(REGISTRY)}")
        raw = {}
        for item in param:
            name, sep, value = item.partition("=")
            if not sep:
                raise CommandError(f"--param {item!r} must look like name=value")
            raw[name.strip()] = value.strip()
        # Validate before probing: refreshing the capabilities starts probe containers,
        # a namespace and nft, and a refused call must start nothing.
        _, errors = lab.validate(raw)
        if errors:
            raise CommandError("; ".join(f"{name}: {message}" for name, message in errors.items()))
        capabilities.refresh()
        try:
            run = run_create(user=None, lab=lab, params=raw, enqueue=False)
        except RunRefused as exc:
            raise CommandError(str(exc)) from exc
        run = execute_run(run.pk)
        run.refresh_from_db()
        payload = {
            "run_id": run.pk,
            "lab": run.lab,
            "status": run.status,
            "params": run.params,
            "error": run.error,
            "host": run.host_facts,
            "summary": run.summary,
            "samples": run.samples,
        }
        if as_json:
            self.stdout.write(json.dumps(payload, indent=2))
        else:
            self.stdout.write(f"{lab.title}: {run.status}")
            for key, value in run.summary.items():
                self.stdout.write(f"  {lab.summary_labels.get(key, key)}: {value}")
            if run.error:
                self.stdout.write(f"  error: {run.error}")
        if run.status != "succeeded":
            raise CommandError(f"run {run.pk} {run.status}: {run.error}")
