"""The Huey instance, chosen by DEPOSITUM_QUEUE_URL."""

import logging
from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from huey import Huey, PostgresHuey, RedisHuey
from huey.storage import SqliteStorage

from depositum.extras import require

logger = logging.getLogger(__name__)

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
    RedisHuey, and postgresql://user@host/db a PostgresHuey, whose tables
    huey_task, huey_schedule, huey_kv and huey_counter every process creates
    in that database if they are missing.
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
        # PostgresStorage takes each message with FOR UPDATE SKIP LOCKED, so
        # any number of consumers can share the table, and an enqueue wakes
        # idle consumers with NOTIFY. libpq reads the URL, query parameters
        # such as ?sslmode=require included.
        require("psycopg", "postgres", f"A {scheme}:// DEPOSITUM_QUEUE_URL")
        check_psycopg_version(f"A {scheme}:// DEPOSITUM_QUEUE_URL")
        return PostgresHuey(QUEUE_NAME, dsn=url)

    raise ImproperlyConfigured(
        f"DEPOSITUM_QUEUE_URL={url!r} has an unknown scheme: use sqlite:////path,"
        " redis://host:port/db or postgresql://user@host/db"
    )


def check_psycopg_version(setting):
    """Raise ImproperlyConfigured if psycopg is older than 3.2.

    PostgresStorage waits for NOTIFY with Connection.notifies(timeout=...),
    which psycopg 3.2 added. With 3.1 every wait of an idle consumer fails.
    """
    import psycopg

    installed = tuple(int(part) for part in psycopg.__version__.split(".")[:2])
    if installed < (3, 2):
        raise ImproperlyConfigured(
            f"{setting} needs psycopg 3.2 or newer, but psycopg"
            f" {psycopg.__version__} is installed: pip install 'depositum[postgres]'"
            " in depositum's virtualenv"
        )


def call_twice(function, failure):
    """Return what `function` returns, calling it a second time if the first
    call raises. The second call's exception is not caught.

    PostgresStorage finds that the server closed its connection (at a restart,
    or with pg_terminate_backend()) only when a statement fails, and it opens
    a new connection on the next call. `failure` begins the warning logged
    after the first failure.
    """
    try:
        return function()
    except Exception as error:
        logger.warning(
            "%s (%s: %s); trying once more", failure, type(error).__name__, error
        )
    return function()
