"""The Huey instance, chosen by DEPOSITUM_QUEUE_URL."""

from pathlib import Path
from urllib.parse import urlsplit

from django.core.exceptions import ImproperlyConfigured
from huey import RedisHuey, SqliteHuey

QUEUE_NAME = "depositum"


def huey_from_url(url):
    """Return a Huey instance for `url`.

    sqlite:///absolute/path.sqlite3 gives a SqliteHuey file that every process
    on one machine shares; redis://host:port/db gives a RedisHuey for several
    machines.
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

    raise ImproperlyConfigured(
        f"DEPOSITUM_QUEUE_URL={url!r} has an unknown scheme: use sqlite:///path or"
        " redis://host:port/db"
    )
