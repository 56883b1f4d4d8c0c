"""Measure what the search index triggers add to an ingest's bulk inserts.

Usage: DJANGO_SETTINGS_MODULE=depositum.settings python -m depositum.search.bench
    [--descriptions N] [--rounds R]

Each round inserts N descriptions with Dublin Core values, and a digital file
with 1 kB of OCR text for every other one, in batches of 500 as
depositum.ingest.writer does. It does so once with the triggers and once without
them, each in a transaction that is rolled back, so the database is left as it
was. It prints the median times and their ratio.
"""

import argparse
import statistics
import time
import uuid

import django


class Rollback(Exception):
    pass


def insert_rows(count):
    from django.utils import timezone

    from depositum.catalogue.models import AIP, Description, DigitalFile

    target = Description.objects.create(slug=f"bench-{uuid.uuid4().hex}", title="B")
    aip = AIP.objects.create(
        uuid=uuid.uuid4(), name="bench", ingested_at=timezone.now()
    )
    ocr = "Lorem ipsum dolor sit amet, consectetur adipiscing elit. " * 18
    descriptions = [
        Description(
            parent=target,
            aip=aip,
            position=number,
            slug=f"bench-{uuid.uuid4().hex}",
            title=f"Letter {number} from the harbour master",
            identifier=f"HM/{number}",
            date_display="1923",
            scope_and_content="Correspondence about berths, tides and cargo.",
            creators=["Harbour Office", "J. Smith"],
            subject_access_points=["Harbours", "Shipping"],
            place_access_points=["Leith"],
            level_of_description="Item",
        )
        for number in range(count)
    ]
    descriptions = Description.objects.bulk_create(descriptions, batch_size=500)
    DigitalFile.objects.bulk_create(
        (
            DigitalFile(
                description=description,
                aip=aip,
                object_uuid=uuid.uuid4(),
                relative_path=f"objects/{number}.tif",
                original_name=f"{number}.tif",
                ocr_text=ocr if number % 2 else "",
            )
            for number, description in enumerate(descriptions)
        ),
        batch_size=500,
    )


def timed_insert(count, with_triggers):
    from django.db import connection, transaction

    from depositum.search import schema

    started = None
    try:
        with transaction.atomic():
            if not with_triggers:
                schema.uninstall(connection)
            started = time.perf_counter()
            insert_rows(count)
            elapsed = time.perf_counter() - started
            raise Rollback
    except Rollback:
        return elapsed


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--descriptions", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    django.setup()
    from django.db import connection

    times_with, times_without = [], []
    for _ in range(args.rounds):
        times_without.append(timed_insert(args.descriptions, with_triggers=False))
        times_with.append(timed_insert(args.descriptions, with_triggers=True))
    median_without = statistics.median(times_without)
    median_with = statistics.median(times_with)
    print(f"database: {connection.vendor}, {args.descriptions} descriptions")
    print(f"without triggers: {median_without:.2f}s  with triggers: {median_with:.2f}s")
    print(f"ratio: {median_with / median_without:.2f}")


if __name__ == "__main__":
    main()
