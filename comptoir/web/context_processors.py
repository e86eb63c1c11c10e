"""What every page's shell needs: the actor, their companies and the enabled modules' menu."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest


def shell(request: HttpRequest) -> dict[str, Any]:
    actor = getattr(request, "actor", None)
    if actor is None or not getattr(request, "user", None) or not request.user.is_authenticated:
        return {}
    from comptoir.kernel.modules import enabled_codes, registry
    from comptoir.kernel.notifications import unread_count
    from comptoir.org.models import Company

    enabled = enabled_codes(actor.company_id)
    nav = [
        {"module": m, "entries": [e for e in m.nav if e.permission is None or actor.has_perm(e.permission)]}
        for m in registry.all()
        if m.code in enabled
    ]
    companies = list(Company.objects.filter(pk__in=actor.company_ids).order_by("name").values("id", "name"))
    return {
        "actor": actor,
        "nav_modules": [n for n in nav if n["entries"]],
        "user_companies": companies,
        "current_company": next((c for c in companies if c["id"] == actor.company_id), None),
        "can_view_settings": actor.has_perm("org.view_company"),
        "can_view_audit": actor.has_perm("kernel.view_audit"),
        "unread_notifications": unread_count(actor),  # one COUNT query
    }
