from django.core.management.base import BaseCommand

from courseware.services import demo_users_create


class Command(BaseCommand):
    help = "Create a demo instructor and student, only when there are no users yet."

    def handle(self, *args, **options):
        passwords = demo_users_create()
        if passwords is None:
            return
        self.stdout.write(self.style.SUCCESS("Created demo accounts (passwords shown once):"))
        for username, password in passwords.items():
            self.stdout.write(f"  {username:<11} {password}")
        # Shown once and never stored in clear: say how to get back in if they are lost.
        self.stdout.write(
            "Set a new password any time with: "
            ".venv/bin/python manage.py changepassword instructor (or student)"
        )
