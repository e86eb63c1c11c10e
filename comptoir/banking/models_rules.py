"""Reconciliation rules (bank fees, recurring payees) applied to statement lines."""
