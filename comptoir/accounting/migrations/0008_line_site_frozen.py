"""Posted lines stay frozen, their site included: the PostgreSQL guard of 0001 listed every
column of a line but the matching ones; the site (0007) joins that list."""

from django.db import migrations

LINE_GUARD_SQL = """
CREATE OR REPLACE FUNCTION accounting_refuse_posted_line_change() RETURNS trigger AS $$
BEGIN
    IF OLD.is_posted THEN
        IF TG_OP = 'DELETE' OR (
            NEW.id, NEW.entry_id, NEW.company_id, NEW.sequence, NEW.account_id, NEW.partner_account_id,
            NEW.label, NEW.debit, NEW.credit, NEW.due_date, NEW.date, NEW.journal_id, NEW.is_posted,
            NEW.created_at, NEW.site_id
        ) IS DISTINCT FROM (
            OLD.id, OLD.entry_id, OLD.company_id, OLD.sequence, OLD.account_id, OLD.partner_account_id,
            OLD.label, OLD.debit, OLD.credit, OLD.due_date, OLD.date, OLD.journal_id, OLD.is_posted,
            OLD.created_at, OLD.site_id
        ) THEN
            RAISE EXCEPTION 'accounting: posted journal line % is immutable', OLD.id USING ERRCODE = 'P0001';
        END IF;
    END IF;
    IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;
"""

PREVIOUS_SQL = LINE_GUARD_SQL.replace(", NEW.site_id", "").replace(", OLD.site_id", "")


def guard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(LINE_GUARD_SQL, params=None)


def unguard(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PREVIOUS_SQL, params=None)


class Migration(migrations.Migration):
    dependencies = [("accounting", "0007_sites")]

    operations = [migrations.RunPython(guard, unguard, elidable=False)]
