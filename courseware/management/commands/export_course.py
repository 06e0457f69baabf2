from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from courseware.coursefiles.lesson_files import ContentError
from courseware.coursefiles.sync import course_export
from courseware.glossary import export_glossary


class Command(BaseCommand):
    help = "Write the course back out in the layout import_course reads."

    def add_arguments(self, parser):
        parser.add_argument("directory")
        parser.add_argument(
            "--drafts",
            action="store_true",
            help="Write each lesson's newest revision, published or not.",
        )

    def handle(self, *args, directory, drafts, **options):
        try:
            written = course_export(root=Path(directory), drafts=drafts)
        except ContentError as exc:
            raise CommandError("; ".join(exc.problems)) from exc
        if glossary := export_glossary(Path(directory)):
            written.append(glossary)
        self.stdout.write(f"Wrote {len(written)} files to {directory}")
