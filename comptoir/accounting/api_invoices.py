"""Invoices API (/api/v1/accounting/invoices, /payment-terms): see docs/api.md for conventions.

Drafts are created and changed freely; ``/post`` issues them (legal number, journal entry,
Factur-X PDF); a posted invoice is corrected by ``/credit``. Amounts, quantities and prices
travel as decimal strings (``"1250.50"``), never JSON numbers. The same record rules as the
pages apply: a salesperson reads the invoices of the customers they see, finance writes.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, File, Form, Path, Query, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from comptoir.accounting import currency
from comptoir.accounting import invoice_selectors as selectors
from comptoir.accounting import invoices as services
from comptoir.accounting.models import Invoice
from comptoir.kernel import apikit
from comptoir.kernel.apikit import MAX_ID, InputSchema, ListParams, page_of, responses
from comptoir.kernel.context import Actor
from comptoir.kernel.errors import ValidationFailed

router = apikit.module_router("accounting")

ObjectId = Path(..., ge=1, le=MAX_ID)
OptionalId = Field(None, ge=1, le=MAX_ID)
DECIMAL_HELP = 'Decimal string, e.g. `"12.50"`.'
Kind = Literal["customer_invoice", "customer_credit_note", "vendor_bill", "vendor_refund"]
FiscalPosition = Literal["france", "eu_business", "eu_consumer", "non_eu", "france_reverse_charge"]
VatCategory = Literal["standard", "intermediate", "reduced", "super_reduced", "exempt_261_4", "exempt_261c_1",
                      "exempt_261c_2", "out_of_scope"]  # fmt: skip
MAX_UPLOAD = 20 * 1024 * 1024


# --- Schemas --------------------------------------------------------------------------


class AddressIn(InputSchema):
    line1: str = Field(..., max_length=200)
    line2: str = Field("", max_length=200)
    postal_code: str = Field("", max_length=20)
    city: str = Field(..., max_length=100)
    country: str = Field("FR", max_length=2)


class InvoiceLineIn(InputSchema):
    product_id: int | None = OptionalId
    name: str = Field("", max_length=200, description="Designation; the product's name when empty.")
    description: str = Field("", max_length=2000)
    operation: Literal["goods", "services"] | None = None
    quantity: str = Field("1", max_length=30, description=DECIMAL_HELP + " At most 3 decimals.")
    uom_code: str = Field("", max_length=3, description="UN/ECE unit code (C62 one, HUR hour, KGM…).")
    unit_price: str = Field("", max_length=30, description=DECIMAL_HELP + " Excluding VAT, at most 4 decimals.")
    discount_percent: str = Field("", max_length=10, description=DECIMAL_HELP)
    vat_category: VatCategory | None = None
    account_id: int | None = Field(None, ge=1, le=MAX_ID, description="Income or expense account override.")


class InvoiceCreateIn(InputSchema):
    kind: Kind = "customer_invoice"
    organization_id: int = Field(..., ge=1, le=MAX_ID)
    issue_date: dt.date | None = None
    delivery_date: dt.date | None = None
    due_date: dt.date | None = Field(None, description="Only without a payment term.")
    payment_term_id: int | None = OptionalId
    fiscal_position: FiscalPosition | None = Field(None, description="The partner's when omitted.")
    vat_on_debits: bool | None = None
    language: Literal["fr", "en"] | None = None
    currency: str | None = Field(None, max_length=3, description="ISO 4217 (EUR by default); posted in EUR at "
                                 "the issue date's exchange rate (multi-currency).")  # fmt: skip
    purchase_order: str = Field("", max_length=100)
    supplier_reference: str = Field("", max_length=100, description="Vendor bills: the supplier's number.")
    note: str = Field("", max_length=2000)
    delivery_address: AddressIn | None = None
    source_type: str = Field("", max_length=100)
    source_id: str = Field("", max_length=64)
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="An active site of the company; the head "
                                "office when omitted, the company as a whole when null.")  # fmt: skip
    lines: list[InvoiceLineIn] = Field(..., max_length=500)


class InvoiceUpdateIn(InputSchema):
    """Only the fields sent change; ``lines``, when sent, replaces every line."""

    organization_id: int = Field(None, ge=1, le=MAX_ID)  # type: ignore[assignment]
    issue_date: dt.date | None = None
    delivery_date: dt.date | None = None
    due_date: dt.date | None = None
    payment_term_id: int | None = OptionalId
    fiscal_position: FiscalPosition = None  # type: ignore[assignment]
    vat_on_debits: bool = None  # type: ignore[assignment]
    language: Literal["fr", "en"] = None  # type: ignore[assignment]
    currency: str = Field(None, max_length=3)  # type: ignore[assignment]  # multi-currency, ISO 4217
    purchase_order: str = Field(None, max_length=100)  # type: ignore[assignment]
    supplier_reference: str = Field(None, max_length=100)  # type: ignore[assignment]
    note: str = Field(None, max_length=2000)  # type: ignore[assignment]
    delivery_address: AddressIn | None = None
    site_id: int | None = Field(None, ge=1, le=MAX_ID, description="Null: the company as a whole.")
    lines: list[InvoiceLineIn] = Field(None, max_length=500)  # type: ignore[assignment,arg-type]


class CreditLineIn(InputSchema):
    line: int = Field(..., ge=1, le=500, description="The invoice line's number (sequence).")
    quantity: str = Field("", max_length=30, description="The whole line when empty.")


class CreditIn(InputSchema):
    lines: list[CreditLineIn] | None = Field(None, max_length=500, description="Every line when omitted.")


class SendIn(InputSchema):
    to: list[str] = Field(..., min_length=1, max_length=10)
    subject: str = Field("", max_length=200)
    message: str = Field("", max_length=5000)


class InvoiceSummaryOut(Schema):
    id: int
    kind: str
    state: str
    number: str
    supplier_reference: str
    organization_id: int
    partner_name: str
    issue_date: dt.date | None
    due_date: dt.date | None
    currency: str
    untaxed_amount: str
    tax_amount: str
    total_amount: str
    residual_amount: str


class InvoiceLineOut(Schema):
    sequence: int
    product_id: int | None
    name: str
    description: str
    operation: str
    quantity: str
    uom_code: str
    unit_price: str
    discount_percent: str
    vat_category: str
    vat_code: str
    vat_rate: str
    account_id: int | None
    net_amount: str


class InvoiceTaxOut(Schema):
    vat_code: str
    rate: str
    base: str
    amount: str
    exemption_reason: str
    self_assessed: str


class InstallmentOut(Schema):
    due_date: dt.date
    amount: str


class WarningOut(Schema):
    code: str
    message: str


class InvoiceOut(InvoiceSummaryOut):
    residual_company_amount: str | None = Field(
        None, description="Multi-currency: the amount due in EUR at the invoice's booking rate (null in EUR)."
    )
    delivery_date: dt.date | None
    payment_term_id: int | None
    payment_terms_text: str
    operation_category: str
    fiscal_position: str
    vat_on_debits: bool
    language: str
    purchase_order: str
    note: str
    partner_siren: str
    partner_vat_number: str
    billing_address: dict[str, str]
    delivery_address: dict[str, str]
    origin_id: int | None
    site_id: int | None = Field(description="The site (establishment); its journal entry and lines carry it.")
    journal_entry_id: int | None
    posted_at: dt.datetime | None
    sent_at: dt.datetime | None
    sent_to: str
    pdf_sha256: str | None = Field(description="SHA-256 of the stored Factur-X PDF, once rendered.")
    lines: list[InvoiceLineOut]
    taxes: list[InvoiceTaxOut]
    installments: list[InstallmentOut]
    import_warnings: list[WarningOut]
    actions: list[str] = Field(description="Actions the caller may take now: update, delete, post, credit, send.")


class InvoiceFilters(ListParams):
    kind: Literal["customer_invoice", "customer_credit_note", "vendor_bill", "vendor_refund", "customer",
                  "vendor"] | None = None  # fmt: skip
    state: Literal["draft", "posted", "partially_paid", "paid", "cancelled", "open"] | None = None
    organization_id: int | None = OptionalId
    date_from: dt.date | None = None
    date_to: dt.date | None = None
    overdue: bool | None = None
    q: str | None = Field(None, max_length=100, description="Search number, partner name and supplier's number.")


class TermLineIn(InputSchema):
    kind: Literal["percent", "balance"] = "balance"
    percent: str = Field("", max_length=10, description=DECIMAL_HELP)
    days: int = Field(0, ge=0, le=3650)
    end_of_month: bool = False


class PaymentTermIn(InputSchema):
    name: str = Field(..., max_length=100)
    note: str = Field("", max_length=300)
    lines: list[TermLineIn] = Field(..., min_length=1, max_length=12)


class TermLineOut(Schema):
    kind: str
    percent: str
    days: int
    end_of_month: bool


class PaymentTermOut(Schema):
    id: int
    name: str
    note: str
    is_active: bool
    lines: list[TermLineOut]


# --- Helpers --------------------------------------------------------------------------

MONEY = ("untaxed_amount", "tax_amount", "total_amount", "residual_amount")
SUMMARY_FIELDS = tuple(InvoiceSummaryOut.model_fields)


def _summary(invoice: Invoice) -> dict[str, Any]:
    row = {name: getattr(invoice, name) for name in SUMMARY_FIELDS}
    return row | {name: str(row[name]) for name in MONEY}


def _actions(actor: Actor, invoice: Invoice) -> list[str]:
    if not actor.has_perm(services.MANAGE):
        return []
    if invoice.state == "draft":
        return ["update", "delete", "post"]
    actions = []
    if invoice.state in services.OPEN_STATES and not invoice.is_refund:
        actions.append("credit")
    if invoice.kind in services.CUSTOMER_KINDS and invoice.state in services.OPEN_STATES:
        actions.append("send")
    return actions


def invoice_out(actor: Actor, invoice_id: int) -> dict[str, Any]:
    invoice = selectors.invoice_detail(actor, invoice_id)
    files = {f["role"]: f for f in invoice.file_rows}  # type: ignore[attr-defined]
    scalar = ("delivery_date", "payment_term_id", "payment_terms_text", "operation_category", "fiscal_position",
              "vat_on_debits", "language", "purchase_order", "note", "partner_siren", "partner_vat_number",
              "billing_address", "delivery_address", "origin_id", "journal_entry_id", "posted_at", "sent_at",
              "sent_to", "import_warnings", "site_id")  # fmt: skip
    return {
        **_summary(invoice), **{name: getattr(invoice, name) for name in scalar},
        "pdf_sha256": files["issued"]["sha256"] if "issued" in files else None,
        "lines": [
            {"sequence": line.sequence, "product_id": line.product_id, "name": line.name,
             "description": line.description, "operation": line.operation, "quantity": str(line.quantity),
             "uom_code": line.uom_code, "unit_price": str(line.unit_price),
             "discount_percent": str(line.discount_percent), "vat_category": line.vat_category,
             "vat_code": line.vat_code, "vat_rate": str(line.vat_rate), "account_id": line.account_id,
             "net_amount": str(line.net_amount)}
            for line in invoice.line_rows  # type: ignore[attr-defined]
        ],
        "taxes": [
            {"vat_code": t.vat_code, "rate": str(t.rate), "base": str(t.base), "amount": str(t.amount),
             "exemption_reason": t.exemption_reason, "self_assessed": str(t.self_assessed)}
            for t in invoice.tax_rows  # type: ignore[attr-defined]
        ],
        "installments": [{"due_date": i.due_date, "amount": str(i.amount)}
                         for i in invoice.installment_rows],  # type: ignore[attr-defined]
        "actions": _actions(actor, invoice),
        "residual_company_amount": str(currency.residual_company(invoice))  # multi-currency
        if invoice.currency != "EUR" and invoice.journal_entry_id else None,
    }  # fmt: skip


def _lines(lines: list[InvoiceLineIn] | None) -> list[dict[str, Any]] | None:
    if lines is None:
        return None
    return [{k: v for k, v in line.model_dump().items() if v not in (None, "")} for line in lines]


def _payload(payload: InvoiceCreateIn | InvoiceUpdateIn, *, partial: bool) -> dict[str, Any]:
    data = payload.model_dump(exclude_unset=partial)
    if not partial:
        # Omitted optional fields keep the service's defaults (the partner's position, language…).
        data = {k: v for k, v in data.items() if v is not None or k in payload.model_fields_set}
    if "lines" in data:
        data["lines"] = _lines(payload.lines)
    if "delivery_address" in data and data["delivery_address"] is None:
        data["delivery_address"] = {}
    return data


# --- Invoices -------------------------------------------------------------------------

API_SORT = {"date": "issue_date", "number": "number", "due": "due_date", "total": "total_amount", "id": "id"}


@router.get("/invoices", response=responses(page_of(InvoiceSummaryOut)), summary="List invoices")
def invoice_list(request: HttpRequest, params: Query[InvoiceFilters]) -> HttpResponse:
    """Invoices, credit notes and bills the caller may see. Sort: `date`, `number`, `due`, `total`, `id`."""
    filters = params.model_dump(include={"kind", "state", "organization_id", "date_from", "date_to", "overdue", "q"})
    rows = selectors.invoice_list(apikit.actor(request), filters).values(*SUMMARY_FIELDS)

    def convert(row: dict[str, Any]) -> dict[str, Any]:
        return row | {name: str(row[name]) for name in MONEY}

    return apikit.paginate_rows(request, rows, params, item=InvoiceSummaryOut, convert=convert, sort=API_SORT,
                                default_sort="-date,-id")  # fmt: skip


@router.post("/invoices", response=responses(InvoiceOut, status=201), summary="Create a draft invoice or bill")
def invoice_create(request: HttpRequest, payload: InvoiceCreateIn) -> Status:
    actor = apikit.actor(request)
    data = _payload(payload, partial=False)
    invoice = services.invoice_create(actor=actor, **data)
    return Status(201, invoice_out(actor, invoice.pk))


@router.post("/invoices/import", response=responses(InvoiceOut, status=201),
             summary="Create a draft vendor bill from a Factur-X PDF or CII XML")  # fmt: skip
def invoice_import(request: HttpRequest, file: File[UploadedFile],
                   organization_id: Form[int | None] = None) -> Status:  # fmt: skip
    """The supplier is found from the file's SIREN or VAT number (or ``organization_id``).
    Differences between the file and the computed totals come back in ``import_warnings``;
    a malformed or hostile file is refused with 422 and creates nothing."""
    actor = apikit.actor(request)
    if file.size is not None and file.size > MAX_UPLOAD:
        raise ValidationFailed("too_large", fields={"file": ["The file is larger than 20 MB."]})
    bill = services.vendor_bill_import(actor=actor, data=file.read(), filename=file.name or "",
                                       organization_id=organization_id)  # fmt: skip
    return Status(201, invoice_out(actor, bill.pk))


@router.get("/invoices/{invoice_id}", response=responses(InvoiceOut), summary="Get an invoice")
def invoice_get(request: HttpRequest, invoice_id: int = ObjectId) -> Any:
    return invoice_out(apikit.actor(request), invoice_id)


@router.patch("/invoices/{invoice_id}", response=responses(InvoiceOut), summary="Change a draft")
def invoice_update(request: HttpRequest, payload: InvoiceUpdateIn, invoice_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    selectors.invoice_get(actor, invoice_id)
    services.invoice_update(actor=actor, invoice_id=invoice_id, **_payload(payload, partial=True))
    return invoice_out(actor, invoice_id)


@router.delete("/invoices/{invoice_id}", response=responses(None, status=204), summary="Delete a draft")
def invoice_delete(request: HttpRequest, invoice_id: int = ObjectId) -> Status:
    actor = apikit.actor(request)
    selectors.invoice_get(actor, invoice_id)
    services.invoice_delete(actor=actor, invoice_id=invoice_id)
    return Status(204, None)


@router.post("/invoices/{invoice_id}/post", response=responses(InvoiceOut), summary="Post (issue) an invoice")
def invoice_post(request: HttpRequest, invoice_id: int = ObjectId) -> Any:
    """Checks the mandatory mentions, takes the legal number, books the journal entry and stores the Factur-X PDF."""
    actor = apikit.actor(request)
    selectors.invoice_get(actor, invoice_id)
    services.invoice_post(actor=actor, invoice_id=invoice_id)
    return invoice_out(actor, invoice_id)


@router.post("/invoices/{invoice_id}/credit", response=responses(InvoiceOut, status=201),
             summary="Draft a credit note citing a posted invoice")  # fmt: skip
def invoice_credit(request: HttpRequest, invoice_id: int = ObjectId, payload: CreditIn | None = None) -> Status:
    actor = apikit.actor(request)
    selectors.invoice_get(actor, invoice_id)
    lines = None
    if payload is not None and payload.lines is not None:
        lines = [
            {"line": item.line, **({"quantity": item.quantity} if item.quantity else {})} for item in payload.lines
        ]
    credit = services.invoice_credit(actor=actor, invoice_id=invoice_id, lines=lines)
    return Status(201, invoice_out(actor, credit.pk))


@router.post("/invoices/{invoice_id}/send", response=responses(InvoiceOut), summary="Email the Factur-X PDF")
def invoice_send(request: HttpRequest, payload: SendIn, invoice_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    selectors.invoice_get(actor, invoice_id)
    services.invoice_send(actor=actor, invoice_id=invoice_id, **payload.model_dump())
    return invoice_out(actor, invoice_id)


@router.get("/invoices/{invoice_id}/pdf", response=responses(None), summary="Download the Factur-X PDF",
            openapi_extra={"responses": {200: {"content": {"application/pdf": {}}}}})  # fmt: skip
def invoice_pdf(request: HttpRequest, invoice_id: int = ObjectId) -> HttpResponse:
    """The PDF/A-3 with its embedded CII XML, byte for byte as issued (``X-Content-SHA256``)."""
    document = services.issued_pdf(selectors.invoice_get(apikit.actor(request), invoice_id))
    response = HttpResponse(bytes(document.data), content_type="application/pdf")
    response["Content-Disposition"] = f'attachment; filename="{document.filename}"'
    response["X-Content-SHA256"] = document.sha256
    return response


# --- Payment terms --------------------------------------------------------------------


def _term_out(term: Any) -> dict[str, Any]:
    return {"id": term.pk, "name": term.name, "note": term.note, "is_active": term.is_active,
            "lines": [{"kind": line.kind, "percent": str(line.percent), "days": line.days,
                       "end_of_month": line.end_of_month} for line in term.lines.all()]}  # fmt: skip


@router.get("/payment-terms", response=responses(list[PaymentTermOut]), summary="List payment terms")
def payment_term_list(request: HttpRequest) -> Any:
    return [_term_out(term) for term in selectors.payment_terms(apikit.actor(request))]


@router.post("/payment-terms", response=responses(PaymentTermOut, status=201), summary="Create a payment term")
def payment_term_create(request: HttpRequest, payload: PaymentTermIn) -> Status:
    """Installments in order; the last one is the balance, e.g. 30 % at 0 days then the balance at 30 days."""
    actor = apikit.actor(request)
    term = services.payment_term_create(actor=actor, **payload.model_dump())
    found = selectors.payment_terms(actor).get(pk=term.pk)
    return Status(201, _term_out(found))


# --- Partner profiles -----------------------------------------------------------------


class PartnerProfileOut(Schema):
    organization_id: int
    fiscal_position: str
    payment_term_id: int | None
    supplier_payment_term_id: int | None
    language: str
    invoice_email: str
    supplier_vat_on_debits: bool


class PartnerProfileIn(InputSchema):
    fiscal_position: FiscalPosition = None  # type: ignore[assignment]
    payment_term_id: int | None = OptionalId
    supplier_payment_term_id: int | None = OptionalId
    language: Literal["fr", "en"] = None  # type: ignore[assignment]
    invoice_email: str = Field(None, max_length=254)  # type: ignore[assignment]
    supplier_vat_on_debits: bool = None  # type: ignore[assignment]


@router.get("/partner-profiles/{organization_id}", response=responses(PartnerProfileOut),
            summary="Get how an organization is invoiced")  # fmt: skip
def partner_profile_get(request: HttpRequest, organization_id: int = ObjectId) -> Any:
    """Fiscal position (which decides the VAT with the products' categories), payment terms, language."""
    actor = apikit.actor(request)
    selectors.require_view(actor)
    from comptoir.contacts.selectors import organization_get

    organization_get(actor, organization_id)
    return services.partner_profile(actor.company_id or 0, organization_id)


@router.patch("/partner-profiles/{organization_id}", response=responses(PartnerProfileOut),
              summary="Change how an organization is invoiced")  # fmt: skip
def partner_profile_update(request: HttpRequest, payload: PartnerProfileIn, organization_id: int = ObjectId) -> Any:
    actor = apikit.actor(request)
    return services.partner_profile_update(actor=actor, organization_id=organization_id,
                                           **payload.model_dump(exclude_unset=True))  # fmt: skip


# Credit note allocation (api_credit): same prefix, its own module-gated router.
from comptoir.accounting.api_credit import router as credit_router  # noqa: E402

router.add_router("", credit_router)

# Payment term writes beyond creation (api_terms): same prefix, its own module-gated router.
from comptoir.accounting.api_terms import router as terms_router  # noqa: E402

router.add_router("", terms_router)
