from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from courseware.coursefiles.lesson_files import ContentError, read_course
from courseware.coursefiles.sync import course_import
from courseware.glossary import install_glossary, read_glossary_file
from courseware.models import Lesson


class Command(BaseCommand):
    help = "Import the course from its files (idempotent); nothing is imported if a file is bad."

    def add_arguments(self, parser):
        parser.add_argument("directory", nargs="?", default=str(settings.VIRTLAB_CONTENT_DIR))
        parser.add_argument(
            "--seed",
            action="store_true",
            help="Fill an empty database only; an existing course is left as its "
            "instructors made it, and changed files become draft revisions to review.",
        )

    def handle(self, *args, directory, seed, **options):
        root = Path(directory)
        glossary = None
        try:
            if not seed:  # seeding leaves an existing course, glossary included, alone
                lessons = {spec.slug for spec in read_course(root).lessons}
                lessons |= set(Lesson.objects.values_list("slug", flat=True))
                glossary = read_glossary_file(root, lessons)
            report = course_import(root=root, seed=seed)
        except ContentError as exc:
            lines = "\n".join(f"  {p}" for p in exc.problems)
            raise CommandError(f"Nothing was imported from {root}:\n{lines}") from exc
        self.stdout.write(f"Course import from {root}: {report.summary()}")
        labelled = (
            ("created", report.created),
            ("updated", report.updated),
            ("draft revision to review", report.drafted),
        )
        for label, items in labelled:
            for item in items:
                self.stdout.write(f"  {label}: {item}")
        if options["verbosity"] > 1:
            for item in report.unchanged:
                self.stdout.write(f"  unchanged: {item}")
        if glossary is not None:
            state = install_glossary(glossary)
            if state != "unchanged" or options["verbosity"] > 1:
                self.stdout.write(f"  {state}: glossary")
        for slug in report.only_in_database:
            self.stdout.write(f"  kept (not in the files): lesson {slug}")
        for slug in report.only_in_files:
            self.stdout.write(
                f"  not added (the course exists; `manage.py import_course` adds it): {slug}"
            )
