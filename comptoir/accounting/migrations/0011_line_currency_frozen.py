"""Posted lines stay frozen, their foreign-currency amount included: the guard of 0008 listed
every column of a line but the matching ones and the two of multi-currency (0006)."""

import importlib

from django.db import migrations

PREVIOUS_SQL = importlib.import_module("comptoir.accounting.migrations.0008_line_site_frozen").LINE_GUARD_SQL
LINE_GUARD_SQL = PREVIOUS_SQL.replace(", NEW.site_id\n", ", NEW.site_id, NEW.amount_currency, NEW.currency\n").replace(
    ", OLD.site_id\n", ", OLD.site_id, OLD.amount_currency, OLD.currency\n"
)
assert LINE_GUARD_SQL.count("amount_currency") == 2


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LINE_GUARD_SQL, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounting", "0010_dunning_automatic")]

    operations = [migrations.RunPython(guard, unguard, elidable=False)]
