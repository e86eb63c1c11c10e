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
from comptoir.kernel.statements import insert_rows


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


def compute_digest(entry: AuditEntry, key: str | None = None) -> str:
    """Keyed SHA-256 of the entry's content, with SECRET_KEY unless another ``key`` is given."""
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
    secret = settings.SECRET_KEY if key is None else key
    return hmac.new(secret.encode(), content.encode(), hashlib.sha256).hexdigest()


def digest_matches(entry: AuditEntry) -> bool:
    """True if the entry's digest was made with SECRET_KEY or one of SECRET_KEY_FALLBACKS.

    Rotating the key the Django way (old key moved to the fallbacks) keeps old entries
    verifiable; an entry that matches no key was altered after it was written.
    """
    keys = [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]
    return any(hmac.compare_digest(compute_digest(entry, key), entry.digest) for key in keys)


def prepare(
    actor: Actor,
    action: str,
    obj: models.Model | None = None,
    *,
    object_type: str | None = None,
    object_id: Any = "",
    changes: dict[str, Any] | None = None,
    company_id: int | None = None,
) -> AuditEntry:
    """An audit entry as ``record`` writes it (digest made), not saved yet: ``save`` writes several
    in one statement. The object is described as it is now (its text, its id)."""
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
    return entry


def save(*entries: AuditEntry) -> None:
    """Write prepared entries, in their order, with one INSERT; must run inside the service's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must be called inside the service's transaction")
    # Saves the values we hashed (auto_now_add would overwrite ``at``) with one plain INSERT:
    # services often call this while holding row locks (a document counter), so it is short.
    if len(entries) == 1:
        entry = entries[0]
        entry.pk = insert_row(AuditEntry, {name: getattr(entry, name) for name in _AUDIT_COLUMNS}, returning_pk=True)
        return
    ids = insert_rows(AuditEntry, _AUDIT_COLUMNS, [[getattr(entry, name) for name in _AUDIT_COLUMNS]
                                                   for entry in entries], returning_pk=True)  # fmt: skip
    for entry, pk in zip(entries, ids, strict=True):
        entry.pk = pk


def record(actor: Actor, action: str, obj: models.Model | None = None, **described: Any) -> AuditEntry:
    """Write one audit entry (``prepare``'s keywords: object_type, object_id, changes, company_id);
    must run inside the service's transaction."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit.record must be called inside the service's transaction")
    entry = prepare(actor, action, obj, **described)
    save(entry)
    return entry


_AUDIT_COLUMNS = (
    "company_id", "at", "actor_id", "actor_label", "channel", "action",
    "object_type", "object_id", "object_repr", "changes", "digest",
)  # fmt: skip

_insert_statements: dict[tuple[Any, ...], tuple[str, list[models.Field]]] = {}


def insert_instance(obj: models.Model) -> None:
    """INSERT a new instance as ``save()`` would, with ``insert_row``'s SQL compiled once.

    The values ``save()`` writes: defaults and ``auto_now`` stamps through each field's
    ``pre_save``. Only for models whose save() adds nothing and that no signal listens to
    (the hot inserts of documents, entries, payments and matchings).
    """
    meta = obj._meta
    values = {field.attname: field.pre_save(obj, True) for field in meta.concrete_fields if not field.primary_key}
    obj.pk = insert_row(type(obj), values, returning_pk=True)
    obj._state.adding = False
    obj._state.db = transaction.get_connection().alias


def insert_row(model: type[models.Model], values: dict[str, Any], *, returning_pk: bool = False) -> Any:
    """INSERT one row with SQL written once per (model, columns, database), not by the ORM compiler.

    What ``model.objects.create(**values)`` stores, at a fraction of its Python cost: each
    value goes through its field's ``get_db_prep_save``, as the ORM does. No defaults, no
    ``auto_now``, no signals: pass every column. Returns the new primary key when asked.
    """
    connection = transaction.get_connection()
    key = (model, tuple(values), connection.vendor, returning_pk)
    statement = _insert_statements.get(key)
    if statement is None:
        meta = model._meta
        fields: list[models.Field[Any, Any]] = []
        for name in values:
            field = meta.get_field(name)
            if not isinstance(field, models.Field) or not field.concrete:
                raise ValueError(f"{name} is not a column of {meta.label}")
            fields.append(field)
        quote = connection.ops.quote_name
        # Names come from the model's own metadata, values are parameters.
        sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608
            quote(meta.db_table), ", ".join(quote(f.column) for f in fields), ", ".join(["%s"] * len(fields))
        )
        if returning_pk:
            sql += f" RETURNING {quote(meta.pk.column)}"
        statement = _insert_statements[key] = (sql, fields)
    sql, columns = statement
    params = [col.get_db_prep_save(value, connection) for col, value in zip(columns, values.values(), strict=True)]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone()[0] if returning_pk else None
