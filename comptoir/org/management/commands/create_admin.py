"""``comptoir create-admin``: the first company and its administrator, for a fresh install."""

from __future__ import annotations

import getpass
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from comptoir.kernel.context import Actor, Channel, channel
from comptoir.kernel.errors import DomainError
from comptoir.org import services
from comptoir.org.models import Company

PASSWORD_ENV = "COMPTOIR_ADMIN_PASSWORD"


class Command(BaseCommand):
    help = (
        "Create a company with its first administrator, or add an administrator to an existing company "
        f"(--company-id). The password comes from ${PASSWORD_ENV} or is asked for."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--email", required=True)
        parser.add_argument("--full-name", required=True)
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("--company", help="trade name of a new company")
        target.add_argument("--company-id", type=int, help="id of an existing company")
        parser.add_argument("--legal-name", help="legal name of the new company (default: the trade name)")
        parser.add_argument("--siren", default="", help="SIREN of the new company")

    def _password(self) -> str:
        password = os.environ.get(PASSWORD_ENV)
        if password:
            return password
        if not sys.stdin.isatty():
            raise CommandError(f"set ${PASSWORD_ENV} or run in a terminal to type the password")
        first = getpass.getpass("Password: ")
        if first != getpass.getpass("Password (again): "):
            raise CommandError("the two passwords differ")
        return first

    def handle(self, *args: Any, **options: Any) -> None:
        password = self._password()
        try:
            with channel(Channel.CLI), transaction.atomic():
                if options["company_id"] is not None:
                    company = Company.objects.filter(pk=options["company_id"]).first()
                    if company is None:
                        raise CommandError(f"no company with id {options['company_id']}")
                else:
                    company = services.company_create(
                        actor=Actor.system(None, Channel.CLI), name=options["company"],
                        legal_name=options["legal_name"] or options["company"], siren=options["siren"],
                    )  # fmt: skip
                user = services.user_create(
                    actor=Actor.system(company.pk, Channel.CLI), email=options["email"],
                    full_name=options["full_name"], roles=["admin"], password=password,
                )  # fmt: skip
        except DomainError as exc:
            fields = getattr(exc, "fields", None) or {}
            details = "; ".join(f"{name}: {' '.join(str(m) for m in msgs)}" for name, msgs in fields.items())
            raise CommandError(details or str(exc)) from None
        self.stdout.write(f"Administrator {user.email} of {company.name} (company id {company.pk}) is ready.")
        self.stdout.write("At first sign-in they will be asked to set up two-factor authentication.")
