"""``manage.py backup [FILE]``: everything a class has written, in one archive.

The archive (``.tar.gz``) holds ``data.yaml`` — every row that records people's work
(accounts and groups, the course as imported or authored, progress, quiz attempts,
classes, lab runs and their measurements, task results), written by ``dumpdata``
with natural keys so it loads into any database engine (YAML, not JSON: Django's JSON
encoder cuts times to milliseconds, and the order of attempts depends on the rest) —
and ``manifest.json`` (when, from which engine, how many rows of each model, a
checksum of data.yaml). Rows that
rebuild themselves are left out: content types and permissions (made by ``migrate``),
sessions (students sign in again), sign-in throttling records.

The file is written beside its final name and renamed into place, so a crash never
leaves a half archive under the real name. ``manage.py restore FILE`` reads it back.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import tarfile
import tempfile
from pathlib import Path

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand
from django.db import connection
from django.utils import timezone

from virtlab import yamltext

FORMAT_VERSION = 1
DATA_FILE = "data.yaml"
# Rebuilt by migrate, or transient: never worth restoring.
EXCLUDED = [
    "contenttypes",
    "auth.permission",
    "sessions",
    "admin.logentry",
    "axes",
]


def dump_rows() -> bytes:
    out = io.StringIO()
    call_command(
        "dumpdata",
        natural_foreign=True,
        natural_primary=True,
        exclude=EXCLUDED,
        format="yaml",
        stdout=out,
        verbosity=0,
    )
    return out.getvalue().encode()


def row_counts(data: bytes) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in yamltext.load(data) or []:
        counts[row["model"]] = counts.get(row["model"], 0) + 1
    return dict(sorted(counts.items()))


class Command(BaseCommand):
    help = "Write the database's user data to a .tar.gz archive (see manage.py restore)."

    def add_arguments(self, parser):
        parser.add_argument(
            "file",
            nargs="?",
            help="where to write it (default: var/backups/virtlab-<time>.tar.gz)",
        )

    def handle(self, *args, file=None, **options):
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        target = Path(file or Path(settings.VAR_DIR) / "backups" / f"virtlab-{stamp}.tar.gz")
        target.parent.mkdir(parents=True, exist_ok=True)
        data = dump_rows()
        manifest = {
            "format": FORMAT_VERSION,
            "created": timezone.now().isoformat(),
            "engine": connection.vendor,
            "rows": row_counts(data),
            "data_sha256": hashlib.sha256(data).hexdigest(),
        }
        fd, partial = tempfile.mkstemp(dir=target.parent, prefix=".backup-", suffix=".partial")
        try:
            with os.fdopen(fd, "wb") as raw, tarfile.open(fileobj=raw, mode="w:gz") as archive:
                for name, payload in (
                    ("manifest.json", json.dumps(manifest, indent=2).encode()),
                    (DATA_FILE, data),
                ):
                    info = tarfile.TarInfo(name)
                    info.size = len(payload)
                    info.mtime = int(timezone.now().timestamp())
                    archive.addfile(info, io.BytesIO(payload))
            os.chmod(partial, 0o600)  # it holds password hashes
            os.replace(partial, target)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise
        total = sum(manifest["rows"].values())
        self.stdout.write(f"Backed up {total} rows to {target}")
