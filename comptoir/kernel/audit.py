"""Audit trail: services record every write inside their own transaction.

Each entry carries a keyed SHA-256 digest of its content; ``check-integrity`` recomputes it,
so an entry edited behind the application's back is detected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.db import models, transaction
from django.utils import timezone

from comptoir.kernel.context import Actor, current_channel
from comptoir.kernel.models import AuditEntry


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (dt.date, dt.datetime)):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, (list, tuple, set, frozenset)):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """Field changes as {field: [old, new]}, only for fields that changed."""
    return {
        key: [_jsonable(before.get(key)), _jsonable(after.get(key))]
        for key in sorted(set(before) | set(after))
        if before.get(key) != after.get(key)
    }


def snapshot(obj: models.Model, fields: list[str]) -> dict[str, Any]:
    return {name: getattr(obj, name) for name in fields}


def compute_digest(entry: AuditEntry) -> str:
    content = json.dumps(
        [
            entry.company_id,
            entry.at.isoformat() if entry.at else None,
            entry.actor_id,
            entry.actor_label,
            entry.channel,
            entry.action,
            entry.object_type,
            entry.object_id,
            entry.object_repr,
            entry.changes,
        ],
        sort_keys=True,
        separators=(",", ":"),
    )
    return hmac.new(settings.SECRET_KEY.encode(), content.encode(), hashlib.sha256).hexdigest()


def record(
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    *,
    object_type: str | None = None,
    object_id: Any = "",
    changes: dict[str, Any] | None = None,
    company_id: int | None = None,
) -> AuditEntry:
    """Write one audit entry; must run inside the service's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must be called inside the service's transaction")
    if obj is not None:
        object_type = object_type or obj._meta.label_lower
        object_id = obj.pk
    entry = AuditEntry(
        company_id=company_id if company_id is not None else actor.company_id,
        at=timezone.now(),
        actor_id=actor.user_id,
        actor_label=actor.label[:254],
        channel=actor.channel if actor.channel != "system" else current_channel(),
        action=action,
        object_type=object_type or "",
        object_id="" if object_id is None else str(object_id),
        object_repr=str(obj)[:200] if obj is not None else "",
        changes=_jsonable(changes or {}),
    )
    entry.digest = compute_digest(entry)
    # auto_now_add would overwrite ``at`` and break the digest: save the value we hashed.
    AuditEntry.objects.bulk_create([entry])
    return entry
