"""Bank accounts, statements and their lines, reconciliation rules."""
