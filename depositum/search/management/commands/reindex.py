import time

from django.core.management.base import BaseCommand
from django.db import DEFAULT_DB_ALIAS, connections, transaction

from depositum.search import schema


class Command(BaseCommand):
    help = (
        "Rebuild the full-text search index from the catalogue, and create its"
        " triggers again. The triggers keep the index up to date, so this is"
        " needed only after the index or its triggers were changed by hand."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--database",
            default=DEFAULT_DB_ALIAS,
            help="database alias to reindex (default: %(default)s)",
        )

    def handle(self, database, **options):
        connection = connections[database]
        started = time.monotonic()
        with transaction.atomic(using=database):
            schema.install(connection)
            count = schema.rebuild(connection)
        self.stdout.write(
            f"Indexed {count} descriptions in {time.monotonic() - started:.1f}s"
        )
