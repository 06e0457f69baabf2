"""Queries built by the ORM once per process and then only run (issue 17: lesson pages).

Building a queryset's SQL (filters, joins, compiling) costs a page view about ten
times what SQLite then takes to answer it, and the hot pages ask the same few
questions on every view with other values. A ``Prepared`` query is written as an
ordinary queryset whose changing values are ``Param``s; its SQL and the converters
of its columns are made the first time it runs (per database and per ``shape``) and
reused after, so a view pays for the query, not for building it.

A ``Param``'s value goes to the database through its field's ``get_db_prep_value``
(a plain ``Field`` when none is given: the value as it is, fine for ids and strings).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.models.expressions import Expression
from django.db.models.sql import UpdateQuery


class Param(Expression):
    """A value given when a prepared query runs, not when it is built."""

    def __init__(self, name: str, output_field: models.Field | None = None):
        super().__init__(output_field=output_field or models.Field())
        self.name = name

    def as_sql(self, compiler, connection):
        return "%s", (_Slot(self.name, self.output_field),)


class _Slot:
    """Where a ``Param``'s value goes among the compiled query's parameters."""

    __slots__ = ("field", "name")

    def __init__(self, name: str, field: models.Field):
        self.name, self.field = name, field


def update(queryset: models.QuerySet, **values) -> UpdateQuery:
    """What ``queryset.update(**values)`` runs, as a query to prepare."""
    query = queryset.query.chain(UpdateQuery)
    query.add_update_values(values)
    return query


class Prepared:
    """``build(shape)`` → a ``values_list`` queryset (or an ``update``) with ``Param``s;
    ``rows(shape, **values)`` (``execute`` for an update) runs it. The shape is for what
    changes the SQL itself (e.g. which labs are asked for); most queries have one shape,
    ``None``. What is compiled is kept per database alias, not per connection: the
    converters only read settings through the connection they were made with."""

    def __init__(self, build: Callable[[Any], models.QuerySet]):
        self._build = build
        self._compiled: dict[tuple[str, Hashable], tuple] = {}

    def _compile(self, using: str, shape: Hashable) -> tuple:
        compiled = self._compiled.get((using, shape))
        if compiled is None:
            built = self._build(shape)
            compiler = getattr(built, "query", built).get_compiler(using)
            sql, params = compiler.as_sql()
            converters = []
            if not isinstance(compiler.query, UpdateQuery):
                columns = [column for column, _, _ in compiler.select[: compiler.col_count]]
                converters = list(compiler.get_converters(columns).items())
            compiled = (sql, tuple(params), converters)
            self._compiled[(using, shape)] = compiled
        return compiled

    def _run(self, shape: Hashable, using: str, values: dict, fetch: bool):
        sql, template, converters = self._compile(using, shape)
        connection = connections[using]
        params = [
            p.field.get_db_prep_value(values[p.name], connection) if isinstance(p, _Slot) else p
            for p in template
        ]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            return (cursor.fetchall() if fetch else cursor.rowcount), converters

    def execute(self, shape: Hashable = None, *, using: str = DEFAULT_DB_ALIAS, **values) -> int:
        """Run an update; the number of rows it changed."""
        count, _ = self._run(shape, using, values, fetch=False)
        return count

    def rows(self, shape: Hashable = None, *, using: str = DEFAULT_DB_ALIAS, **values) -> list:
        """The query's rows (tuples, each column converted as the ORM would)."""
        rows, converters = self._run(shape, using, values, fetch=True)
        if not converters:
            return rows
        connection = connections[using]
        converted = []
        for row in rows:
            row = list(row)
            for at, (functions, expression) in converters:
                value = row[at]
                for function in functions:
                    value = function(value, expression, connection)
                row[at] = value
            converted.append(tuple(row))
        return converted
