"""``manage.py restore FILE``: load a ``manage.py backup`` archive into an empty database.

It refuses a database that already holds people's work (accounts, attempts, runs) —
restoring over it would mix two histories — and loads everything in one transaction,
so a damaged archive changes nothing. Run ``manage.py migrate`` first.
"""

from __future__ import annotations

import hashlib
import json
import tarfile
import tempfile
from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from courseware.models import Attempt, Course, Lesson, Module, Question, Quiz
from labs.models import LabRun

from .backup import DATA_FILE, FORMAT_VERSION


def read_archive(path: Path) -> tuple[dict, bytes]:
    try:
        with tarfile.open(path, mode="r:gz") as archive:
            manifest = json.loads(archive.extractfile("manifest.json").read())
            data = archive.extractfile(DATA_FILE).read()
    except (OSError, EOFError, KeyError, tarfile.TarError, ValueError, AttributeError) as error:
        raise CommandError(f"{path} is not a virtlab backup: {error}") from error
    if manifest.get("format") != FORMAT_VERSION:
        raise CommandError(
            f"{path} has backup format {manifest.get('format')!r}, not {FORMAT_VERSION}"
        )
    if hashlib.sha256(data).hexdigest() != manifest.get("data_sha256"):
        raise CommandError(f"{path} is damaged: {DATA_FILE} does not match its checksum")
    return manifest, data


class Command(BaseCommand):
    help = "Load a backup made by manage.py backup into an empty, migrated database."

    def add_arguments(self, parser):
        parser.add_argument("file")

    def handle(self, *args, file, **options):
        path = Path(file)
        if not path.is_file():
            raise CommandError(f"No such file: {path}")
        manifest, data = read_archive(path)
        in_use = {
            "accounts": get_user_model().objects.count(),
            "quiz attempts": Attempt.objects.count(),
            "lab runs": LabRun.objects.count(),
        }
        if any(in_use.values()):
            held = ", ".join(f"{count} {what}" for what, count in in_use.items() if count)
            raise CommandError(
                f"This database is not empty ({held}); restore into a fresh one "
                "(a new DATABASE_URL, or move var/db.sqlite3 aside), then run migrate first."
            )
        with tempfile.NamedTemporaryFile(suffix=".yaml") as fixture:
            fixture.write(data)
            fixture.flush()
            with transaction.atomic():
                # A fresh server has imported the shipped course at setup; with no one's
                # work attached it is only a copy of the files, and the backup's course
                # (with the ids its attempts refer to) replaces it.
                for model in (Question, Quiz, Lesson, Module, Course):  # leaves first
                    model.objects.all().delete()
                call_command("loaddata", fixture.name, verbosity=0)
        total = sum(manifest["rows"].values())
        self.stdout.write(
            f"Restored {total} rows from {path} (backed up {manifest['created']} "
            f"from {manifest['engine']})"
        )
