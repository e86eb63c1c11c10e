"""Accounting pages."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render
from django.utils.translation import gettext_lazy as _

from comptoir.kernel import modules
from comptoir.kernel.authz import require
from comptoir.kernel.errors import NotFound


def _actor(request: HttpRequest) -> Any:
    return request.actor  # type: ignore[attr-defined]


def accounting_page(view: Callable[..., HttpResponseBase]) -> Callable[..., HttpResponseBase]:
    """Logged in, accounting switched on for the company (404 otherwise), ledger visible."""

    @functools.wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponseBase:
        actor = _actor(request)
        if not modules.is_enabled(actor.company_id, "accounting"):
            raise NotFound("module_disabled", _("This module is not enabled for your company."))
        require(actor, "accounting.view_ledger")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


@accounting_page
def home(request: HttpRequest) -> HttpResponse:
    return render(request, "accounting/home.html", {})
