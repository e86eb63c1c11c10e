"""The exchange-rate import refuses a file over 2 MB in the service, whatever the channel: a
field error on "file" (never a 500), nothing imported, and an upload read no further than the
limit. The page and the API answer it per field."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from comptoir.accounting import currency
from comptoir.accounting.models_currency import CurrencyRate
from comptoir.accounting.tests.conftest import Ledger, today
from comptoir.accounting.tests.test_api import API, key
from comptoir.accounting.tests.test_views import login
from comptoir.kernel.errors import ValidationFailed

pytestmark = pytest.mark.django_db
LIMIT = currency.MAX_IMPORT_BYTES
# The message in the UI language of the channel (French in the tests, English on the API by default).
TOO_LARGE = {"The file is larger than 2 MB.", "Le fichier dépasse 2 Mo."}


def rates_file(size: int) -> bytes:
    """A valid rates file of exactly ``size`` bytes: one USD rate, then blank lines (ignored)."""
    row = f"date,currency,rate\n{today().isoformat()},USD,1.1\n".encode()
    return row + b"\n" * (size - len(row))


def refused(error: ValidationFailed) -> bool:
    return error.code == "too_large" and len(error.fields["file"]) == 1 and error.fields["file"][0] in TOO_LARGE


def test_the_service_refuses_more_than_2_mb_as_bytes_text_or_upload(ledger: Ledger) -> None:
    actor = ledger.actor()
    for too_large in (rates_file(LIMIT + 1), rates_file(LIMIT + 1).decode(), io.BytesIO(rates_file(LIMIT + 1))):
        with pytest.raises(ValidationFailed) as caught:
            currency.rates_import(actor=actor, data=too_large)
        assert refused(caught.value)
    # Text is measured in bytes: 2 MB of "é" is 4 MB.
    with pytest.raises(ValidationFailed) as caught:
        currency.rates_import(actor=actor, data="é" * (LIMIT // 2 + 1))
    assert refused(caught.value)
    assert not CurrencyRate.objects.filter(company_id=ledger.company_id).exists()
    # A huge upload is read only one byte past the limit.
    upload = io.BytesIO(b"\n" * (3 * LIMIT))
    with pytest.raises(ValidationFailed):
        currency.rates_import(actor=actor, data=upload)
    assert upload.tell() == LIMIT + 1
    # Exactly 2 MB is imported, whichever way it comes.
    assert currency.rates_import(actor=actor, data=rates_file(LIMIT)) == 1
    assert currency.rates_import(actor=actor, data=io.BytesIO(rates_file(LIMIT))) == 1


def test_the_page_shows_the_field_error(ledger: Ledger, client: Client) -> None:
    login(client, ledger, "finance")
    url = reverse("accounting:currency_rates")
    answer = client.post(url, {"file": SimpleUploadedFile("rates.csv", rates_file(LIMIT + 1))})
    assert answer.status_code == 422
    assert set(answer.context["errors"]) == {"file"} and answer.context["errors"]["file"][0] in TOO_LARGE
    assert answer.context["errors"]["file"][0] in answer.content.decode()
    assert not CurrencyRate.objects.filter(company_id=ledger.company_id).exists()
    assert client.post(url, {"file": SimpleUploadedFile("rates.csv", rates_file(LIMIT))}).status_code == 302
    assert CurrencyRate.objects.filter(company_id=ledger.company_id).count() == 1


def test_the_api_answers_422_on_the_file_field(ledger: Ledger, client: Client) -> None:
    headers = key(ledger, "finance")
    answer = client.post(API + "/currency-rates/import",
                         {"file": SimpleUploadedFile("rates.csv", rates_file(LIMIT + 1))}, headers=headers)  # fmt: skip
    assert answer.status_code == 422
    body = answer.json()
    assert body["code"] == "too_large" and list(body["fields"]) == ["file"] and body["fields"]["file"][0] in TOO_LARGE
    assert not CurrencyRate.objects.filter(company_id=ledger.company_id).exists()
    answer = client.post(API + "/currency-rates/import",
                         {"file": SimpleUploadedFile("rates.csv", rates_file(LIMIT))}, headers=headers)  # fmt: skip
    assert answer.status_code == 201 and answer.json() == {"imported": 1}
