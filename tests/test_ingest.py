"""Ingest of whole DIPs into the catalogue database, run in the test process."""

import errno
import uuid
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from depositum.catalogue.models import (
    AIP,
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
)
from depositum.ingest import bulk, writer
from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from depositum.ingest.plan import Event, FileProperties, IngestPlan, Node
from depositum.ingest.writer import PlanWriter

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def fonds():
    return Description.objects.create(
        slug="fonds", title="Fonds", level_of_description="Fonds"
    )


def ingest(dip, target, media_folder="aips/test"):
    plan = ArchivematicaDIPExtractor(ArchivematicaDIPExtractor.locate(dip)).plan()
    writer = PlanWriter(plan, target, media_folder=media_folder)
    writer.store_files()
    aip, descriptions = writer.write()
    return plan, aip, descriptions


def tree(description):
    """Return [(title, level, [children...])] below `description`."""
    return [
        (child.title, child.level_of_description, tree(child))
        for child in description.children.order_by("position")
    ]


def test_it_puts_files_under_sip_level_dc_description(build, fonds):
    ingest(build("02"), fonds)

    (top,) = fonds.children.all()
    assert top.level_of_description == "File"
    assert top.children.count() == 5
    assert set(top.children.values_list("level_of_description", flat=True)) == {"Item"}


def test_it_keeps_chinese_dc_title(build, fonds):
    ingest(build("03"), fonds)

    (item,) = fonds.children.all()
    assert (
        item.title
        == "Sed dui velit, varius a varius quis namu2016每月学生会参加者会议项目"
    )
    assert item.slug.isascii()


def test_it_builds_hierarchical_levels(build, fonds):
    ingest(build("05"), fonds)

    assert tree(fonds) == [
        (
            "objects",
            "Series",
            [
                (
                    "subdirectory",
                    "Subseries",
                    [("14000 Caen, France - Bird in my garden", "File", [])],
                )
            ],
        )
    ]


def test_it_stores_access_copy_and_thumbnail(build, fonds, media_root):
    ingest(build("01"), fonds)

    items = Description.objects.filter(aip__isnull=False)
    assert items.count() == 10
    masters = DigitalObject.objects.filter(usage="master")
    assert masters.count() == 10
    for master in masters:
        stored = media_root / master.file.name
        assert stored.is_file()
        assert stored.stat().st_size == master.size
        assert len(master.checksum) == 64
        object_uuid = str(master.description.digital_file.object_uuid)
        assert stored.name.startswith(f"{object_uuid}-")
        assert stored.name.endswith(master.name)
    thumbnails = DigitalObject.objects.filter(usage="thumbnail")
    assert thumbnails.count() == 10
    # One folder contains every file of the ingest.
    assert (
        len({(media_root / obj.file.name).parent for obj in [*masters, *thumbnails]})
        == 1
    )


def test_it_records_technical_properties_and_events(build, fonds):
    ingest(build("10"), fonds)

    digital_file = DigitalFile.objects.get()
    assert str(digital_file.object_uuid) == "c0ae91a4-00b6-4605-927e-41f900efe10a"
    assert digital_file.relative_path == "objects/hello.txt"
    assert digital_file.original_name == "hello.txt"
    assert digital_file.ingested_at is not None
    assert str(digital_file.aip.uuid) == "828c44bb-e631-4137-8638-bda4434218dc"
    event_types = set(PREMISEvent.objects.values_list("event_type", flat=True))
    assert {"ingestion", "message digest calculation"} <= event_types


def test_it_replaces_earlier_ingest_and_keeps_slugs(build, fonds, tmp_path):
    ingest(build("01", dest=tmp_path / "first"), fonds, media_folder="aips/first")
    slugs_before = set(
        Description.objects.exclude(id=fonds.id).values_list("slug", flat=True)
    )

    ingest(build("01", dest=tmp_path / "second"), fonds, media_folder="aips/second")

    slugs_after = set(
        Description.objects.exclude(id=fonds.id).values_list("slug", flat=True)
    )
    assert slugs_after == slugs_before
    assert AIP.objects.count() == 1
    assert DigitalFile.objects.count() == 10
    assert DigitalObject.objects.filter(usage="master").count() == 10


def test_it_removes_media_of_replaced_ingest(build, fonds, tmp_path, media_root):
    ingest(build("10", dest=tmp_path / "first"), fonds, media_folder="aips/first")
    ingest(build("10", dest=tmp_path / "second"), fonds, media_folder="aips/second")

    assert not (media_root / "aips/first").exists()
    assert (media_root / "aips/second").is_dir()


def test_it_gives_unique_slugs_to_equal_titles(build, fonds, tmp_path):
    other = Description.objects.create(slug="other", title="Other")
    ingest(build("10"), fonds)
    Description.objects.filter(aip__isnull=False).update(aip=None)
    AIP.objects.all().delete()

    ingest(build("10", dest=tmp_path / "again"), other)

    slugs = sorted(
        Description.objects.filter(title="hello.txt").values_list("slug", flat=True)
    )
    assert slugs == ["hello-txt", "hello-txt-2"]


def test_it_rolls_back_when_the_check_raises(build, fonds):
    plan = ArchivematicaDIPExtractor(build("10")).plan()
    writer = PlanWriter(plan, fonds, media_folder="aips/x")
    writer.store_files()

    def reject(aip, descriptions):
        raise RuntimeError("deposit taken over")

    with pytest.raises(RuntimeError):
        writer.write(on_commit_check=reject)

    assert Description.objects.count() == 1
    assert AIP.objects.count() == 0


def test_it_cuts_values_longer_than_their_column(build, fonds):
    plan = ArchivematicaDIPExtractor(build("10")).plan()
    (node,) = plan.roots
    node.fields["identifier"] = "x" * 5000
    node.file.format_name = "y" * 1000
    writer = PlanWriter(plan, fonds, media_folder="aips/long")
    writer.store_files()

    writer.write()

    item = Description.objects.get(aip__isnull=False)
    assert len(item.identifier) == 1024
    assert item.identifier.endswith("…")
    assert len(DigitalFile.objects.get().format_name) == 255


def synthetic_plan(tmp_path, count, titles=7):
    """Return a flat plan of `count` files whose titles repeat every `titles`."""
    source = tmp_path / f"source-{count}"
    source.mkdir()
    roots = []
    for index in range(count):
        object_uuid = str(uuid.UUID(int=index + 1))
        access_copy = source / f"{object_uuid}-photo.jpg"
        access_copy.write_bytes(b"\xff\xd8 photo %d \xff\xd9" % index)
        events = [
            Event("ingestion", datetime(2024, 5, 1, tzinfo=UTC), f"ingest-{index}"),
            Event("message digest calculation", None, f"digest-{index}"),
        ]
        properties = FileProperties(
            object_uuid=object_uuid,
            relative_path=f"objects/photo-{index}.tif",
            original_name=f"photo-{index}.tif",
            events=events,
        )
        roots.append(
            Node(
                key=f"file:{object_uuid}",
                title=f"Photo {index % titles}",
                level_of_description="Item",
                fields={"creators": ["Jane Doe"], "start_date": date(1990, 1, 1)},
                file=properties,
                access_copy=access_copy,
            )
        )
    return IngestPlan(str(uuid.uuid4()), f"synthetic-{count}", roots)


def write_queries(plan, target, media_folder):
    writer = PlanWriter(plan, target, media_folder=media_folder)
    writer.store_files()
    with CaptureQueriesContext(connection) as queries:
        writer.write()
    return len(queries)


def test_writer_queries_grow_per_batch_not_per_file(tmp_path, fonds):
    small_plan = synthetic_plan(tmp_path, 100, titles=100)
    large_plan = synthetic_plan(tmp_path, 1000, titles=1000)

    small = write_queries(small_plan, fonds, "aips/small")
    large = write_queries(large_plan, fonds, "aips/large")

    # One query per title or per file would add hundreds.
    assert large - small < 20
    assert large < 50
    assert DigitalFile.objects.count() == 1100
    assert PREMISEvent.objects.count() == 2200


def test_writer_numbers_equal_titles(tmp_path, fonds):
    for slug in ("photo-0", "photo-0-2", "photo-0-4"):
        Description.objects.create(slug=slug, title="Photo 0")

    write_queries(synthetic_plan(tmp_path, 40, titles=10), fonds, "aips/titles")

    slugs = set(
        Description.objects.filter(aip__isnull=False, title="Photo 0").values_list(
            "slug", flat=True
        )
    )
    assert slugs == {"photo-0-3", "photo-0-5", "photo-0-6", "photo-0-7"}
    assert Description.objects.filter(slug="photo-1").exists()
    assert Description.objects.filter(slug="photo-1-4").exists()
    assert not Description.objects.filter(slug="photo-1-5").exists()


def test_writer_stores_field_values(tmp_path, fonds):
    plan = synthetic_plan(tmp_path, 3)

    write_queries(plan, fonds, "aips/values")

    item = Description.objects.get(aip_key=plan.roots[1].key)
    assert item.creators == ["Jane Doe"]
    assert item.start_date == date(1990, 1, 1)
    assert item.parent_id == fonds.id
    assert item.position == 1
    assert item.created_at is not None
    digital_file = DigitalFile.objects.get(description=item)
    assert str(digital_file.object_uuid) == plan.roots[1].file.object_uuid
    assert digital_file.ocr_text == ""
    event = digital_file.premis_events.get(event_type="ingestion")
    assert event.event_datetime == datetime(2024, 5, 1, tzinfo=UTC)
    assert event.event_identifier == "ingest-1"
    assert (
        digital_file.premis_events.get(event_type__startswith="message").event_datetime
        is None
    )


def test_writer_returns_loaded_descriptions(tmp_path, fonds):
    plan = synthetic_plan(tmp_path, 2)
    writer = PlanWriter(plan, fonds, media_folder="aips/returned")
    writer.store_files()

    _, descriptions = writer.write()

    description = descriptions[plan.roots[0].key]
    assert description.slug == "photo-0"
    assert description.parent_id == fonds.id
    # Fields that were not loaded come from the database on access.
    assert description.creators == ["Jane Doe"]


def test_link_or_copy_copies_without_links(tmp_path, monkeypatch):
    source = tmp_path / "access.jpg"
    source.write_bytes(bytes(range(256)) * 4096)
    dest = tmp_path / "stored.jpg"

    def fail_link(source, dest):
        raise OSError(errno.EXDEV, "Invalid cross-device link")

    monkeypatch.setattr(writer.os, "link", fail_link)
    writer.link_or_copy(source, dest)

    assert dest.read_bytes() == source.read_bytes()
    assert dest.stat().st_ino != source.stat().st_ino


def test_second_dip_follows_first_under_target(tmp_path, fonds):
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = synthetic_plan(tmp_path / "first", 3)
    second = synthetic_plan(tmp_path / "second", 2)
    for index, plan in enumerate([first, second]):
        writer = PlanWriter(plan, fonds, media_folder=f"aips/{index}")
        writer.store_files()
        writer.write()

    children = fonds.children.order_by("position", "id")
    aips = [child.aip.name for child in children]
    assert aips == ["synthetic-3"] * 3 + ["synthetic-2"] * 2
    positions = [child.position for child in children]
    assert positions == [0, 1, 2, 3, 4]


@pytest.mark.parametrize(
    "value",
    [
        datetime(2024, 2, 29, 23, 59, 59, tzinfo=UTC),
        datetime(2024, 2, 29, 23, 59, 59, 123456, tzinfo=UTC),
        datetime.fromisoformat("2010-03-04T10:11:12+05:30"),
        datetime.fromisoformat("1899-12-31T23:00:00-11:00"),
    ],
)
def test_bulk_datetimes_match_django(value):
    field = PREMISEvent._meta.get_field("event_datetime")

    converted = bulk.converter(field)(value)

    assert converted == field.get_db_prep_save(value, connection)


def test_stored_name_of_long_access_copy():
    object_uuid = "9732be49-45b7-4146-8644-45d21e6babb7"
    long_name = "9732BE49-45B7-4146-8644-45D21E6BABB7-" + "W" * 200 + ".jpg"

    assert writer.stored_name(object_uuid, long_name) == f"{object_uuid}-access.jpg"
    assert writer.stored_name(object_uuid, "a.tif") == f"{object_uuid}-a.tif"
    archivematica_name = f"{object_uuid}-photo.jpg"
    assert writer.stored_name(object_uuid, archivematica_name) == archivematica_name
    no_suffix = "x" * 300 + "." + "y" * 40
    assert writer.stored_name(object_uuid, no_suffix) == f"{object_uuid}-access"
