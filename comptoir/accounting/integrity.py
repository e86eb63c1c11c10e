"""The ledger in the nightly integrity check: the hash chain of every company that keeps
its books in Comptoir (``kernel.integrity.register_check``, from ``apps.py``)."""

from __future__ import annotations

from comptoir.kernel.integrity import Report

# Anomalies written out per company; the rest are counted (verify-ledger lists them all).
MAX_LISTED = 20


def check_ledgers(report: Report) -> None:
    from comptoir.accounting.chain import verify_chain
    from comptoir.kernel.models import ModuleActivation

    companies = sorted(
        ModuleActivation.objects.filter(module="accounting", enabled=True).values_list("company_id", flat=True)
    )
    entries = 0
    for company_id in companies:
        result = verify_chain(company_id)
        entries += result.entries
        for anomaly in result.anomalies[:MAX_LISTED]:
            where = f" #{anomaly.chain_number}" if anomaly.chain_number else ""
            entry = f" {anomaly.number or anomaly.entry_id}" if (anomaly.number or anomaly.entry_id) else ""
            report.problems.append(f"ledger of company {company_id}:{where}{entry} [{anomaly.kind}] {anomaly.message}")
        hidden = len(result.anomalies) - MAX_LISTED + result.more
        if hidden > 0:
            report.problems.append(
                f"ledger of company {company_id}: {hidden} more problem(s); run comptoir verify-ledger --company "
                f"{company_id}"
            )
    if companies:  # nothing to say where no company keeps its books here
        report.checked["ledger_companies"] = len(companies)
        report.checked["posted_entries"] = entries
