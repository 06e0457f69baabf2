from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from courseware.services import instructor_grant


class Command(BaseCommand):
    help = "Give an existing user the instructor role."

    def add_arguments(self, parser):
        parser.add_argument("username")

    def handle(self, *args, username, **options):
        try:
            granted = instructor_grant(username=username)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"There is no user called {username!r}.") from exc
        self.stdout.write(
            f"{username} is now an instructor." if granted else f"{username} already was one."
        )
