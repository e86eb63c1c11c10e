"""The CRM module (pipeline): needs the contacts module."""

from __future__ import annotations

from django.utils.translation import gettext_lazy as _

from comptoir.kernel.modules import Module, NavEntry, registry


def register() -> None:
    registry.register(
        Module(
            code="crm",
            label=_("CRM"),
            description=_("Leads, opportunities and pipelines."),
            requires=("contacts",),
            nav=(
                NavEntry(label=_("Pipeline"), url_name="crm:board", permission="crm.view_opportunity"),
                NavEntry(label=_("Opportunities"), url_name="crm:opportunities", permission="crm.view_opportunity"),
                NavEntry(label=_("Leads"), url_name="crm:leads", permission="crm.view_opportunity"),
                NavEntry(label=_("My day"), url_name="crm:my_day", permission="crm.view_opportunity"),
                NavEntry(
                    label=_("Pipeline settings"), url_name="crm:pipeline_settings", permission="crm.manage_pipelines"
                ),
            ),
        )
    )
