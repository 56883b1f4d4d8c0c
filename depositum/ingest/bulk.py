"""Insert many rows of one model with a few statements and little Python work.

Django's bulk_create builds a model instance for each row and compiles every
value through the ORM. For the tens of thousands of descriptions and hundreds
of thousands of PREMIS events of a big DIP, that took longer than the database
did. RowInserter prepares each value with its field's own get_db_prep_save, so
the stored values are those bulk_create would store, and hands the rows to the
database cursor. Like bulk_create, it sends no signals. Unlike it, it returns no
primary keys: the caller reads them back by a key of its own.
"""

from datetime import UTC, date, datetime

from django.conf import settings
from django.db import connection
from django.db.models import NOT_PROVIDED, DateTimeField
from django.utils import timezone

# Field types whose Python values the database driver accepts unconverted.
PLAIN_TYPES = {
    "AutoField",
    "BigIntegerField",
    "BooleanField",
    "CharField",
    "ForeignKey",
    "IntegerField",
    "OneToOneField",
    "PositiveIntegerField",
    "SlugField",
    "TextField",
}


class RowInserter:
    """Insert rows of `model` given as dicts of field attnames to values.

    A field that a row leaves out gets its default, as in a model instance:
    `default`, "" or None, or the current time for auto_now and auto_now_add.
    A field with a db_default that the rows leave out is left to the database.
    """

    def __init__(self, model):
        self.model = model
        self.fields = [
            field for field in model._meta.concrete_fields if not field.primary_key
        ]

    def insert(self, rows):
        """Insert `rows`, which must all have the same keys.

        The columns are the keys of the first row and every field without a
        db_default. PostgreSQL receives the rows through COPY, which needs no
        statement per row. Other databases receive one INSERT through executemany.
        """
        rows = list(rows)
        if not rows:
            return
        fields = self.columns(rows[0])
        values = self.prepare(fields, rows)

        quote = connection.ops.quote_name
        table = quote(self.model._meta.db_table)
        columns = ", ".join(quote(field.column) for field in fields)
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                # Django's cursor wraps a psycopg 3 cursor, which supports COPY.
                statement = f"COPY {table} ({columns}) FROM STDIN"
                with cursor.cursor.copy(statement) as copy:
                    for row_values in values:
                        copy.write_row(row_values)
            else:
                placeholders = ", ".join(["%s"] * len(fields))
                cursor.executemany(
                    f"INSERT INTO {table} ({columns}) VALUES ({placeholders})",
                    values,
                )

    def columns(self, row):
        return [
            field
            for field in self.fields
            if field.attname in row or field.db_default is NOT_PROVIDED
        ]

    def prepare(self, fields, rows):
        """Return the database values of `rows`, a list per row in field order."""
        # The functions that convert each field's values for the driver, or
        # None where the driver takes them as they are.
        converters = [converter(field) for field in fields]
        # Defaults are converted once, because most rows leave most fields out.
        defaults = []
        for field, convert in zip(fields, converters, strict=True):
            default = self.default(field)
            if convert is not None and default is not None:
                default = convert(default)
            defaults.append(default)

        missing = object()
        columns = list(zip(fields, defaults, converters, strict=True))
        values = []
        for row in rows:
            row_values = []
            for field, default, convert in columns:
                value = row.get(field.attname, missing)
                if value is missing:
                    value = default
                elif convert is not None and value is not None:
                    value = convert(value)
                row_values.append(value)
            values.append(row_values)
        return values

    def default(self, field):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            if isinstance(field, DateTimeField):
                return timezone.now()
            return date.today()
        return field.get_default()


def converter(field):
    """Return a function that converts values of `field` for the database driver
    as the field's get_db_prep_save does, or None if they need no conversion."""
    if field.get_internal_type() in PLAIN_TYPES:
        return None

    def prep(value):
        return field.get_db_prep_save(value, connection)

    if not isinstance(field, DateTimeField) or not utc_sqlite():
        return prep

    def utc_text(value):
        # What Django's SQLite backend stores for an aware datetime: the time
        # in UTC, without its offset, as str() writes it. get_db_prep_save
        # took 0.9 s under cProfile for the 78,000 datetimes, mostly PREMIS
        # event times, of a 10,000-file DIP.
        if type(value) is not datetime or value.utcoffset() is None:
            return prep(value)
        return str(value.astimezone(UTC).replace(tzinfo=None))

    return utc_text


def utc_sqlite():
    """Return whether the connection is to SQLite and stores datetimes in UTC."""
    return (
        connection.vendor == "sqlite" and settings.USE_TZ and connection.timezone == UTC
    )
