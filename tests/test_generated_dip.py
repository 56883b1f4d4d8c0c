"""Ingest of the synthetic DIPs that benchmarks/generate_dip.py writes."""

from pathlib import Path

import pytest

from benchmarks.generate_dip import generate_dip
from depositum.catalogue.models import (
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
)
from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from depositum.ingest.writer import PlanWriter

pytestmark = pytest.mark.django_db

COUNT = 50


@pytest.fixture(autouse=True)
def media_root(tmp_path, settings):
    settings.MEDIA_ROOT = str(tmp_path / "media")
    return Path(settings.MEDIA_ROOT)


@pytest.fixture
def fonds():
    return Description.objects.create(
        slug="fonds", title="Fonds", level_of_description="Fonds"
    )


def ingest(dip, target):
    extractor = ArchivematicaDIPExtractor(ArchivematicaDIPExtractor.locate(dip))
    plan = extractor.plan()
    writer = PlanWriter(plan, target, media_folder="aips/generated")
    writer.store_files()
    writer.write()
    return plan


def test_generated_dip_ingests_every_file(tmp_path, fonds):
    dip = generate_dip(COUNT, tmp_path / "dips")

    plan = ingest(dip, fonds)

    assert plan.warnings == []
    assert DigitalFile.objects.count() == COUNT
    assert DigitalObject.objects.filter(usage="master").count() == COUNT
    assert DigitalObject.objects.filter(usage="thumbnail").count() == COUNT
    # Flat mode: the SIP-level DC of the objects/ directory becomes a File.
    (top,) = fonds.children.all()
    assert top.level_of_description == "File"
    assert top.children.count() == COUNT


def test_generated_dip_records_premis(tmp_path, fonds):
    ingest(generate_dip(COUNT, tmp_path / "dips"), fonds)

    digital_file = DigitalFile.objects.get(
        relative_path__startswith="objects/series-001/folder-001/image-000001."
    )
    assert digital_file.original_name.startswith("image-000001.")
    assert digital_file.format_puid in {"fmt/43", "fmt/353", "fmt/13", "x-fmt/392"}
    assert digital_file.checksum_type == "sha256"
    assert len(digital_file.checksum) == 64
    assert digital_file.ingested_at is not None
    event_types = set(
        PREMISEvent.objects.filter(digital_file=digital_file).values_list(
            "event_type", flat=True
        )
    )
    assert event_types == {
        "ingestion",
        "message digest calculation",
        "virus check",
        "format identification",
        "normalization",
    }
    assert DigitalFile.objects.exclude(ocr_text="").count() == COUNT // 5
    # Every tenth original has its own DC title.
    assert Description.objects.filter(title__startswith="Harbour view").count() == 5


def test_generated_dip_hierarchical_levels(tmp_path, fonds):
    dip = generate_dip(COUNT, tmp_path / "dips", hierarchical=True)

    ingest(dip, fonds)

    (series,) = fonds.children.all()
    assert series.level_of_description == "Series"
    (subseries,) = series.children.all()
    assert subseries.level_of_description == "Subseries"
    (folder,) = subseries.children.all()
    assert folder.level_of_description == "File"
    assert folder.children.filter(level_of_description="Item").count() == COUNT
    assert DigitalFile.objects.count() == COUNT


def test_generated_dip_same_seed_same_mets(tmp_path):
    first = generate_dip(20, tmp_path / "first", seed=7)
    second = generate_dip(20, tmp_path / "second", seed=7)

    assert first.name == second.name
    (first_mets,) = first.glob("METS.*.xml")
    (second_mets,) = second.glob("METS.*.xml")
    assert first_mets.read_bytes() == second_mets.read_bytes()
