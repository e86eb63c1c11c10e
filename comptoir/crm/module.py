"""The CRM module (pipeline): needs the contacts module."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, registry


def register() -> None:
    registry.register(
        Module(
            code="crm",
            label=_("CRM"),
            description=_("Leads, opportunities and pipelines."),
            requires=("contacts",),
            # Navigation entries are added with the pages (see crm/urls.py).
            nav=(),
        )
    )
