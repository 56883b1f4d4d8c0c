"""The full-text index of the catalogue and the database triggers that keep it
in step with every write, whichever code makes it: an ingest's bulk inserts,
the deletes of a re-ingest, or an edit in the admin.

SQLite: an FTS5 table, search_fts, whose rowid is the description id and whose
columns are the title, the other text fields ("metadata") and the OCR text of
the description's original file. It keeps its own copy of the text, which
snippet() and highlight() read.

PostgreSQL: a table search_document of one weighted tsvector per description
(title A, metadata C, OCR text D) with a GIN index. Statement-level triggers
with transition tables index each batch of rows with one INSERT ... SELECT.

The PostgreSQL triggers name no catalogue column in a column list or a WHEN
clause, because PostgreSQL then raises an error when a later migration changes
that column's type. SQLite drops a table's triggers when Django rebuilds the
table to alter it. So after every `migrate`, sync_after_migrate() compares the
installed triggers with the ones this module would create for the catalogue's
current columns, and re-creates them and rebuilds the index if they differ.
"""

import hashlib
import logging
import time

from django.db import connections

logger = logging.getLogger(__name__)

# Text search configuration on PostgreSQL, and the FTS5 tokenizer on SQLite.
# NOTE: both stem English words only. Words of other languages match in the
# form they were written in, and a run of CJK characters is one token.
PG_CONFIG = "english"
FTS5_TOKENIZE = "porter unicode61 remove_diacritics 2"

# Separator between the fields of the metadata text, which snippets show.
FIELD_SEPARATOR = " · "

# The description fields indexed as metadata, in the order snippets show them.
TEXT_FIELDS = [
    "scope_and_content",
    "identifier",
    "date_display",
    "extent_and_medium",
    "acquisition",
    "access_conditions",
    "location_of_originals",
    "dc_type",
    # Fields that the table lacks when the triggers are created, such as these
    # two of a later catalogue migration, are left out until a migration adds
    # them and sync_after_migrate() creates the triggers again.
    "archival_history",
    "notes",
    "level_of_description",
]
JSON_FIELDS = [
    "creators",
    "contributors",
    "publishers",
    "subject_access_points",
    "place_access_points",
    "languages",
]

DATE_FIELDS = ["start_date", "end_date"]

SQLITE_TRIGGERS = [
    "search_description_insert",
    "search_description_update",
    "search_description_delete",
    "search_digitalfile_insert",
    "search_digitalfile_update",
    "search_digitalfile_delete",
]
# Entries are (table, event, trigger name). Each trigger calls the function of
# the same name.
PG_TRIGGERS = [
    ("catalogue_description", "INSERT", "search_descriptions_inserted"),
    ("catalogue_description", "UPDATE", "search_descriptions_updated"),
    ("catalogue_description", "DELETE", "search_descriptions_deleted"),
    ("catalogue_description", "TRUNCATE", "search_descriptions_truncated"),
    ("catalogue_digitalfile", "INSERT", "search_digitalfiles_inserted"),
    ("catalogue_digitalfile", "UPDATE", "search_digitalfiles_updated"),
    ("catalogue_digitalfile", "DELETE", "search_digitalfiles_deleted"),
]
# Transition tables that each event's trigger functions read.
PG_REFERENCING = {
    "INSERT": "REFERENCING NEW TABLE AS new_rows",
    "UPDATE": "REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows",
    "DELETE": "REFERENCING OLD TABLE AS old_rows",
    "TRUNCATE": "",
}


class IndexedFields:
    """The indexed description fields that the database table has."""

    def __init__(self, connection):
        with connection.cursor() as cursor:
            description = connection.introspection.get_table_description(
                cursor, "catalogue_description"
            )
        present = {column.name for column in description}
        self.text = [name for name in TEXT_FIELDS if name in present]
        self.json = [name for name in JSON_FIELDS if name in present]
        # A change to any of these columns re-indexes the description.
        self.columns = ["title", *self.text, *self.json, *DATE_FIELDS]


# SQLite ------------------------------------------------------------------------


def sqlite_json_text(column):
    """Return SQL for the string values of a JSON list column, joined by commas."""
    return (
        f"(SELECT group_concat(value, ', ') FROM json_each("
        f"CASE WHEN json_valid({column}) THEN {column} ELSE '[]' END)"
        " WHERE type = 'text')"
    )


def sqlite_metadata(fields, row):
    """Return SQL for the metadata text of the description `row` (an alias or NEW)."""
    parts = [sqlite_text(row, name) for name in fields.text]
    parts += [sqlite_json_text(f"{row}.{name}") for name in fields.json]
    joined = " || ".join(
        f"coalesce('{FIELD_SEPARATOR}' || nullif({part}, ''), '')" for part in parts
    )
    # SQLite 3.40 has no concat_ws(), so every part gets a leading separator
    # and substr() drops the first one.
    return f"substr({joined}, {len(FIELD_SEPARATOR) + 1})"


def sqlite_text(row, name):
    if name != "date_display":
        return f"{row}.{name}"
    # The ISO dates replace a missing date display, so a search for the year
    # finds the description.
    return (
        f"CASE WHEN {row}.date_display <> '' THEN {row}.date_display"
        f" ELSE trim(coalesce({row}.start_date, '') || ' '"
        f" || coalesce({row}.end_date, '')) END"
    )


def sqlite_statements(fields):
    # The description triggers read NEW and OLD alone and the digital file
    # triggers touch only search_fts, so rebuilding either catalogue table
    # leaves no trigger that names a missing table.
    metadata = sqlite_metadata(fields, "NEW")
    return [
        "CREATE VIRTUAL TABLE IF NOT EXISTS search_fts USING fts5("
        f"title, metadata, ocr, tokenize = '{FTS5_TOKENIZE}')",
        *(f"DROP TRIGGER IF EXISTS {name}" for name in SQLITE_TRIGGERS),
        f"""CREATE TRIGGER search_description_insert
        AFTER INSERT ON catalogue_description BEGIN
            DELETE FROM search_fts WHERE rowid = NEW.id;
            INSERT INTO search_fts (rowid, title, metadata, ocr)
            VALUES (NEW.id, NEW.title, {metadata}, '');
        END""",
        f"""CREATE TRIGGER search_description_update
        AFTER UPDATE OF {", ".join(fields.columns)} ON catalogue_description BEGIN
            INSERT INTO search_fts (rowid, title, metadata, ocr)
            SELECT NEW.id, '', '', ''
            WHERE NOT EXISTS (SELECT 1 FROM search_fts WHERE rowid = NEW.id);
            UPDATE search_fts SET title = NEW.title, metadata = {metadata}
            WHERE rowid = NEW.id;
        END""",
        """CREATE TRIGGER search_description_delete
        AFTER DELETE ON catalogue_description BEGIN
            DELETE FROM search_fts WHERE rowid = OLD.id;
        END""",
        """CREATE TRIGGER search_digitalfile_insert
        AFTER INSERT ON catalogue_digitalfile WHEN NEW.ocr_text <> '' BEGIN
            UPDATE search_fts SET ocr = NEW.ocr_text
            WHERE rowid = NEW.description_id;
        END""",
        """CREATE TRIGGER search_digitalfile_update
        AFTER UPDATE OF ocr_text, description_id ON catalogue_digitalfile BEGIN
            UPDATE search_fts SET ocr = '' WHERE rowid = OLD.description_id;
            UPDATE search_fts SET ocr = NEW.ocr_text
            WHERE rowid = NEW.description_id;
        END""",
        """CREATE TRIGGER search_digitalfile_delete
        AFTER DELETE ON catalogue_digitalfile WHEN OLD.ocr_text <> '' BEGIN
            UPDATE search_fts SET ocr = '' WHERE rowid = OLD.description_id;
        END""",
    ]


def sqlite_rebuild(fields, cursor):
    cursor.execute("DELETE FROM search_fts")
    cursor.execute(
        f"""INSERT INTO search_fts (rowid, title, metadata, ocr)
        SELECT d.id, d.title, {sqlite_metadata(fields, "d")},
            coalesce(f.ocr_text, '')
        FROM catalogue_description d
        LEFT JOIN catalogue_digitalfile f ON f.description_id = d.id"""
    )
    cursor.execute("INSERT INTO search_fts (search_fts) VALUES ('optimize')")


# PostgreSQL --------------------------------------------------------------------


def pg_metadata(fields, row):
    """Return SQL for the metadata text of the description `row` (a table alias)."""
    parts = [pg_text(row, name) for name in fields.text]
    parts += [f"search_json_text({row}.{name})" for name in fields.json]
    nullable = ", ".join(f"nullif({part}, '')" for part in parts)
    return f"concat_ws('{FIELD_SEPARATOR}', {nullable})"


def pg_text(row, name):
    if name != "date_display":
        return f"{row}.{name}"
    return (
        f"CASE WHEN {row}.date_display <> '' THEN {row}.date_display"
        f" ELSE concat_ws(' ', to_char({row}.start_date, 'YYYY-MM-DD'),"
        f" to_char({row}.end_date, 'YYYY-MM-DD')) END"
    )


def pg_document(fields, row, ocr_text):
    """Return SQL for the weighted tsvector of the description `row`.

    jsonb_to_tsvector() indexes the strings of the JSON fields. Joining them
    into text first, which the triggers would otherwise do for every inserted
    row, cost about 0.7 s per 10,000 descriptions in depositum/search/bench.py
    (a rough measurement on a shared two-core machine).
    """
    texts = ", ".join(f"nullif({pg_text(row, name)}, '')" for name in fields.text)
    metadata = [f"to_tsvector('{PG_CONFIG}', concat_ws(' ', {texts}))"]
    metadata += [
        f"""jsonb_to_tsvector('{PG_CONFIG}', {row}.{name}, '["string"]')"""
        for name in fields.json
    ]
    return (
        f"setweight(to_tsvector('{PG_CONFIG}', {row}.title), 'A')"
        f" || setweight({' || '.join(metadata)}, 'C')"
        f" || setweight(to_tsvector('{PG_CONFIG}', coalesce({ocr_text}, '')), 'D')"
    )


def pg_statements(fields):
    changed = " OR ".join(
        f"n.{column} IS DISTINCT FROM o.{column}" for column in fields.columns
    )
    statements = [
        """CREATE TABLE IF NOT EXISTS search_document (
            description_id bigint PRIMARY KEY,
            document tsvector NOT NULL
        )""",
        "CREATE INDEX IF NOT EXISTS search_document_gin"
        " ON search_document USING gin (document)",
        """CREATE OR REPLACE FUNCTION search_json_text(value jsonb) RETURNS text
        LANGUAGE sql IMMUTABLE AS $$
            SELECT CASE jsonb_typeof(value)
                WHEN 'array' THEN (
                    SELECT string_agg(element #>> '{}', ', ')
                    FROM jsonb_array_elements(value) AS element
                    WHERE jsonb_typeof(element) = 'string'
                )
                WHEN 'string' THEN value #>> '{}'
            END
        $$""",
        # Insert or replace the documents of the descriptions `ids`.
        f"""CREATE OR REPLACE FUNCTION search_index(ids bigint[]) RETURNS void
        LANGUAGE sql AS $$
            INSERT INTO search_document (description_id, document)
            SELECT d.id, {pg_document(fields, "d", "f.ocr_text")}
            FROM catalogue_description d
            LEFT JOIN catalogue_digitalfile f ON f.description_id = d.id
            WHERE d.id = ANY(ids)
            ON CONFLICT (description_id) DO UPDATE SET document = EXCLUDED.document
        $$""",
        """CREATE OR REPLACE FUNCTION search_descriptions_inserted() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM search_index(ARRAY(SELECT id FROM new_rows));
            RETURN NULL;
        END $$""",
        f"""CREATE OR REPLACE FUNCTION search_descriptions_updated() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM search_index(ARRAY(
                SELECT n.id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE {changed}
            ));
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION search_descriptions_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            DELETE FROM search_document
            WHERE description_id IN (SELECT id FROM old_rows);
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION search_descriptions_truncated() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            TRUNCATE search_document;
            RETURN NULL;
        END $$""",
        # A new file is the description's only one (the relation is one to
        # one), so its OCR text is appended instead of indexing all again.
        f"""CREATE OR REPLACE FUNCTION search_digitalfiles_inserted() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            UPDATE search_document s
            SET document = s.document
                || setweight(to_tsvector('{PG_CONFIG}', n.ocr_text), 'D')
            FROM new_rows n
            WHERE s.description_id = n.description_id AND n.ocr_text <> '';
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION search_digitalfiles_updated() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM search_index(ARRAY(
                SELECT n.description_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.ocr_text IS DISTINCT FROM o.ocr_text
                    OR n.description_id <> o.description_id
                UNION
                SELECT o.description_id FROM new_rows n JOIN old_rows o ON o.id = n.id
                WHERE n.description_id <> o.description_id
            ));
            RETURN NULL;
        END $$""",
        """CREATE OR REPLACE FUNCTION search_digitalfiles_deleted() RETURNS trigger
        LANGUAGE plpgsql AS $$ BEGIN
            PERFORM search_index(ARRAY(
                SELECT description_id FROM old_rows WHERE ocr_text <> ''
            ));
            RETURN NULL;
        END $$""",
    ]
    for table, event, name in PG_TRIGGERS:
        statements += [
            f"DROP TRIGGER IF EXISTS {name} ON {table}",
            f"CREATE TRIGGER {name} AFTER {event} ON {table} {PG_REFERENCING[event]}"
            f" FOR EACH STATEMENT EXECUTE FUNCTION {name}()",
        ]
    return statements


def pg_rebuild(cursor):
    cursor.execute("TRUNCATE search_document")
    cursor.execute("SELECT search_index(ARRAY(SELECT id FROM catalogue_description))")


# Both --------------------------------------------------------------------------


def statements(connection):
    fields = IndexedFields(connection)
    if connection.vendor == "postgresql":
        return pg_statements(fields)
    return sqlite_statements(fields)


def digest(statements):
    return hashlib.sha256("\n".join(statements).encode()).hexdigest()


def install(connection):
    """Create the index table if it is missing, and create the functions and
    triggers again.

    The digest of the statements goes into search_schema, so that
    sync_after_migrate() can tell whether the triggers match the table.
    """
    sql = statements(connection)
    with connection.cursor() as cursor:
        for statement in sql:
            cursor.execute(statement)
        cursor.execute("CREATE TABLE IF NOT EXISTS search_schema (digest text)")
        cursor.execute("DELETE FROM search_schema")
        cursor.execute("INSERT INTO search_schema (digest) VALUES (%s)", [digest(sql)])


def uninstall(connection):
    """Drop the triggers, the functions and the index table."""
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            for table, _, name in PG_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}")
                cursor.execute(f"DROP FUNCTION IF EXISTS {name}()")
            cursor.execute("DROP FUNCTION IF EXISTS search_index(bigint[])")
            cursor.execute("DROP FUNCTION IF EXISTS search_json_text(jsonb)")
            cursor.execute("DROP TABLE IF EXISTS search_document")
        else:
            for name in SQLITE_TRIGGERS:
                cursor.execute(f"DROP TRIGGER IF EXISTS {name}")
            cursor.execute("DROP TABLE IF EXISTS search_fts")
        cursor.execute("DROP TABLE IF EXISTS search_schema")


def rebuild(connection):
    """Index every description again and return the number of descriptions."""
    started = time.monotonic()
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            pg_rebuild(cursor)
        else:
            sqlite_rebuild(IndexedFields(connection), cursor)
        cursor.execute("SELECT count(*) FROM catalogue_description")
        (count,) = cursor.fetchone()
    logger.info(
        "Rebuilt the search index of %d descriptions on database %s in %.2fs",
        count,
        connection.alias,
        time.monotonic() - started,
    )
    return count


def installed_triggers(connection):
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                "SELECT tgname FROM pg_trigger WHERE NOT tgisinternal"
                " AND tgname = ANY(%s)",
                [[name for _, _, name in PG_TRIGGERS]],
            )
        else:
            names = ", ".join(f"'{name}'" for name in SQLITE_TRIGGERS)
            cursor.execute(
                "SELECT name FROM sqlite_master"
                f" WHERE type = 'trigger' AND name IN ({names})"
            )
        return {row[0] for row in cursor.fetchall()}


def is_current(connection):
    """Return True if every trigger exists as this module would create it now.

    Return None if the search migration has not run on this database.
    """
    tables = connection.introspection.table_names()
    if "search_schema" not in tables:
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT digest FROM search_schema")
        row = cursor.fetchone()
    expected = len(SQLITE_TRIGGERS if connection.vendor == "sqlite" else PG_TRIGGERS)
    if len(installed_triggers(connection)) != expected:
        return False
    return row is not None and row[0] == digest(statements(connection))


def sync_after_migrate(sender, using, **kwargs):
    """Re-create the index triggers and rebuild the index if a migration
    changed the indexed columns or dropped a trigger."""
    connection = connections[using]
    if is_current(connection) is not False:
        return

    logger.warning(
        "Search index triggers on database %s are missing or out of date, so they"
        " are created again and the index is rebuilt",
        using,
    )
    install(connection)
    rebuild(connection)
