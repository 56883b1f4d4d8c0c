"""The Huey instance, chosen by DEPOSITUM_QUEUE_URL."""

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from huey import RedisHuey, SqliteHuey

QUEUE_NAME = "depositum"


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
        return SqliteHuey(QUEUE_NAME, filename=filename, timeout=30)

    if scheme in ("redis", "rediss", "unix"):
        return RedisHuey(QUEUE_NAME, url=url)

    if scheme in ("postgres", "postgresql"):
        # Huey's SQL storage takes tasks with FOR UPDATE SKIP LOCKED on
        # PostgreSQL, so any number of consumers can share one table.
        from huey.contrib.sql_huey import SqlHuey

        return SqlHuey(QUEUE_NAME, database=url)

    raise ImproperlyConfigured(
        f"DEPOSITUM_QUEUE_URL={url!r} has an unknown scheme: use sqlite:////path,"
        " redis://host:port/db or postgresql://user@host/db"
    )
