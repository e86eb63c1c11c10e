"""Creating quotes under real concurrency: 4 threads, each with its own connection, create
quotes at once, some rolled back after their number was taken. Numbers must be 1..N without
gap or duplicate (the number is taken last, under the counter's row lock)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection, transaction
from django.utils import timezone

from comptoir.org.testing import make_personas
from comptoir.sales import quotes
from comptoir.sales.models_quotes import Quote
from comptoir.sales.tests.quotes_kit import make_shop, product_line

THREADS = 4
PER_THREAD = 6


class ForcedRollback(Exception):
    pass


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_quotes_get_gapless_numbers() -> None:
    shop = make_shop(make_personas())
    actor = shop.actor()
    barrier = threading.Barrier(THREADS)
    errors: list[BaseException] = []

    def writer(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            for position in range(PER_THREAD):
                if position == 2:
                    try:
                        with transaction.atomic():
                            shop.quote([product_line(shop.chair, "1")], actor=actor)
                            raise ForcedRollback
                    except ForcedRollback:
                        pass
                quotes.quote_create(actor=actor, organization_id=shop.customer.pk,
                                    lines=[product_line(shop.book, str(index + 1))])  # fmt: skip
        except BaseException as exc:  # reported by the main thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not errors, errors[:3]
    year = timezone.localdate().year
    numbers = sorted(Quote.objects.filter(company_id=shop.company_id).values_list("number", flat=True))
    assert numbers == [f"DE-{year}-{n:05}" for n in range(1, THREADS * PER_THREAD + 1)]
