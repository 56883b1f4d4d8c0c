"""Tests of the streaming METS reader: same plans as before, bounded memory.

tests/fixtures/plans holds, for each METS in tests/fixtures/mets and its edge/
folder, the plan that the earlier reader made of a DIP built around it by
tests.dips. That reader parsed the whole METS into one lxml tree and ran the
same queries on it. Regenerate the files only on purpose, when a plan is meant
to change:

    python -m tests.test_mets_streaming
"""

import json
import subprocess
import sys
import textwrap
from datetime import date, datetime
from pathlib import Path

import pytest
from lxml import etree

from depositum.ingest import mets
from depositum.ingest.archivematica import ArchivematicaDIPExtractor
from depositum.ingest.plan import IngestError
from tests.dips import build_dip

FIXTURES = Path(__file__).parent / "fixtures"
REAL_METS_FILES = sorted((FIXTURES / "mets").glob("*.xml"))
# tests.dips cannot build a DIP around malformed.xml, which test_extractor.py
# covers.
EDGE_METS_FILES = [
    path
    for path in sorted((FIXTURES / "mets" / "edge").glob("*.xml"))
    if path.name != "malformed.xml"
]
METS_FILES = REAL_METS_FILES + EDGE_METS_FILES
PLANS = FIXTURES / "plans"
FILE_FIELDS = [
    "object_uuid",
    "relative_path",
    "original_name",
    "original_size",
    "ingested_at",
    "preservation_copy_name",
    "preservation_copy_size",
    "preservation_copy_normalized_at",
    "format_puid",
    "format_name",
    "format_version",
    "mime_type",
    "checksum",
    "checksum_type",
    "ocr_text",
]
EVENT_FIELDS = [
    "event_type",
    "event_datetime",
    "event_identifier",
    "event_detail",
    "event_outcome",
    "event_outcome_detail",
]


def jsonable(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return [jsonable(item) for item in value]
    return value


def node_record(node, dip):
    """Return a JSON-ready dict of a plan Node, with paths relative to `dip`."""
    record = {
        "key": node.key,
        "title": node.title,
        "level_of_description": node.level_of_description,
        "fields": {name: jsonable(value) for name, value in node.fields.items()},
        "access_copy": str(node.access_copy.relative_to(dip))
        if node.access_copy
        else None,
        "thumbnail": str(node.thumbnail.relative_to(dip)) if node.thumbnail else None,
        "children": [node_record(child, dip) for child in node.children],
    }
    if node.file is not None:
        record["file"] = {
            name: jsonable(getattr(node.file, name)) for name in FILE_FIELDS
        }
        record["file"]["events"] = [
            {name: jsonable(getattr(event, name)) for name in EVENT_FIELDS}
            for event in node.file.events
        ]
    return record


def plan_record(mets_path, work_dir):
    """Build a DIP around `mets_path`, plan it, and return the plan as a dict."""
    dip = build_dip(mets_path, work_dir).absolute()
    try:
        plan = ArchivematicaDIPExtractor(dip).plan()
    except IngestError as error:
        return {"error": str(error)}
    return {
        "aip_uuid": plan.aip_uuid,
        "aip_name": plan.aip_name,
        "warnings": plan.warnings,
        "roots": [node_record(node, dip) for node in plan.roots],
    }


def recorded_plan_path(mets_path):
    folder = "edge-" if mets_path.parent.name == "edge" else ""
    return PLANS / f"{folder}{mets_path.stem}.json"


@pytest.mark.parametrize("mets_path", METS_FILES, ids=lambda path: path.stem)
def test_plan_equals_recorded_plan(mets_path, tmp_path):
    expected = json.loads(recorded_plan_path(mets_path).read_text())

    assert plan_record(mets_path, tmp_path) == expected


class WholeTreeDocument:
    """The records of a METS read from one tree parsed whole, as the earlier
    reader did, to compare with the streaming reader's."""

    def __init__(self, path):
        parser = etree.XMLParser(**mets.PARSER_OPTIONS)
        root = etree.parse(str(path), parser).getroot()
        sections = list(root.iterchildren(etree.Element))
        self.dmd_sections = {
            section.get("ID"): mets.read_dmd_section(section)
            for section in sections
            if section.tag == mets.DMD_SEC
        }
        self.amd_sections = {
            section.get("ID"): mets.read_amd_section(section)
            for section in sections
            if section.tag == mets.AMD_SEC
        }
        (file_sec,) = [section for section in sections if section.tag == mets.FILE_SEC]
        self.files = {}
        for group in file_sec.iter(mets.FILE_GRP):
            for element in group.iterfind("mets:file", mets.NAMESPACES):
                location = element.find("mets:FLocat", mets.NAMESPACES)
                self.files[element.get("ID")] = mets.METSFile(
                    file_id=element.get("ID", ""),
                    use=group.get("USE", ""),
                    group_id=element.get("GROUPID", ""),
                    href=location.get(mets.XLINK_HREF, "")
                    if location is not None
                    else "",
                    amd_ids=(element.get("ADMID") or "").split(),
                    dmd_ids=(element.get("DMDID") or "").split(),
                )

        struct_maps = [s for s in sections if s.tag == mets.STRUCT_MAP]
        self.struct_map_count = len(struct_maps)
        hierarchical = [
            s
            for s in struct_maps
            if (s.get("TYPE") or "").lower() == "logical"
            and s.get("LABEL") == "Hierarchical"
        ]
        self.has_hierarchical_map = bool(hierarchical)
        self.hierarchical_map = None
        if hierarchical:
            first_div = hierarchical[0].find("mets:div", mets.NAMESPACES)
            if first_div is not None:
                self.hierarchical_map = division(first_div)

        physical = [
            s for s in struct_maps if (s.get("TYPE") or "").lower() == "physical"
        ]
        self.physical_dmd_ids = {}
        self.objects_dmd_ids = None
        if physical:
            for pointer in physical[0].iter(mets.FPTR):
                dmd_ids = (pointer.getparent().get("DMDID") or "").split()
                self.physical_dmd_ids.setdefault(pointer.get("FILEID"), []).extend(
                    dmd_ids
                )
            for div in physical[0].iterfind("mets:div/mets:div", mets.NAMESPACES):
                if div.get("LABEL") == "objects":
                    self.objects_dmd_ids = (div.get("DMDID") or "").split()
                    break

        # The streaming reader drops the same unused records once it has read
        # the fileSec.
        mets.METSDocument.drop_unused_records(self)


def division(div):
    return mets.Division(
        label=div.get("LABEL"),
        type=div.get("TYPE"),
        dmd_ids=(div.get("DMDID") or "").split(),
        file_ids=[p.get("FILEID") for p in div.iterfind("mets:fptr", mets.NAMESPACES)],
        children=[division(c) for c in div.iterfind("mets:div", mets.NAMESPACES)],
    )


STREAMED_METS_FILES = REAL_METS_FILES + [
    path for path in EDGE_METS_FILES if path.stem not in ("no_filesec", "no_structmap")
]


@pytest.mark.parametrize("mets_path", STREAMED_METS_FILES, ids=lambda path: path.stem)
def test_streaming_equals_whole_tree(mets_path):
    streamed = mets.METSDocument(mets_path)
    whole = WholeTreeDocument(mets_path)

    assert streamed.dmd_sections == whole.dmd_sections
    assert streamed.amd_sections == whole.amd_sections
    assert list(streamed.files.items()) == list(whole.files.items())
    assert streamed.struct_map_count == whole.struct_map_count
    assert streamed.has_hierarchical_map == whole.has_hierarchical_map
    assert streamed.hierarchical_map == whole.hierarchical_map
    assert streamed.physical_dmd_ids == whole.physical_dmd_ids
    assert streamed.objects_dmd_ids == whole.objects_dmd_ids


def test_streaming_keeps_nested_file_groups_in_order(tmp_path):
    path = tmp_path / "METS.xml"
    path.write_text(
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/">'
        '<mets:fileSec><mets:fileGrp USE="outer">'
        '<mets:file ID="a1"/>'
        '<mets:fileGrp USE="inner"><mets:file ID="b1"/></mets:fileGrp>'
        '<mets:file ID="a2"><mets:file ID="nested"/></mets:file>'
        "</mets:fileGrp></mets:fileSec>"
        '<mets:structMap TYPE="physical"/>'
        "</mets:mets>"
    )

    streamed = mets.METSDocument(path)

    assert list(streamed.files) == ["a1", "a2", "b1"]
    assert list(streamed.files.items()) == list(WholeTreeDocument(path).files.items())


def test_streaming_builds_the_hierarchy_bottom_up(tmp_path):
    path = tmp_path / "METS.xml"
    path.write_text(
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/">'
        '<mets:fileSec><mets:fileGrp USE="original"/></mets:fileSec>'
        '<mets:structMap TYPE="logical" LABEL="Hierarchical">'
        '<mets:div LABEL="sip"><mets:div LABEL="a" TYPE="Series">'
        '<mets:div LABEL="a1"><mets:fptr FILEID="f1"/></mets:div>'
        '<mets:div LABEL="a2"/></mets:div>'
        '<mets:div LABEL="b"><mets:fptr FILEID="f2"/><mets:fptr FILEID="f3"/>'
        "</mets:div></mets:div>"
        '<mets:div LABEL="second root"/>'
        "</mets:structMap>"
        "</mets:mets>"
    )

    streamed = mets.METSDocument(path)

    assert streamed.hierarchical_map == WholeTreeDocument(path).hierarchical_map
    assert [child.label for child in streamed.hierarchical_map.children] == ["a", "b"]
    assert streamed.hierarchical_map.children[1].file_ids == ["f2", "f3"]


def test_sections_are_removed_once_read():
    earlier_counts = []
    for element, section in mets.iterate_elements(REAL_METS_FILES[0]):
        if element is not section:
            continue
        earlier = list(section.itersiblings(preceding=True))
        earlier_counts.append(len(earlier))
        # The section read before this one is still there, but empty.
        assert all(len(element) == 0 for element in earlier)

    assert len(earlier_counts) > 10
    assert max(earlier_counts) == 1


def test_nested_sections_are_not_top_level(tmp_path):
    path = tmp_path / "METS.xml"
    path.write_text(
        '<mets:mets xmlns:mets="http://www.loc.gov/METS/">'
        '<mets:metsHdr><mets:amdSec ID="inner"/></mets:metsHdr>'
        '<mets:amdSec ID="outer"/>'
        "</mets:mets>"
    )

    sections = [
        element.get("ID")
        for element, section in mets.iterate_elements(path)
        if element is section
    ]

    assert sections == ["outer"]


def test_wrong_root_is_rejected_after_parsing(tmp_path):
    path = tmp_path / "METS.xml"
    path.write_text(
        '<other xmlns:mets="http://www.loc.gov/METS/"><mets:amdSec ID="a"/></other>'
    )

    with pytest.raises(IngestError, match=r"not a METS document: its root element"):
        list(mets.iterate_elements(path))


def test_empty_mets_is_rejected(tmp_path):
    path = tmp_path / "METS.xml"
    path.write_bytes(b"")

    with pytest.raises(IngestError, match=r"METS\.xml is empty"):
        list(mets.iterate_elements(path))


# The earlier reader raised the RSS by about 4.5 times the METS size. The bound
# below leaves the streaming reader ample room and still fails on that.
MEMORY_PROBE = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "depositum.settings")
    import django

    django.setup()
    from depositum.ingest.archivematica import ArchivematicaDIPExtractor

    def status(name):
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith(name + ":"):
                return int(line.split()[1]) * 1024

    extractor = ArchivematicaDIPExtractor(Path(sys.argv[1]))
    before = status("VmRSS")
    plan = extractor.plan()
    print(status("VmHWM") - before, sum(1 for _ in plan.nodes()))
    """
)


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs Linux /proc")
def test_plan_memory_is_far_below_mets_size(tmp_path):
    from benchmarks.generate_dip import generate_dip

    dip = generate_dip(2000, tmp_path / "dips")
    (mets_path,) = dip.glob("METS.*.xml")
    mets_size = mets_path.stat().st_size

    probe = subprocess.run(
        [sys.executable, "-c", MEMORY_PROBE, str(dip)],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    growth, nodes = (int(value) for value in probe.stdout.split())

    assert nodes == 2001
    assert growth < mets_size / 2, (
        f"planning a {mets_size / 2**20:.0f} MB METS raised the peak RSS by "
        f"{growth / 2**20:.0f} MB"
    )


def main():
    """Write the recorded plan of every METS fixture into tests/fixtures/plans."""
    import os
    import tempfile

    import django

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "depositum.settings")
    django.setup()
    PLANS.mkdir(exist_ok=True)
    for mets_path in METS_FILES:
        with tempfile.TemporaryDirectory() as work_dir:
            record = plan_record(mets_path, Path(work_dir))
        text = json.dumps(record, indent=1, ensure_ascii=False, sort_keys=True)
        recorded_plan_path(mets_path).write_text(text + "\n")
        print(recorded_plan_path(mets_path))


if __name__ == "__main__":
    main()


@pytest.mark.parametrize(
    ("size", "expected"), [("2048", 2048), ("²", None), ("", None)]
)
def test_premis_object_size_only_decimal(size, expected):
    element = etree.fromstring(
        '<premis:object xmlns:premis="http://www.loc.gov/premis/v3">'
        "<premis:objectCharacteristics>"
        f"<premis:size>{size}</premis:size>"
        "</premis:objectCharacteristics>"
        "</premis:object>"
    )

    assert mets.read_premis_object(element).size == expected
