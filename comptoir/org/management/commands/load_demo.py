"""``comptoir load-demo``: create the demo company and its logins (idempotent)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand

from comptoir.org.demo import DEMO_PASSWORD, load_demo


class Command(BaseCommand):
    help = "Create the demo company, its sites and one login per role; a second run changes nothing."

    def handle(self, *args: Any, **options: Any) -> None:
        result = load_demo()
        state = "created" if result.created else "already present, completed"
        self.stdout.write(f"Demo company {result.company.name} {state}. Password for every login: {DEMO_PASSWORD}")
        for role, email in result.logins:
            self.stdout.write(f"  {role:<11} {email}")
