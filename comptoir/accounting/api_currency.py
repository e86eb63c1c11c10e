"""Multi-currency API (conventions: docs/api.md): exchange rates and the revaluation of open
foreign-currency items.

* ``GET /accounting/currency-rates`` (paginated, ``currency`` filter), ``POST`` sets the
  rate of a currency on a date (replacing that day's), ``POST /accounting/currency-rates/import``
  takes a CSV file ``date,currency,rate`` (all or nothing).
* ``GET /accounting/revaluation?date=`` previews the unrealised differences at a date;
  ``POST /accounting/revaluation`` posts the entry (476/477) and its reversal the next day.

Mounted under the closing router (api_closing.py), same prefix.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import Field, File, Query, Schema
from ninja.files import UploadedFile
from ninja.responses import Status

from comptoir.accounting import currency, revaluation
from comptoir.kernel import apikit
from comptoir.kernel.apikit import InputSchema, ListParams, page_of, responses

router = apikit.module_router("accounting")


class RateOut(Schema):
    id: int
    currency: str
    date: dt.date
    rate: str = Field(description="Units of the currency for 1 unit of the company currency (EUR).")


class RateIn(InputSchema):
    currency: str = Field(..., max_length=3, description="ISO 4217 code, e.g. USD.")
    date: dt.date
    # A decimal string like every amount of the API (docs/api.md): never a binary float.
    rate: str = Field(
        ...,
        pattern=r"^[0-9]{1,10}(\.[0-9]{1,8})?$",
        description='Units of the currency for 1 EUR, decimal string, at most 8 decimals, e.g. `"1.0850"`.',
    )


class RateFilters(ListParams):
    currency: str | None = Field(None, max_length=3)


class ImportOut(Schema):
    imported: int


class ItemOut(Schema):
    invoice_id: int
    number: str
    partner_name: str
    partner_account_id: int
    currency: str
    residual: str = Field(description="Open amount in the invoice's currency at the date.")
    booked: str = Field(description="Signed (debit positive), EUR at the invoice's rate.")
    rate: str
    revalued: str = Field(description="Signed, EUR at the date's rate.")
    difference: str = Field(description="> 0 an unrealised gain (477), < 0 a loss (476).")


class RevaluationOut(Schema):
    date: dt.date
    gains: str
    losses: str
    items: list[ItemOut]
    entry_id: int | None
    reversal_id: int | None
    provision: str = Field(description="The net unrealised loss (losses − gains) to provision on 6865/1515, or 0.")
    provision_entry_id: int | None
    provision_reversal_id: int | None = Field(description="Its reversal the next day (1515/7865).")


class RevaluationIn(InputSchema):
    date: dt.date


def _rate(row: dict[str, Any]) -> dict[str, Any]:
    return row | {"rate": str(row["rate"])}


@router.get("/currency-rates", response=responses(page_of(RateOut)), summary="List exchange rates")
def rate_list(request: HttpRequest, params: Query[RateFilters]) -> Any:
    """Sort: `currency`, `date` (default: by currency, newest first)."""
    rows = currency.rates_list(apikit.actor(request), currency=params.currency or "").values(
        "id", "currency", "date", "rate"
    )
    sort = {"currency": "currency", "date": "date"}
    return apikit.paginate_rows(request, rows, params, item=RateOut, convert=_rate, sort=sort,
                                default_sort="currency,-date")  # fmt: skip


@router.post("/currency-rates", response=responses(RateOut, status=201), summary="Set an exchange rate")
def rate_set(request: HttpRequest, payload: RateIn) -> Status:
    """The rate of the currency on that date; the day's previous rate, if any, is replaced."""
    found = currency.rate_set(actor=apikit.actor(request), **payload.model_dump())
    return Status(201, _rate({"id": found.pk, "currency": found.currency, "date": found.date, "rate": found.rate}))


@router.post("/currency-rates/import", response=responses(ImportOut, status=201), summary="Import exchange rates")
def rate_import(request: HttpRequest, file: File[UploadedFile]) -> Status:
    """A CSV file of `date,currency,rate` rows (header optional, `,` or `;`): all or nothing."""
    # The service refuses a file over 2 MB (422, code "too_large", on "file").
    return Status(201, {"imported": currency.rates_import(actor=apikit.actor(request), data=file)})


def _revaluation(result: revaluation.Revaluation) -> dict[str, Any]:
    return {
        "date": result.day, "gains": str(result.gains), "losses": str(result.losses),
        "items": [
            {"invoice_id": i.invoice_id, "number": i.number, "partner_name": i.partner_name,
             "partner_account_id": i.partner_account_id, "currency": i.currency, "residual": str(i.residual),
             "booked": str(i.booked), "rate": str(i.rate), "revalued": str(i.revalued),
             "difference": str(i.difference)}
            for i in result.items
        ],
        "entry_id": result.entry.pk if result.entry else None,
        "reversal_id": result.reversal.pk if result.reversal else None,
        "provision": str(result.provision),
        "provision_entry_id": result.provision_entry.pk if result.provision_entry else None,
        "provision_reversal_id": result.provision_reversal.pk if result.provision_reversal else None,
    }  # fmt: skip


@router.get("/revaluation", response=responses(RevaluationOut), summary="Preview the revaluation at a date")
def revaluation_preview(request: HttpRequest, date: dt.date) -> Any:
    """Open foreign-currency receivables and payables at the date and their unrealised differences."""
    return _revaluation(revaluation.revaluation_preview(apikit.actor(request), date))


@router.post("/revaluation", response=responses(RevaluationOut, status=201), summary="Revalue at a date")
def revaluation_post(request: HttpRequest, payload: RevaluationIn) -> Status:
    """Post the revaluation entry (476/477 against the partner accounts) and its reversal the next day;
    when the net unrealised position is a loss, the provision (6865/1515) and its reversal (7865) too."""
    return Status(201, _revaluation(revaluation.revalue(actor=apikit.actor(request), date=payload.date)))


@router.post("/revaluation/provision", response=responses(RevaluationOut, status=201),
             summary="Provision the exchange losses of a revalued date")  # fmt: skip
def provision_post(request: HttpRequest, payload: RevaluationIn) -> Status:
    """For a date revalued without its provision: 6865/1515 at the date, reversed (1515/7865) the next day.
    409 when the date is not revalued or already provisioned; 422 when the position is not a loss."""
    return Status(201, _revaluation(revaluation.provision_post(actor=apikit.actor(request), date=payload.date)))
