# Written by hand: indexes only (lists of opportunities and activities at volume, bench/crm_volume.py).

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("crm", "0005_followups"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="opportunity",
            index=models.Index(
                fields=["company", "created_at", "id", "owner", "team", "status"], name="crm_opp_list_created"
            ),
        ),
        migrations.AddIndex(
            model_name="opportunity",
            index=models.Index(
                fields=["company", "status", "expected_close_date", "id", "owner", "team"], name="crm_opp_list_close"
            ),
        ),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(fields=["company", "due_at", "id", "owner", "team", "assignee"], name="crm_activity_due"),
        ),
        migrations.AddIndex(
            model_name="activity",
            index=models.Index(
                fields=["company", "due_at", "id", "owner", "team", "assignee"],
                condition=models.Q(done_at__isnull=True),
                name="crm_activity_todo",
            ),
        ),
    ]
