"""``comptoir scan-duplicates``: look for duplicate organizations and people of a company now."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir.kernel.context import Actor, Channel, channel


class Command(BaseCommand):
    help = "Scan a company's organizations and people for probable duplicates (stored for review, never merged)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", type=int, help="company id (default: every company with contacts on)")
        parser.add_argument("--enqueue", action="store_true", help="hand the scan to the task worker")

    def handle(self, *args: Any, company: int | None = None, enqueue: bool = False, **options: Any) -> None:
        from comptoir.contacts.duplicates import duplicate_scan_request, duplicate_scan_run
        from comptoir.kernel.errors import DomainError
        from comptoir.kernel.models import ModuleActivation
        from comptoir.org.models import Company

        if company is not None:
            if not Company.objects.filter(pk=company).exists():
                raise CommandError(f"No company with id {company}.")
            company_ids = [company]
        else:
            company_ids = list(
                ModuleActivation.objects.filter(module="contacts", enabled=True)
                .order_by("company_id")
                .values_list("company_id", flat=True)
            )
        with channel(Channel.CLI):
            for company_id in company_ids:
                try:
                    scan = duplicate_scan_request(actor=Actor.system(company_id, Channel.CLI), enqueue=enqueue)
                except DomainError as exc:
                    raise CommandError(f"Company {company_id}: {exc.message}") from exc
                if enqueue:
                    self.stdout.write(f"Company {company_id}: scan {scan.pk} enqueued; a worker runs it.")
                    continue
                scan = duplicate_scan_run(scan_id=scan.pk)
                self.stdout.write(
                    f"Company {company_id}: {scan.organizations_checked} organizations and {scan.people_checked} "
                    f"people checked, {scan.pairs_found} probable duplicate pairs."
                )
