"""Bank accounts, statements and their lines (reconciliation rules: models_rules)."""

from comptoir.banking.models_rules import *  # noqa: F403
