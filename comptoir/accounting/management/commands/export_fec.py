"""``comptoir export-fec --company N --year YYYY [-o FILE]``: write a fiscal year's FEC."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from comptoir.kernel.context import Actor, Channel, channel
from comptoir.kernel.errors import DomainError, ValidationFailed


class Command(BaseCommand):
    help = (
        "Write the FEC of the fiscal year ending in YYYY (posted entries, opening entries first). "
        "Without -o the file is named <SIREN>FEC<closing date>.txt in the current directory; -o - writes to stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--company", type=int, required=True, help="id of the company")
        parser.add_argument("--year", type=int, required=True, help="calendar year the fiscal year ends in")
        parser.add_argument(
            "-o", "--output", help="file to write (a directory: the standard name inside it; -: stdout)"
        )

    def handle(self, *args: Any, company: int, year: int, output: str | None = None, **options: Any) -> None:
        from comptoir.accounting import fec_export
        from comptoir.org.models import Company

        if not Company.objects.filter(pk=company).exists():
            raise CommandError(f"No company with id {company}.", returncode=2)
        # The command line acts for the company as the system, which holds every permission.
        actor = Actor.system(company, channel=Channel.CLI)
        with channel(Channel.CLI):
            try:
                export = fec_export.prepare(actor, year=year)
            except ValidationFailed as exc:
                raise CommandError(" ".join(m for ms in exc.fields.values() for m in ms) or exc.message,
                                   returncode=2) from None  # fmt: skip
            except DomainError as exc:
                raise CommandError(str(exc.message), returncode=2) from None
            if output == "-":
                count = fec_export.write(export, sys.stdout.buffer)
                sys.stdout.buffer.flush()
                self.stderr.write(f"{count} lines written.")
                return
            path = Path(output) if output else Path(export.filename)
            if path.is_dir():
                path = path / export.filename
            try:
                with path.open("wb") as stream:
                    count = fec_export.write(export, stream)
            except OSError as exc:
                raise CommandError(f"Cannot write {path}: {exc.strerror}.", returncode=2) from None
        self.stdout.write(f"{count} lines written to {path} (posted entries up to posting number "
                          f"{export.last_chain_number}).")  # fmt: skip
