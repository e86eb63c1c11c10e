"""``comptoir verify-ledger --company N``: recompute the hash chain of posted entries."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir.kernel.context import Channel, channel


class Command(BaseCommand):
    help = "Verify the hash chain of a company's posted journal entries; exit code 1 on problems."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", type=int, required=True, help="id of the company")

    def handle(self, *args: Any, company: int, **options: Any) -> None:
        from comptoir.accounting.chain import verify_chain
        from comptoir.org.models import Company

        if not Company.objects.filter(pk=company).exists():
            raise CommandError(f"No company with id {company}.", returncode=2)
        with channel(Channel.CLI):
            report = verify_chain(company)
        self.stdout.write(f"Checked {report.entries} posted entries (last posting number {report.last_chain_number}).")
        if report.ok:
            self.stdout.write(self.style.SUCCESS(f"Ledger chain intact. Last hash: {report.last_hash}"))
            return
        for anomaly in report.anomalies:
            where = f"#{anomaly.chain_number} " if anomaly.chain_number else ""
            self.stdout.write(
                f"PROBLEM {where}{anomaly.number or anomaly.entry_id or ''} [{anomaly.kind}]: {anomaly.message}"
            )
        if report.more:
            self.stdout.write(f"… and {report.more} more.")
        raise CommandError(f"{len(report.anomalies) + report.more} ledger problem(s) found.", returncode=1)
