"""LTI's OIDC state, nonces and launch data live in a database cache table
(settings.CACHES["lti"]) every web worker shares; ``migrate`` creates it, so a new
server needs no separate ``createcachetable``."""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Idempotent: creates the tables of every database cache not made yet.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("lti", "0001_initial")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
