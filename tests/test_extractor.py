"""Tests of the Archivematica DIP extractor.

Real Archivematica METS files get a DIP folder built around them by tests.dips;
hand-written METS files in fixtures/mets/edge cover one edge case each. The
extractor touches no database, so these tests need none.
"""

import shutil
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from depositum.ingest.archivematica import (
    DIP_PACKAGING,
    DIP_PACKAGING_ALT,
    ArchivematicaDIPExtractor,
)
from depositum.ingest.dc import parse_date_range
from depositum.ingest.plan import IngestError
from depositum.ingest.registry import get_extractor
from tests.dips import build_dip, main

FIXTURES = Path(__file__).parent / "fixtures" / "mets"
EDGE = FIXTURES / "edge"

SAMPLE_01 = FIXTURES / "01_aipscan_images_am1.12.xml"
SAMPLE_02 = FIXTURES / "02_am_sip_and_file_dc.xml"
SAMPLE_03 = FIXTURES / "03_am_utf8_dc_am1.13.2.xml"
SAMPLE_05 = FIXTURES / "05_metsrw_arranged_sip_hierarchical_am1.15.xml"
SAMPLE_06 = FIXTURES / "06_metsrw_dmdsecs_in_filesec_ocr_am1.14.xml"
SAMPLE_07 = FIXTURES / "07_metsrw_empty_dirs_am1.7.xml"
SAMPLE_10 = FIXTURES / "10_ss_METS.828c44bb_am1.12.xml"

BMP_UUID = "f7b1f8c4-2d0f-4559-a47e-87489d33aeca"
MP3_UUID = "f756e554-d0bf-4932-81db-da1cb36fe25a"
SCAN_UUIDS = [
    "9dc1bad9-6f26-498a-9cd2-a9df7c746b8f",
    "76c05c67-50c2-4f86-a222-ca44f8797587",
    "b79a82ba-223e-418a-aeeb-c00037826377",
    "de841014-d915-4bab-8dcb-ddf22632ddf8",
    "7523b36b-6195-44da-9573-dde44c549922",
    "c1e2be25-1951-4e68-a19d-d4936641a688",
    "7bb72d26-57e7-47b7-92b0-d7ed2b76cd33",
    "33a7ed95-5f4a-4a3d-98c4-466924e6ad46",
    "70a0ce45-fb33-4585-964c-91178975ac04",
    "9a97dc81-764d-4d1d-b928-efd7a1432e2c",
    "ebff80a3-5343-4e0e-8d85-ec4ed8f1c912",
    "be0fb68b-fd20-4467-bd57-ef392bd7d1a6",
]


def plan_for(mets_path, tmp_path, **options):
    """Build a DIP around `mets_path` in tmp_path and plan it, as a deposit would."""
    build_dip(mets_path, tmp_path, **options)
    extractor = ArchivematicaDIPExtractor(ArchivematicaDIPExtractor.locate(tmp_path))
    return extractor.plan()


def planned_node(plan, key):
    return next(node for node in plan.nodes() if node.key == key)


def titles(nodes):
    return [node.title for node in nodes]


# Sample 01: ten original images, PREMIS 3, preservation copies.


def test_it_imports_the_ten_original_images(tmp_path):
    plan = plan_for(SAMPLE_01, tmp_path)
    assert len(plan.roots) == 10


def test_it_imports_flat_files_at_item_level(tmp_path):
    plan = plan_for(SAMPLE_01, tmp_path)
    assert {node.level_of_description for node in plan.roots} == {"Item"}


def test_it_sorts_flat_files_by_title_ignoring_case(tmp_path):
    plan = plan_for(SAMPLE_01, tmp_path)
    assert titles(plan.roots) == [
        "799px-Euroleague-LE Roma vs Toulouse IC-27.bmp",
        "BBhelmet.ai",
        "G31DS.TIF",
        "Landing zone.jpg",
        "lion.svg",
        "MARBLES.TGA",
        "Nemastylis_geminiflora_Flower.PNG",
        "oakland03.jp2",
        "Vector.NET-Free-Vector-Art-Pack-28-Freedom-Flight.eps",
        "WFPC01.GIF",
    ]


def test_it_reports_the_aip_uuid_and_name(tmp_path):
    plan = plan_for(SAMPLE_01, tmp_path)
    assert plan.aip_uuid == "2d718ecf-828a-4487-83ce-873cf9edca1a"
    assert plan.aip_name == "images"


def test_it_gives_no_warnings_for_a_complete_dip(tmp_path):
    plan = plan_for(SAMPLE_01, tmp_path)
    assert plan.warnings == []


def test_it_reads_premis_3_object_properties(tmp_path):
    bmp = planned_node(plan_for(SAMPLE_01, tmp_path), f"file:{BMP_UUID}").file
    assert bmp.object_uuid == BMP_UUID
    assert bmp.relative_path == "objects/799px-Euroleague-LE_Roma_vs_Toulouse_IC-27.bmp"
    assert bmp.original_name == "799px-Euroleague-LE Roma vs Toulouse IC-27.bmp"
    assert bmp.original_size == 1437654
    assert bmp.format_puid == "fmt/116"
    assert bmp.format_name == "Windows Bitmap"
    assert bmp.format_version == "3.0"
    assert bmp.mime_type == "image/bmp"
    assert bmp.checksum_type == "sha256"
    assert bmp.checksum == (
        "b4961eac5fb7a1ffae4b63ac033a6a25827e7b839594f6e8e0b8e4fb01ebd7c4"
    )


def test_it_reads_the_ingestion_date(tmp_path):
    bmp = planned_node(plan_for(SAMPLE_01, tmp_path), f"file:{BMP_UUID}").file
    assert bmp.ingested_at == datetime(2020, 9, 8, 19, 2, 23, 509248, tzinfo=UTC)


def test_it_links_the_preservation_copy_by_group_id(tmp_path):
    bmp = planned_node(plan_for(SAMPLE_01, tmp_path), f"file:{BMP_UUID}").file
    assert bmp.preservation_copy_name == (
        "799px-Euroleague-LE_Roma_vs_Toulouse_IC-27-"
        "806543b6-d5d9-4c78-8859-2816c8c596ca.tif"
    )
    assert bmp.preservation_copy_size == 1436120
    assert bmp.preservation_copy_normalized_at == datetime(
        2020, 9, 8, 19, 2, 43, 28477, tzinfo=UTC
    )


def test_it_leaves_preservation_fields_empty(tmp_path):
    plan = plan_for(SAMPLE_01, tmp_path)
    png = planned_node(plan, "file:77330cf2-e9db-462f-8b94-36be70d0bea7").file
    assert png.preservation_copy_name == ""
    assert png.preservation_copy_size is None
    assert png.preservation_copy_normalized_at is None


def test_it_reads_premis_events(tmp_path):
    bmp = planned_node(plan_for(SAMPLE_01, tmp_path), f"file:{BMP_UUID}").file
    assert [event.event_type for event in bmp.events] == [
        "ingestion",
        "message digest calculation",
        "virus check",
        "name cleanup",
        "format identification",
        "normalization",
    ]
    ingestion, digest, virus_check = bmp.events[:3]
    assert ingestion.event_identifier == "18e6466f-bee9-44db-a2f1-cee0ffd872be"
    assert ingestion.event_detail == ""
    assert digest.event_detail == 'program="python"; module="hashlib.sha256()"'
    assert digest.event_outcome_detail == bmp.checksum
    assert virus_check.event_outcome == "Pass"
    assert virus_check.event_datetime == datetime(
        2020, 9, 8, 19, 2, 26, 147794, tzinfo=UTC
    )


def test_it_attaches_the_access_copy_and_thumbnail(tmp_path):
    node = planned_node(plan_for(SAMPLE_01, tmp_path), f"file:{BMP_UUID}")
    dip = tmp_path / "images-2d718ecf-828a-4487-83ce-873cf9edca1a"
    assert node.access_copy == (
        dip / "objects" / f"{BMP_UUID}-799px-Euroleague-LE_Roma_vs_Toulouse_IC-27.jpg"
    )
    assert node.thumbnail == dip / "thumbnails" / f"{BMP_UUID}.jpg"


def test_it_reads_the_ocr_text(tmp_path):
    bmp = planned_node(plan_for(SAMPLE_01, tmp_path), f"file:{BMP_UUID}").file
    assert bmp.ocr_text == (
        "OCR text recognised in 799px-Euroleague-LE_Roma_vs_Toulouse_IC-27.bmp: "
        "lorem ipsum dolor sit amet\n"
    )


def test_it_warns_about_originals_without_an_access_copy(tmp_path):
    skipped = [BMP_UUID, "9732be49-45b7-4146-8644-45d21e6babb7"]
    plan = plan_for(SAMPLE_01, tmp_path, skip_uuids=skipped)
    assert len(plan.roots) == 8
    assert plan.warnings == [
        (
            "2 original files have no access copy in objects/ and were not imported: "
            "799px-Euroleague-LE_Roma_vs_Toulouse_IC-27.bmp, WFPC01.GIF. Normalize "
            "them for access in Archivematica and upload the DIP again, or add access "
            "copies named <file UUID>-<name> to objects/."
        )
    ]


# Sample 02: Dublin Core on the SIP, a directory and files; no PREMIS.


def test_it_nests_files_under_sip_dc(tmp_path):
    plan = plan_for(SAMPLE_02, tmp_path)
    assert [(root.key, root.title) for root in plan.roots] == [
        ("dir:objects", "Yamani Weapons")
    ]
    assert plan.roots[0].level_of_description == "File"
    assert titles(plan.roots[0].children) == [
        "Landing zone",
        "Landing_zone.jpg",
        "MARBLES.TGA",
        "MARBLES.TGA",
        "Photo of Pretty marbles",
    ]
    assert {child.level_of_description for child in plan.roots[0].children} == {"Item"}


def test_it_maps_sip_dc_to_the_file(tmp_path):
    plan = plan_for(SAMPLE_02, tmp_path)
    assert plan.roots[0].fields == {
        "creators": ["Keladry of Mindelan"],
        "subject_access_points": ["Glaives"],
        "scope_and_content": "Glaives are cool",
        "publishers": ["Tortall Press"],
        "contributors": ["Yuki"],
        "date_display": "2014",
        "start_date": date(2014, 1, 1),
        "end_date": date(2014, 12, 31),
        "dc_type": "Archival Information Package",
        "extent_and_medium": "parchement",
        "identifier": "42/1",
        "location_of_originals": "Numair's library",
        "languages": ["en"],
        "access_conditions": "Public Domain",
    }


def test_it_keeps_unparseable_dates_as_text(tmp_path):
    plan = plan_for(SAMPLE_02, tmp_path)
    landing_zone = planned_node(plan, "file:e6a3ef6e-0811-4b10-b59a-4c7619ca8d3e")
    assert landing_zone.fields == {
        "date_display": "July 27, 2009",
        "acquisition": "Donated by Peters",
    }


def test_it_drops_directory_dc_in_flat_mode(tmp_path):
    plan = plan_for(SAMPLE_02, tmp_path)
    assert "Pretty marbles" not in titles(plan.nodes())


def test_it_takes_uuid_from_file_id(tmp_path):
    plan = plan_for(SAMPLE_02, tmp_path)
    marbles = planned_node(plan, "file:27787ff3-b6a4-44dc-9a3d-f07c0c499d2f").file
    assert marbles.object_uuid == "27787ff3-b6a4-44dc-9a3d-f07c0c499d2f"
    assert marbles.original_name == "MARBLES.TGA"
    assert marbles.original_size is None
    assert marbles.preservation_copy_name == (
        "MARBLES-ec5569f4-de7d-4544-9b1c-d97d5daa7502.tif"
    )


# Sample 03: a Chinese DC title and original name.


def test_it_keeps_the_chinese_dc_title(tmp_path):
    plan = plan_for(SAMPLE_03, tmp_path)
    assert titles(plan.roots) == [
        "Sed dui velit, varius a varius quis namu2016每月学生会参加者会议项目"
    ]


def test_it_keeps_the_unicode_original_name(tmp_path):
    document = plan_for(SAMPLE_03, tmp_path).roots[0].file
    assert document.original_name == (
        "Sed dui velit, varius a varius quis namu2016每月学生会参加者会议项目.doc"
    )
    assert (
        document.relative_path == "objects/C_/Ut_scelerisque_nibh_dolor__Etiam_vel_.doc"
    )


def test_it_maps_dc_rights_to_access_conditions(tmp_path):
    plan = plan_for(SAMPLE_03, tmp_path)
    assert plan.roots[0].fields == {"access_conditions": "Public domain"}


def test_it_takes_aip_name_from_folder(tmp_path):
    plan = plan_for(SAMPLE_03, tmp_path)
    assert plan.aip_uuid == "5bb0ab2b-721a-4a31-9b2d-3059d206750e"
    assert plan.aip_name == "5fc8798d-3415-47cc-8065-80d943d40bd9"


# Sample 05: an arranged SIP with a Hierarchical structMap.


def test_it_builds_levels_from_the_hierarchical_struct_map(tmp_path):
    plan = plan_for(SAMPLE_05, tmp_path)
    series = plan.roots
    subseries = series[0].children
    files = subseries[0].children
    assert [(n.title, n.level_of_description) for n in series] == [
        ("objects", "Series")
    ]
    assert [(n.title, n.level_of_description) for n in subseries] == [
        ("subdirectory", "Subseries")
    ]
    assert [(n.title, n.level_of_description) for n in files] == [
        ("14000 Caen, France - Bird in my garden", "File")
    ]


def test_it_skips_the_preservation_derivative(tmp_path):
    plan = plan_for(SAMPLE_05, tmp_path)
    assert [node.key for node in plan.nodes()] == [
        "dir:objects",
        "dir:objects/subdirectory",
        f"file:{MP3_UUID}",
    ]


def test_it_maps_file_dc_in_hierarchical_mode(tmp_path):
    bird = planned_node(plan_for(SAMPLE_05, tmp_path), f"file:{MP3_UUID}")
    assert bird.fields == {
        "creators": ["Nicolas Germain"],
        "subject_access_points": [
            "field recording",
            "phonography",
            "soundscapes",
            "sound art",
            "radio aporee",
        ],
        "scope_and_content": "Bird singing in my garden, Caen, France, Zoom H6",
        "publishers": ["Radio Aporee"],
        "date_display": "2017-05-27",
        "start_date": date(2017, 5, 27),
        "end_date": date(2017, 5, 27),
        "identifier": "aporee_36644_41997",
        "location_of_originals": "Internet Archive",
        "place_access_points": ["Caen, France"],
        "access_conditions": "Public domain",
    }


def test_it_records_the_wav_preservation_copy(tmp_path):
    bird = planned_node(plan_for(SAMPLE_05, tmp_path), f"file:{MP3_UUID}").file
    assert bird.preservation_copy_name == (
        "bird-0b110c54-217a-4215-ba32-37531cebf379.wav"
    )
    assert bird.preservation_copy_size == 26431800
    assert bird.mime_type == "audio/mpeg"


def test_it_attaches_an_mp3_access_copy(tmp_path):
    bird = planned_node(plan_for(SAMPLE_05, tmp_path), f"file:{MP3_UUID}")
    assert bird.access_copy.name == f"{MP3_UUID}-bird.mp3"
    assert bird.thumbnail is None


# Sample 06: a DSpace transfer whose dmdSecs hang on the fileSec.


def test_it_reads_dc_from_file_sec_dmdid(tmp_path):
    plan = plan_for(SAMPLE_06, tmp_path)
    assert plan.roots[0].fields == {"identifier": "hdl:2429/2700"}


def test_it_titles_files_by_original_name(tmp_path):
    plan = plan_for(SAMPLE_06, tmp_path)
    assert titles(plan.roots) == ["bitstream_8266.pdf"]


def test_it_imports_only_dspace_originals(tmp_path):
    plan = plan_for(SAMPLE_06, tmp_path)
    assert [node.key for node in plan.nodes()] == [
        "file:33f5f35a-8bde-4b94-b7cd-3d2c8b8f7a23"
    ]


def test_it_leaves_ingested_at_empty(tmp_path):
    pdf = plan_for(SAMPLE_06, tmp_path).roots[0].file
    assert pdf.ingested_at is None
    assert pdf.preservation_copy_normalized_at == datetime(
        2023, 7, 7, 23, 6, 9, 17848, tzinfo=UTC
    )


# Sample 07: nested and empty directories, PREMIS 2 and 3 mixed.


def test_it_flattens_nested_directories_in_flat_mode(tmp_path):
    plan = plan_for(SAMPLE_07, tmp_path)
    assert [node.file.relative_path for node in plan.roots] == [
        "objects/dir1/dir1a/dir1ai/file.txt",
        "objects/dir2/dir2a/dir2ai/file.txt",
        "objects/dir2/dir2a/dir2aii/file.txt",
    ]
    assert titles(plan.nodes()) == ["file.txt", "file.txt", "file.txt"]


def test_it_reads_premis_2_objects_and_events(tmp_path):
    text = planned_node(
        plan_for(SAMPLE_07, tmp_path), "file:78756d71-73fd-4988-a1c1-c2971ee2160f"
    ).file
    assert text.format_puid == "x-fmt/111"
    assert text.original_size == 5
    assert text.ingested_at == datetime(2017, 10, 19, 17, 12, 49, tzinfo=UTC)
    assert [event.event_type for event in text.events] == [
        "ingestion",
        "message digest calculation",
        "virus check",
        "format identification",
        "fixity check",
    ]


def test_it_takes_the_mime_type_from_fits(tmp_path):
    plan = plan_for(SAMPLE_07, tmp_path)
    assert {node.file.mime_type for node in plan.roots} == {"text/plain"}


# Sample 10: the smallest complete AIP METS.


def test_it_imports_a_minimal_aip(tmp_path):
    plan = plan_for(SAMPLE_10, tmp_path)
    assert [(n.title, n.level_of_description) for n in plan.nodes()] == [
        ("hello.txt", "Item")
    ]
    assert plan.roots[0].file.original_size == 7
    assert plan.aip_name == "20200513060703"
    assert plan.aip_uuid == "828c44bb-e631-4137-8638-bda4434218dc"


def test_it_rejects_the_only_original_uncopied(tmp_path):
    with pytest.raises(IngestError, match=r"\(1 original file checked\)"):
        plan_for(SAMPLE_10, tmp_path, access_copies=False)


# Edge cases, one hand-written METS each.


def test_it_uses_the_latest_dc_among_several_dmdsecs(tmp_path):
    plan = plan_for(EDGE / "several_dmdsecs.xml", tmp_path)
    scan_a = planned_node(plan, "file:3c42f7ac-9b3a-4b19-b536-52b756d195c8")
    assert scan_a.title == "Scan A, current description"
    assert scan_a.fields == {"creators": ["Ada Archivist"]}


def test_it_drops_dc_whose_latest_version_is_deleted(tmp_path):
    plan = plan_for(EDGE / "several_dmdsecs.xml", tmp_path)
    scan_b = planned_node(plan, "file:2c647c35-491b-4c79-adfd-30a697d63930")
    assert scan_b.title == "scan b.tif"
    assert scan_b.fields == {}


def test_it_maps_every_dublin_core_element(tmp_path):
    plan = plan_for(EDGE / "dublin_core_mapping.xml", tmp_path)
    assert plan.roots[0].title == "Minutes of the harbour board"
    assert plan.roots[0].fields == {
        "creators": ["Harbour Board", "J. Smith, secretary"],
        "contributors": ["Port Authority"],
        "publishers": ["Harbour Press"],
        "date_display": "1990 - 1995",
        "start_date": date(1990, 1, 1),
        "end_date": date(1995, 12, 31),
        "scope_and_content": "Minutes of the monthly meetings.\n"
        "Some pages are water damaged.",
        "subject_access_points": ["Harbours", "Shipping"],
        "place_access_points": ["Halifax (N.S.)"],
        "dc_type": "Text",
        "extent_and_medium": "212 pages\nbound volume",
        "identifier": "HB-1990-01",
        "location_of_originals": "City archives, box 12",
        "languages": ["en", "fr"],
        "access_conditions": "Open for research",
        "acquisition": "Transferred by the Port Authority in 2001",
    }


def test_it_falls_back_for_unknown_levels(tmp_path):
    plan = plan_for(EDGE / "unknown_level.xml", tmp_path)
    box = plan.roots[0]
    assert (box.title, box.level_of_description) == ("box1", "File")
    assert [(n.title, n.level_of_description) for n in box.children] == [
        ("letter.tif", "Item")
    ]


def test_it_warns_once_about_unknown_levels(tmp_path):
    plan = plan_for(EDGE / "unknown_level.xml", tmp_path)
    assert plan.warnings == [
        (
            "2 descriptions in the Hierarchical structMap have a TYPE that is not a "
            'known level of description ("Box", "Folder"): box1, letter.tif. '
            'Directories were imported at level "File" and files at level "Item". Use '
            "one of these levels in the arrangement: Record group, Fonds, Subfonds, "
            "Collection, Series, Subseries, File, Item, Part."
        )
    ]


def test_it_creates_empty_directories_in_hierarchical_mode(tmp_path):
    plan = plan_for(EDGE / "unknown_level.xml", tmp_path)
    empty = plan.roots[1]
    assert (empty.key, empty.title, empty.level_of_description) == (
        "dir:empty series",
        "empty series",
        "Series",
    )
    assert empty.children == []


def test_it_warns_about_unarranged_originals(tmp_path):
    plan = plan_for(EDGE / "unarranged_original.xml", tmp_path)
    assert [(n.title, n.level_of_description) for n in plan.nodes()] == [
        ("objects", "Fonds"),
        ("arranged.txt", "Item"),
    ]
    assert plan.warnings == [
        (
            "1 original file is not in the Hierarchical structMap and was not "
            "imported: left_out.txt. Add it to the arrangement in Archivematica and "
            "upload the DIP again."
        ),
        (
            "The Hierarchical structMap points to 1 file ID that the fileSec does "
            "not list, so it was skipped: file-2717368a-8ba8-4c67-8ebb-93268d158530."
        ),
    ]


def test_it_ignores_the_normative_structure(tmp_path):
    plan = plan_for(EDGE / "normative_structure_only.xml", tmp_path)
    assert [(n.title, n.level_of_description) for n in plan.nodes()] == [
        ("Apple.txt", "Item"),
        ("zebra.txt", "Item"),
    ]


def test_it_counts_missing_access_copies_in_one_warning(tmp_path):
    plan = plan_for(
        EDGE / "missing_access_copies.xml", tmp_path, skip_uuids=SCAN_UUIDS[1:]
    )
    assert titles(plan.roots) == ["page01.tif"]
    assert plan.warnings == [
        (
            "11 original files have no access copy in objects/ and were not imported: "
            "page02.tif, page03.tif, page04.tif, page05.tif, page06.tif, page07.tif, "
            "page08.tif, page09.tif, page10.tif, page11.tif and 1 more. Normalize "
            "them for access in Archivematica and upload the DIP again, or add access "
            "copies named <file UUID>-<name> to objects/."
        )
    ]


def test_it_rejects_a_dip_without_access_copies(tmp_path):
    with pytest.raises(IngestError) as raised:
        plan_for(EDGE / "missing_access_copies.xml", tmp_path, access_copies=False)
    assert str(raised.value) == (
        "No original file in METS.0a9cc6fd-9dcd-4713-9eaf-37589c849848.xml has an "
        "access copy in objects/ (12 original files checked), so nothing was "
        "imported. Access copies are matched by the 36-character file UUID at the "
        "start of their name (<file UUID>-<name>.<ext>). Check that the DIP's "
        "objects/ folder came with the deposit and that Archivematica normalized "
        "the files for access."
    )


def test_it_attaches_the_warnings_to_the_ingest_error(tmp_path):
    with pytest.raises(IngestError) as raised:
        plan_for(EDGE / "missing_access_copies.xml", tmp_path, access_copies=False)
    assert len(raised.value.warnings) == 1
    assert raised.value.warnings[0].startswith("12 original files have no access")


def test_it_names_a_missing_objects_folder(tmp_path):
    dip = build_dip(EDGE / "missing_access_copies.xml", tmp_path)
    shutil.rmtree(dip / "objects")
    with pytest.raises(IngestError, match=r"has no objects/ folder"):
        ArchivematicaDIPExtractor(dip).plan()


def test_it_matches_a_manually_normalized_access_copy(tmp_path):
    dip = build_dip(EDGE / "manual_normalization.xml", tmp_path, access_copies=False)
    access_copy = dip / "objects" / "d15f3565-5634-4795-9f84-ffdae02b7b10-1-map.jpg"
    access_copy.write_bytes(b"\xff\xd8\xff\xd9")
    plan = ArchivematicaDIPExtractor(dip).plan()
    assert plan.roots[0].access_copy == access_copy
    assert plan.roots[0].title == "map.tif"


def test_it_takes_the_first_access_copy(tmp_path):
    dip = build_dip(EDGE / "manual_normalization.xml", tmp_path, access_copies=False)
    objects = dip / "objects"
    for name in ("-2-map.jpg", "-1-map.jpg"):
        (objects / f"d15f3565-5634-4795-9f84-ffdae02b7b10{name}").write_bytes(b"")
    plan = ArchivematicaDIPExtractor(dip).plan()
    assert plan.roots[0].access_copy.name == (
        "d15f3565-5634-4795-9f84-ffdae02b7b10-1-map.jpg"
    )


def test_it_rejects_a_mets_without_a_file_sec(tmp_path):
    with pytest.raises(IngestError, match=r"has no fileSec"):
        plan_for(EDGE / "no_filesec.xml", tmp_path)


def test_it_rejects_a_mets_without_a_struct_map(tmp_path):
    with pytest.raises(IngestError, match=r"has no structMap"):
        plan_for(EDGE / "no_structmap.xml", tmp_path)


def test_it_rejects_a_mets_without_original_files(tmp_path):
    with pytest.raises(IngestError, match=r"lists no original files \(no fileGrp"):
        plan_for(EDGE / "no_originals.xml", tmp_path)


def test_it_rejects_an_href_that_leaves_the_aip(tmp_path):
    with pytest.raises(IngestError, match=r"'objects/\.\./\.\./etc/passwd'"):
        plan_for(EDGE / "href_outside.xml", tmp_path)


def test_it_reports_malformed_xml_with_its_line(tmp_path):
    dip = tmp_path / "cut-3c42f7ac-9b3a-4b19-b536-52b756d195c8"
    dip.mkdir()
    mets_name = "METS.3c42f7ac-9b3a-4b19-b536-52b756d195c8.xml"
    shutil.copyfile(EDGE / "malformed.xml", dip / mets_name)
    with pytest.raises(IngestError) as raised:
        ArchivematicaDIPExtractor(dip).plan()
    assert str(raised.value).startswith(
        f"{mets_name} is not well-formed XML at line 9: Opening and ending tag "
        "mismatch: fileGrp"
    )


def test_it_does_not_expand_external_entities(tmp_path):
    plan = plan_for(EDGE / "external_entity.xml", tmp_path)
    assert titles(plan.roots) == ["notes.txt"]


# Locating the DIP folder in a deposit.


def test_it_locates_the_dip_folder_itself(tmp_path):
    dip = build_dip(SAMPLE_10, tmp_path)
    assert ArchivematicaDIPExtractor.locate(dip) == dip


def test_it_locates_a_dip_wrapped_in_one_folder(tmp_path):
    dip = build_dip(SAMPLE_10, tmp_path)
    (tmp_path / "stray-file.txt").write_text("not a DIP")
    assert ArchivematicaDIPExtractor.locate(tmp_path) == dip


def test_it_rejects_a_deposit_without_a_mets(tmp_path):
    (tmp_path / "objects").mkdir()
    with pytest.raises(IngestError, match=r"No METS\.\*\.xml file was found"):
        ArchivematicaDIPExtractor.locate(tmp_path)


def test_it_rejects_a_deposit_with_two_dips(tmp_path):
    build_dip(SAMPLE_10, tmp_path)
    build_dip(SAMPLE_03, tmp_path)
    with pytest.raises(IngestError, match=r"contains 2 DIP folders"):
        ArchivematicaDIPExtractor.locate(tmp_path)


def test_it_registers_both_packaging_uris():
    assert get_extractor(DIP_PACKAGING) is ArchivematicaDIPExtractor
    assert get_extractor(DIP_PACKAGING_ALT) is ArchivematicaDIPExtractor


# Dublin Core dates.


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1990 - 1995", (date(1990, 1, 1), date(1995, 12, 31))),
        ("1990-1995", (date(1990, 1, 1), date(1995, 12, 31))),
        ("1990/1995-06", (date(1990, 1, 1), date(1995, 6, 30))),
        ("1996-02 – 1996-02", (date(1996, 2, 1), date(1996, 2, 29))),
        ("2017-05-27", (date(2017, 5, 27), date(2017, 5, 27))),
        ("2000-02", (date(2000, 2, 1), date(2000, 2, 29))),
        ("2014", (date(2014, 1, 1), date(2014, 12, 31))),
        ("2017-05-27T10:00:00Z", (date(2017, 5, 27), date(2017, 5, 27))),
        ("July 27, 2009", (None, None)),
        ("ca. 1900 - 1910", (None, date(1910, 12, 31))),
        ("2019-13-01", (None, None)),
        ("2019-02-30", (None, None)),
    ],
)
def test_it_parses_dc_dates(text, expected):
    assert parse_date_range(text) == expected


# The DIP builder itself.


def test_it_builds_the_dip_folder_layout(tmp_path):
    dip = build_dip(SAMPLE_01, tmp_path)
    assert dip.name == "images-2d718ecf-828a-4487-83ce-873cf9edca1a"
    assert (dip / "METS.2d718ecf-828a-4487-83ce-873cf9edca1a.xml").read_bytes() == (
        SAMPLE_01.read_bytes()
    )
    assert (dip / "processingMCP.xml").is_file()
    assert len(list((dip / "objects").iterdir())) == 10
    assert len(list((dip / "thumbnails").iterdir())) == 10
    assert len(list((dip / "OCRfiles").iterdir())) == 10


def test_it_writes_jpeg_access_copies_for_images(tmp_path):
    dip = build_dip(SAMPLE_01, tmp_path)
    access_copy = (
        dip / "objects" / f"{BMP_UUID}-799px-Euroleague-LE_Roma_vs_Toulouse_IC-27.jpg"
    )
    content = access_copy.read_bytes()
    assert content[:2] == b"\xff\xd8"
    assert content[-2:] == b"\xff\xd9"


def test_it_writes_pdf_for_documents(tmp_path):
    dip = build_dip(SAMPLE_03, tmp_path)
    [access_copy] = (dip / "objects").iterdir()
    assert access_copy.name == (
        "8806fe35-2dda-40dc-9bb7-10f3997ec647-Ut_scelerisque_nibh_dolor__Etiam_vel_.pdf"
    )
    assert access_copy.read_bytes().startswith(b"%PDF-1.4")


def test_it_prints_the_dip_path(tmp_path, capsys):
    main([str(SAMPLE_10), str(tmp_path)])
    expected = tmp_path / "20200513060703-828c44bb-e631-4137-8638-bda4434218dc"
    assert capsys.readouterr().out == f"{expected}\n"


def test_it_rejects_mets_over_the_size_limit(tmp_path, settings):
    settings.MAX_METS_MB = 1
    dip = build_dip(SAMPLE_01, tmp_path)
    (mets,) = dip.glob("METS.*.xml")
    with open(mets, "a") as f:
        f.write("<!--" + "x" * (1024 * 1024) + "-->")

    with pytest.raises(IngestError) as raised:
        ArchivematicaDIPExtractor(dip).plan()

    assert "over the limit of 1 MB (DEPOSITUM_MAX_METS_MB)" in str(raised.value)


def test_it_names_the_parser_limit_for_deep_nesting(tmp_path):
    dip = build_dip(SAMPLE_10, tmp_path)
    (mets,) = dip.glob("METS.*.xml")
    depth = 300
    mets.write_text(
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/">'
        + "<mets:div>" * depth
        + "</mets:div>" * depth
        + "</mets:mets>"
    )

    with pytest.raises(IngestError) as raised:
        ArchivematicaDIPExtractor(dip).plan()

    assert "beyond the XML parser's safety limits" in str(raised.value)


def test_it_numbers_equal_sibling_labels(tmp_path):
    source = (EDGE / "unknown_level.xml").read_text()
    siblings = (
        '<mets:div LABEL="box"/><mets:div LABEL="box#2"/>'
        '<mets:div LABEL="box"/><mets:div LABEL="box"/>'
    )
    mets_path = tmp_path / "equal_labels.xml"
    mets_path.write_text(
        source.replace('<mets:div TYPE="Series" LABEL="empty series"/>', siblings)
    )

    plan = plan_for(mets_path, tmp_path / "dip")

    keys = [node.key for node in plan.roots[1:]]
    assert keys == ["dir:box", "dir:box#2", "dir:box#3", "dir:box#4"]
