"""Statements written once: the SELECTs and UPDATEs of the hot paths, without the ORM compiler.

The order-to-cash services run ~130 statements per flow; building and compiling each one
through the ORM costs ten times more Python than the database spends executing it
(docs/decisions/0015-statements-written-once.md). A ``Select`` or ``Update`` here is declared
once at module level from a model's metadata: its SQL is written on first use per database
vendor and reused; values read are converted by the same converters the ORM applies
(decimals, dates, JSON, our money fields), values written go through each field's
``get_db_prep_save``. One row is inserted by ``audit.insert_row`` / ``audit.insert_instance``,
several by ``insert_rows`` / ``insert_instances``.

Column names are written ``{field}`` (a field name or attname of the model) in ``where``,
``order_by`` and ``set``; everything else is plain SQL with ``%s`` parameters, which both
SQLite and PostgreSQL read the same. Record rules stay in the selectors: a statement here is
for a row the service has already scoped by company (its ``where`` says so) or checked.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.db import models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper

from comptoir.kernel.models import project_fetch_mode

Converter = Callable[[Any, Any, BaseDatabaseWrapper], Any]
# SQL, (column index, its converters, its Col), attnames in the model's field order, that order.
_Compiled = tuple[str, list[tuple[int, list[Converter], Any]], list[str], list[int]]


def _fields(model: type[models.Model], names: Sequence[str]) -> list[models.Field[Any, Any]]:
    meta = model._meta
    fields = []
    for name in names:
        field = meta.get_field(name)
        if not isinstance(field, models.Field) or not field.concrete:
            raise ValueError(f"{name} is not a column of {meta.label}")
        fields.append(field)
    return fields


def _columns(model: type[models.Model], sql: str, connection: BaseDatabaseWrapper) -> str:
    """``{name}`` → the quoted column of that field; ``{{`` and ``}}`` stay braces."""
    meta = model._meta
    names = {}
    for field in meta.concrete_fields:
        column = connection.ops.quote_name(str(field.column))
        names[field.name] = names[field.attname] = column
    names["pk"] = connection.ops.quote_name(str(meta.pk.column))  # type: ignore[union-attr]
    return sql.format_map(names)


class Select:
    """``SELECT fields FROM model's table WHERE where [ORDER BY] [LIMIT] [FOR NO KEY UPDATE]``.

    ``rows(*params)`` gives tuples in the order of ``fields``, converted as the ORM would;
    ``one(*params)`` the first or None; ``instances(*params)`` model instances holding only
    those fields (the others deferred, read on access like ``.only()``). ``lock=True`` takes
    ``FOR NO KEY UPDATE`` on PostgreSQL (decision 0014); SQLite's IMMEDIATE transactions
    already serialise writers.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[str], where: str, *,
                 order_by: str = "", limit: int | None = None, lock: bool = False) -> None:  # fmt: skip
        self.model = model
        self.field_names = tuple(fields)
        self.where = where
        self.order_by = order_by
        self.limit = limit
        self.lock = lock
        self._compiled: dict[str, _Compiled] = {}

    def _compile(self, connection: BaseDatabaseWrapper) -> _Compiled:
        compiled = self._compiled.get(connection.vendor)
        if compiled is not None:
            return compiled
        meta = self.model._meta
        fields = _fields(self.model, self.field_names)
        table = connection.ops.quote_name(meta.db_table)
        columns = ", ".join(f"{table}.{connection.ops.quote_name(str(f.column))}" for f in fields)
        # Names come from the model's metadata and the statement's declaration, values are parameters.
        sql = f"SELECT {columns} FROM {table} WHERE {_columns(self.model, self.where, connection)}"  # noqa: S608
        if self.order_by:
            sql += f" ORDER BY {_columns(self.model, self.order_by, connection)}"
        if self.limit is not None:
            sql += f" LIMIT {int(self.limit)}"
        if self.lock and connection.features.has_select_for_update:
            sql += " " + connection.ops.for_update_sql(no_key=connection.features.has_select_for_no_key_update)
        converters = []
        for index, field in enumerate(fields):
            column = field.get_col(meta.db_table)
            found = connection.ops.get_db_converters(column) + column.get_db_converters(connection)
            if found:  # the column goes with them: SQLite's decimal converter reads its field
                converters.append((index, found, column))
        # ``from_db`` takes the selected values in the model's field order.
        attnames = [f.attname for f in fields]
        order = sorted(range(len(fields)), key=lambda i: meta.concrete_fields.index(fields[i]))
        compiled = self._compiled[connection.vendor] = (sql, converters, [attnames[i] for i in order], order)
        return compiled

    def rows(self, *params: Any) -> list[tuple[Any, ...]]:
        connection = transaction.get_connection()
        sql, converters, _attnames, _order = self._compile(connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            fetched = cursor.fetchall()
        if not converters:
            return [tuple(row) for row in fetched]
        result = []
        for row in fetched:
            values = list(row)
            for index, functions, column in converters:
                value = values[index]
                for function in functions:
                    value = function(value, column, connection)
                values[index] = value
            result.append(tuple(values))
        return result

    def one(self, *params: Any) -> tuple[Any, ...] | None:
        rows = self.rows(*params)
        return rows[0] if rows else None

    def instances(self, *params: Any) -> list[Any]:
        connection = transaction.get_connection()
        _sql, _converters, attnames, order = self._compile(connection)
        mode = project_fetch_mode()
        return [self.model.from_db(connection.alias, attnames, [row[i] for i in order], fetch_mode=mode)
                for row in self.rows(*params)]  # fmt: skip

    def instance(self, *params: Any) -> Any:
        found = self.instances(*params)
        return found[0] if found else None


def instance[M: models.Model](model: type[M], attnames: Sequence[str], values: Sequence[Any]) -> M:
    """A model instance from values a statement read (already converted), as the ORM makes one:
    the fields not given deferred (read on access, like ``.only()``), the project's fetch mode
    (a lazy load raises in tests). ``attnames`` in any order: ``from_db`` wants the model's."""
    by_name = dict(zip(attnames, values, strict=True))
    names = [field.attname for field in model._meta.concrete_fields if field.attname in by_name]
    if len(names) != len(by_name):
        raise ValueError(f"not columns of {model._meta.label}: {sorted(set(by_name) - set(names))}")
    return model.from_db(transaction.get_connection().alias, names, [by_name[name] for name in names],
                         fetch_mode=project_fetch_mode())  # fmt: skip


class Update:
    """``UPDATE model's table SET fields = %s, … WHERE where``; returns the rows changed.

    ``run(values, *params)``: ``values`` in the order of ``fields``, each through its field's
    ``get_db_prep_save`` (money, dates, JSON); ``params`` fill the ``where``.
    """

    def __init__(self, model: type[models.Model], fields: Sequence[str], where: str) -> None:
        self.model = model
        self.field_names = tuple(fields)
        self.where = where
        self._compiled: dict[str, tuple[str, list[models.Field[Any, Any]]]] = {}

    def run(self, values: Sequence[Any], *params: Any) -> int:
        connection = transaction.get_connection()
        compiled = self._compiled.get(connection.vendor)
        if compiled is None:
            fields = _fields(self.model, self.field_names)
            quote = connection.ops.quote_name
            assignments = ", ".join(f"{quote(str(f.column))} = %s" for f in fields)
            where = _columns(self.model, self.where, connection)
            sql = f"UPDATE {quote(self.model._meta.db_table)} SET {assignments} WHERE {where}"  # noqa: S608
            compiled = self._compiled[connection.vendor] = (sql, fields)
        sql, fields = compiled
        prepared = [field.get_db_prep_save(value, connection) for field, value in zip(fields, values, strict=True)]
        with connection.cursor() as cursor:
            cursor.execute(sql, [*prepared, *params])
            return cursor.rowcount


_row_inserts: dict[tuple[Any, ...], str] = {}


def insert_rows(model: type[models.Model], columns: Sequence[str], rows: Sequence[Sequence[Any]], *,
                returning_pk: bool = False) -> list[Any]:  # fmt: skip
    """INSERT ``rows`` (values in the order of ``columns``) as ``bulk_create`` would store them.

    Each value goes through its field's ``get_db_prep_save``; as many rows per statement as
    the database takes (``bulk_batch_size``, at most 100); no defaults, no ``auto_now``, no
    signals: pass every column. With ``returning_pk`` the new ids come back in the order of
    the rows (``RETURNING``, as ``bulk_create`` reads them on both engines).
    """
    if not rows:
        return []
    connection = transaction.get_connection()
    fields = _fields(model, columns)
    prepared = [[field.get_db_prep_save(value, connection) for field, value in zip(fields, row, strict=True)]
                for row in rows]  # fmt: skip
    size = max(1, min(100, connection.ops.bulk_batch_size(fields, prepared)))
    ids: list[Any] = []
    with connection.cursor() as cursor:
        for start in range(0, len(prepared), size):
            batch = prepared[start : start + size]
            key = (model, tuple(columns), connection.vendor, len(batch), returning_pk)
            sql = _row_inserts.get(key)
            if sql is None:
                quote = connection.ops.quote_name
                names = ", ".join(quote(str(field.column)) for field in fields)
                values = ", ".join([f"({', '.join(['%s'] * len(fields))})"] * len(batch))
                # Names come from the model's metadata, values are parameters.
                sql = f"INSERT INTO {quote(model._meta.db_table)} ({names}) VALUES {values}"  # noqa: S608
                if returning_pk:
                    sql += f" RETURNING {quote(str(model._meta.pk.column))}"  # type: ignore[union-attr]
                _row_inserts[key] = sql
            cursor.execute(sql, [value for row in batch for value in row])
            if returning_pk:
                ids += [found[0] for found in cursor.fetchall()]
    return ids


def insert_instances(objs: Sequence[models.Model]) -> None:
    """INSERT new instances of one model as ``bulk_create`` would store them (each field's
    ``pre_save``: defaults and ``auto_now`` stamps), through ``insert_rows``. Their ids are not
    read back. Only for models whose save() adds nothing and that no signal listens to."""
    if not objs:
        return
    fields = [field for field in objs[0]._meta.concrete_fields if not field.primary_key]
    insert_rows(type(objs[0]), [field.attname for field in fields],
                [[field.pre_save(obj, True) for field in fields] for obj in objs])  # fmt: skip
