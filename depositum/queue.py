"""The Huey instance, chosen by DEPOSITUM_QUEUE_URL."""

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from huey import Huey, RedisHuey
from huey.storage import SqliteStorage

from depositum.extras import require

QUEUE_NAME = "depositum"


class WALSqliteStorage(SqliteStorage):
    """Huey's SQLite storage with synchronous=NORMAL, as depositum's database has.

    Huey leaves SQLite's default, FULL, which syncs the write-ahead log to disk
    on every commit, so each deposit waited for an fsync before its response.
    With NORMAL the log is synced at checkpoints, and a power cut or an OS
    crash can roll back the last messages. The reconciler hands a queued
    deposit whose message was lost to the queue again after REQUEUE_AFTER
    seconds.
    """

    def _create_connection(self):
        connection = super()._create_connection()
        connection.execute("pragma synchronous=NORMAL")
        return connection


def huey_from_url(url):
    """Return a Huey instance for `url`.

    sqlite:////absolute/path.sqlite3 gives a SqliteHuey file that every process
    on one machine shares. For several machines, redis://host:port/db gives a
    RedisHuey, and postgresql://user@host/db a queue table in PostgreSQL.
    """
    scheme = urlsplit(url).scheme
    if scheme == "sqlite":
        filename = url[len("sqlite:///") :]
        if not filename.startswith("/"):
            raise ImproperlyConfigured(
                f"DEPOSITUM_QUEUE_URL={url!r} needs an absolute path:"
                " sqlite:////srv/depositum/queue.sqlite3"
            )
        Path(filename).parent.mkdir(parents=True, exist_ok=True)
        return Huey(
            QUEUE_NAME, storage_class=WALSqliteStorage, filename=filename, timeout=30
        )

    if scheme in ("redis", "rediss", "unix"):
        require("redis", "redis", f"A {scheme}:// DEPOSITUM_QUEUE_URL")
        return RedisHuey(QUEUE_NAME, url=url)

    if scheme in ("postgres", "postgresql"):
        # Huey's SQL storage takes tasks with FOR UPDATE SKIP LOCKED on
        # PostgreSQL, so any number of consumers can share one table.
        for module in ("peewee", "psycopg"):
            require(module, "postgres", f"A {scheme}:// DEPOSITUM_QUEUE_URL")
        from huey.contrib.sql_huey import SqlHuey

        return SqlHuey(QUEUE_NAME, database=url)

    raise ImproperlyConfigured(
        f"DEPOSITUM_QUEUE_URL={url!r} has an unknown scheme: use sqlite:////path,"
        " redis://host:port/db or postgresql://user@host/db"
    )
