"""``comptoir check-integrity``: verify sequences, audit digests and the outbox now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir.kernel.context import Channel, channel


class Command(BaseCommand):
    help = "Check document sequences, audit entry digests and the event outbox; exit code 1 on problems."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--enqueue", action="store_true", help="hand the check to the task worker instead of running it here"
        )

    def handle(self, *args: Any, enqueue: bool = False, **options: Any) -> None:
        with channel(Channel.CLI):
            if enqueue:
                from comptoir.kernel.tasks import check_integrity

                result = check_integrity.enqueue()
                self.stdout.write(f"Integrity check enqueued (task {result.id}); a worker runs it.")
                return
            from comptoir.kernel.integrity import run_all

            report = run_all()
        checked = ", ".join(f"{count} {name.replace('_', ' ')}" for name, count in report.checked.items())
        self.stdout.write(f"Checked: {checked}.")
        if report.ok:
            self.stdout.write(self.style.SUCCESS("Integrity OK: no problem found."))
            return
        for problem in report.problems:
            self.stdout.write(f"PROBLEM: {problem}")
        raise CommandError(f"{len(report.problems)} integrity problem(s) found.", returncode=1)
