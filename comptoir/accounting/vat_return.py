"""The VAT return of a period, laid out on the boxes of the French CA3 (form 3310-CA3).

Two sources, both SQL aggregates:

* **The ledger** gives the VAT amounts that are declared: the movements of the posted lines
  dated in the period on the exact VAT accounts of ``vat.VAT_ACCOUNTS`` — collected VAT
  (44571, where VAT on receipts lands once paid), self-assessed VAT (4452), deductible VAT on
  fixed assets (44562), on other goods and services (44566) and self-assessed deductible VAT
  (445662). Box 16 (gross VAT due), 19, 20, 23 and the net (25 credit or 28 due) are these
  sums, to the cent. Entries that settle a return (a line on 44551 VAT payable, 44567 VAT
  credit or 44583 refund claimed) are left out, or the return would cancel itself. The
  waiting accounts (44574, 44564: VAT on receipts not paid yet) are shown for information.
* **The invoices and bills** posted in the period give the breakdown: bases per operation
  (sales at each rate, intra-EU supplies, exports, exempt sales, purchases under reverse
  charge) and the tax per rate. Their VAT may be chargeable in another period (services
  paid later, VAT on receipts) and manual entries have no invoice: the difference between
  the ledger and the per-rate tax is shown on its own line, "other movements", so the boxes
  always add up to the ledger.

Box numbers follow the 3310-CA3 of 2024 (A1…F9 for bases, 08…32 for tax); 2.1 % in
mainland France goes through annex 3310-A (line 14).

Sites: the CA3 is filed per company (SIREN), so the return as filed is the one without a
site. With a site (``site_id``, one of the company's sites) it is an analysis view: the
ledger part sums the VAT accounts' lines booked for that site (over the site index
``accounting_line_site``), the breakdown takes the invoices and bills of that site; the
settlement exclusion stays company-wide (an entry that settles a return is left out
whatever site its lines carry).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import Sum
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from comptoir.accounting import vat
from comptoir.accounting.models import (
    Account,
    Invoice,
    InvoiceKind,
    InvoiceLine,
    InvoiceState,
    InvoiceTax,
    JournalLine,
)
from comptoir.accounting.selectors import require_view, resolve_site
from comptoir.accounting.statements import Period
from comptoir.kernel.context import Actor
from comptoir.kernel.money import quantize
from comptoir.org.models import Site

ZERO = Decimal(0)
HUNDRED = Decimal(100)
SETTLEMENT_ACCOUNTS = ("44551", "44567", "44583")
# Ledger part: account → (key, sign): +1 reads credit - debit, -1 reads debit - credit.
LEDGER_ACCOUNTS: dict[str, tuple[str, int]] = {
    vat.VAT_COLLECTED: ("collected", 1),
    vat.VAT_SELF_ASSESSED: ("self_assessed", 1),
    vat.VAT_DEDUCTIBLE_FIXED_ASSETS: ("deductible_fixed_assets", -1),
    vat.VAT_DEDUCTIBLE: ("deductible_other", -1),
    vat.VAT_SELF_ASSESSED_DEDUCTIBLE: ("deductible_self_assessed", -1),
    vat.VAT_COLLECTED_WAITING: ("collected_waiting", 1),
    vat.VAT_DEDUCTIBLE_WAITING: ("deductible_waiting", -1),
}
RATE_BOXES: dict[Decimal, tuple[str, Promise]] = {
    Decimal("20.00"): ("08", _("Standard rate 20 %")),
    Decimal("10.00"): ("9B", _("Reduced rate 10 %")),
    Decimal("5.50"): ("09", _("Reduced rate 5.5 %")),
    Decimal("2.10"): ("14", _("Particular rate 2.1 % (annex 3310-A)")),
}
BASE_BOXES: dict[str, Promise] = {
    "A1": _("Sales and services (taxable)"),
    "A2": _("Other taxable operations (domestic reverse charge purchases)"),
    "A3": _("Purchases of intra-EU services (reverse charge)"),
    "B2": _("Intra-EU acquisitions of goods"),
    "B4": _("Purchases from businesses not established in France (reverse charge)"),
    "E1": _("Exports outside the EU"),
    "E2": _("Other non-taxable operations (exempt, services to EU and foreign businesses)"),
    "F2": _("Intra-EU supplies of goods to businesses"),
}
SALE_KINDS = (InvoiceKind.CUSTOMER_INVOICE, InvoiceKind.CUSTOMER_CREDIT_NOTE)
REFUND_KINDS = (InvoiceKind.CUSTOMER_CREDIT_NOTE, InvoiceKind.VENDOR_REFUND)
ISSUED_STATES = (InvoiceState.POSTED, InvoiceState.PARTIALLY_PAID, InvoiceState.PAID)


@dataclass
class Box:
    box: str
    label: str | Promise
    base: Decimal = ZERO
    tax: Decimal = ZERO


@dataclass
class VatReturn:
    period: Period
    ledger: dict[str, Decimal]
    bases: list[Box]
    rates: list[Box]
    other_movements: Decimal
    intra_eu_acquisitions_tax: Decimal
    out_of_scope: Decimal
    account_ids: dict[str, int] = field(default_factory=dict)
    site: Site | None = None

    @property
    def gross_due(self) -> Decimal:  # box 16
        return self.ledger["collected"] + self.ledger["self_assessed"]

    @property
    def deductible_fixed_assets(self) -> Decimal:  # box 19
        return self.ledger["deductible_fixed_assets"]

    @property
    def deductible_other(self) -> Decimal:  # box 20
        return self.ledger["deductible_other"] + self.ledger["deductible_self_assessed"]

    @property
    def deductible_total(self) -> Decimal:  # box 23
        return self.deductible_fixed_assets + self.deductible_other

    @property
    def net(self) -> Decimal:
        return self.gross_due - self.deductible_total

    @property
    def credit(self) -> Decimal:  # box 25
        return max(-self.net, ZERO)

    @property
    def net_due(self) -> Decimal:  # box 28
        return max(self.net, ZERO)

    def summary(self) -> list[Box]:
        """The tax part of the CA3: 16, 17, 19, 20, 23, 25, 28."""
        return [
            Box("16", _("Total gross VAT due"), tax=self.gross_due),
            Box("17", _("of which VAT on intra-EU acquisitions"), tax=self.intra_eu_acquisitions_tax),
            Box("19", _("Deductible VAT on fixed assets"), tax=self.deductible_fixed_assets),
            Box("20", _("Deductible VAT on other goods and services"), tax=self.deductible_other),
            Box("23", _("Total deductible VAT"), tax=self.deductible_total),
            Box("25", _("VAT credit"), tax=self.credit),
            Box("28", _("Net VAT due"), tax=self.net_due),
        ]


def _ledger(company_id: int, period: Period, site_id: int | None = None) -> tuple[dict[str, Decimal], dict[str, int]]:
    codes = list(LEDGER_ACCOUNTS) + list(SETTLEMENT_ACCOUNTS)
    ids = dict(Account.objects.filter(company_id=company_id, code__in=codes).values_list("code", "pk"))
    lines = JournalLine.objects.filter(company_id=company_id, is_posted=True, date__gte=period.date_from,
                                       date__lte=period.date_to)  # fmt: skip
    settlement = [ids[c] for c in SETTLEMENT_ACCOUNTS if c in ids]
    rows = lines.filter(account_id__in=[ids[c] for c in LEDGER_ACCOUNTS if c in ids])
    if site_id is not None:
        rows = rows.filter(site_id=site_id)
    if settlement:
        rows = rows.exclude(entry_id__in=lines.filter(account_id__in=settlement).values("entry_id"))
    sums = {r["account_id"]: r for r in rows.values("account_id").annotate(d=Sum("debit"), c=Sum("credit")).order_by()}
    result = {key: ZERO for key, _sign in LEDGER_ACCOUNTS.values()}
    for code, (key, sign) in LEDGER_ACCOUNTS.items():
        row = sums.get(ids.get(code, 0))
        if row:
            result[key] += sign * ((row["c"] or ZERO) - (row["d"] or ZERO))
    return result, ids


def _nearest_rate(tax: Decimal, base: Decimal) -> Decimal:
    if not base:
        return ZERO
    ratio = tax * HUNDRED / base
    return min(RATE_BOXES, key=lambda rate: abs(rate - ratio))


def vat_return(actor: Actor, period: Period, *, site_id: Any = None) -> VatReturn:
    """The return of the period; with ``site_id``, that site's part (an analysis view)."""
    require_view(actor)
    assert actor.company_id is not None
    site = resolve_site(actor, site_id)
    ledger, ids = _ledger(actor.company_id, period, site.pk if site else None)
    invoices = Invoice.objects.filter(company_id=actor.company_id, state__in=ISSUED_STATES,
                                      issue_date__gte=period.date_from, issue_date__lte=period.date_to)  # fmt: skip
    if site is not None:
        invoices = invoices.filter(site_id=site.pk)
    rates: dict[Decimal, Box] = {rate: Box(box, label) for rate, (box, label) in RATE_BOXES.items()}
    bases: dict[str, Box] = {box: Box(box, label) for box, label in BASE_BOXES.items()}
    out_of_scope = ZERO
    intra_eu_tax = ZERO
    # Invoiced VAT per rate (sales at S) and self-assessed VAT (purchases), per tax line group.
    # Sales with VAT on receipts: their VAT reaches 44571 when paid, through "other movements".
    on_receipts = invoices.filter(journal_entry_id__in=JournalLine.objects.filter(
        company_id=actor.company_id, account_id=ids.get(vat.VAT_COLLECTED_WAITING, 0)).values("entry_id"))  # fmt: skip
    taxes = (
        InvoiceTax.objects.filter(invoice__in=invoices.exclude(pk__in=on_receipts.values("pk")))
        .values("invoice__kind", "invoice__fiscal_position", "vat_code", "rate")
        .annotate(base=Sum("base"), amount=Sum("amount"), self_assessed=Sum("self_assessed"))
        .order_by()
    )
    for row in taxes:
        sign = -1 if row["invoice__kind"] in REFUND_KINDS else 1
        sale = row["invoice__kind"] in SALE_KINDS
        if sale and row["vat_code"] == vat.VatCode.STANDARD:
            box = rates.get(quantize(row["rate"]))
            if box is None:  # a rate outside the boxes: counted in "other movements"
                continue
            box.base += sign * row["base"]
            box.tax += sign * row["amount"]
    # Self-assessed VAT: its rate from the ratio (the tax line carries rate 0), per invoice tax line.
    assessed = (
        InvoiceTax.objects.filter(invoice__in=invoices)
        .exclude(self_assessed=0)
        .values_list("invoice__kind", "base", "self_assessed")
    )
    for kind, base, amount in assessed:
        sign = -1 if kind in REFUND_KINDS else 1
        box = rates[_nearest_rate(amount, base)]
        box.base += sign * base
        box.tax += sign * amount
    # Bases per operation, from the invoice lines (goods or services matter for the boxes).
    operations = (
        InvoiceLine.objects.filter(invoice__in=invoices)
        .values("invoice__kind", "invoice__fiscal_position", "operation", "vat_code")
        .annotate(net=Sum("net_amount"))
        .order_by()
    )
    for row in operations:
        sign = -1 if row["invoice__kind"] in REFUND_KINDS else 1
        net = sign * (row["net"] or ZERO)
        code, position, goods = row["vat_code"], row["invoice__fiscal_position"], row["operation"] == "goods"
        if row["invoice__kind"] in SALE_KINDS:
            if code == vat.VatCode.STANDARD:
                bases["A1"].base += net
            elif code == vat.VatCode.INTRA_EU:
                bases["F2"].base += net
            elif code == vat.VatCode.EXPORT and goods:
                bases["E1"].base += net
            elif code in (vat.VatCode.EXPORT, vat.VatCode.REVERSE_CHARGE, vat.VatCode.EXEMPT):
                bases["E2"].base += net
            else:
                out_of_scope += net
        elif code in (vat.VatCode.INTRA_EU, vat.VatCode.REVERSE_CHARGE):
            if position == vat.FiscalPosition.EU_BUSINESS:
                bases["B2" if goods else "A3"].base += net
            elif position == vat.FiscalPosition.FRANCE_REVERSE_CHARGE:
                bases["A2"].base += net
            else:
                bases["B4"].base += net
    # Box 17: the self-assessed VAT of intra-EU acquisitions of goods (code K on bills).
    goods_tax = (
        InvoiceTax.objects.filter(invoice__in=invoices.exclude(kind__in=SALE_KINDS), vat_code=vat.VatCode.INTRA_EU)
        .values("invoice__kind")
        .annotate(amount=Sum("self_assessed"))
        .order_by()
    )
    for row in goods_tax:
        intra_eu_tax += (-1 if row["invoice__kind"] in REFUND_KINDS else 1) * (row["amount"] or ZERO)
    rate_boxes = list(rates.values())
    other = ledger["collected"] + ledger["self_assessed"] - sum((b.tax for b in rate_boxes), ZERO)
    return VatReturn(period, ledger, [b for b in bases.values()], rate_boxes, other, intra_eu_tax, out_of_scope,
                     account_ids=ids, site=site)  # fmt: skip


def return_rows(result: VatReturn) -> list[dict[str, Any]]:
    """Flat rows (box, label, base, tax) for the exports and the API."""
    rows = [{"section": "bases", "box": b.box, "label": str(b.label), "base": b.base, "tax": None}
            for b in result.bases]  # fmt: skip
    rows += [{"section": "rates", "box": b.box, "label": str(b.label), "base": b.base, "tax": b.tax}
             for b in result.rates]  # fmt: skip
    rows.append({"section": "rates", "box": "", "label": str(_("Other movements (VAT on receipts, manual entries)")),
                 "base": None, "tax": result.other_movements})  # fmt: skip
    rows += [{"section": "summary", "box": b.box, "label": str(b.label), "base": None, "tax": b.tax}
             for b in result.summary()]  # fmt: skip
    labels = {"collected_waiting": _("Collected VAT awaiting payment (44574)"),
              "deductible_waiting": _("Deductible VAT awaiting payment (44564)")}  # fmt: skip
    rows += [{"section": "information", "box": "", "label": str(label), "base": None, "tax": result.ledger[key]}
             for key, label in labels.items()]  # fmt: skip
    return rows
