"""The throttles' counters live in a database cache table (settings.CACHES["throttle"]).

Creating it here makes ``migrate`` enough on a new server: a deployment that never
ran ``createcachetable`` would otherwise answer its first failed sign-in with a 500.
"""

from django.core.management import call_command
from django.db import migrations


def create_cache_table(apps, schema_editor):
    # Idempotent: leaves an existing table alone.
    call_command("createcachetable", database=schema_editor.connection.alias, verbosity=0)


class Migration(migrations.Migration):
    dependencies = [("courseware", "0003_attempt_practice")]

    operations = [migrations.RunPython(create_cache_table, migrations.RunPython.noop)]
