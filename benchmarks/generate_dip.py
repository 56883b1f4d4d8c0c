"""Write a synthetic Archivematica DIP of any size, for benchmarks and tests.

    python benchmarks/generate_dip.py N DEST [--hierarchical] [--seed S]

writes DEST/<name>-<SIP UUID>/ and prints its path. The folder has the layout
that Archivematica gives a DIP:

    METS.<SIP UUID>.xml
    processingMCP.xml
    objects/<file UUID>-<name>.jpg     one access copy per original
    thumbnails/<file UUID>.jpg         one per original
    OCRfiles/<name>-<file UUID>.txt    for every fifth original

The METS follows the AIP METS that Archivematica 1.12 to 1.15 writes:

- a PREMIS intellectual entity dmdSec for the SIP and for each directory, a
  Dublin Core dmdSec for the objects/ directory (the SIP level) and one for
  every tenth original file;
- fileGrps "original", "preservation" (a TIFF for each original that is not
  one already) and "text/ocr";
- one amdSec per file, with a PREMIS 3 object (UUID, sha256 fixity, size,
  format with its PRONOM PUID, originalName), the PREMIS events Archivematica
  records and the three agents. An original has the events ingestion, message
  digest calculation, virus check, format identification and one normalization
  per derivative. A preservation copy has creation, message digest calculation
  and validation;
- the physical structMap, the "Normative Directory Structure" logical
  structMap and, with --hierarchical, a logical structMap labelled
  "Hierarchical" whose div TYPEs are levels of description.

The METS takes about 23 KB per original (measured with --seed 0 and 2,000
originals), which includes the amdSecs of its preservation copy and OCR file.
For comparison, tests/fixtures/mets/05 (Archivematica 1.15, without FITS
output) takes 190 KB for 11 files. So 10,000 originals make a METS of about
230 MB, and 50,000 one of about 1.1 GB, over the default DEPOSITUM_MAX_METS_MB
of 1024.

The originals lie in nested folders, objects/series-NNN/folder-NNN/, with
FILES_PER_FOLDER files in each folder and FOLDERS_PER_SERIES folders in each
series. The METS is written as a stream of strings, without building a tree,
so 50,000 files take seconds. The access copies and thumbnails are hard links
to a few distinct JPEGs of realistic size (about 20 to 100 KB), or copies of
them where a hard link fails. The same seed gives the same UUIDs,
checksums and names.
"""

import argparse
import io
import os
import random
import shutil
import sys
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

from PIL import Image, ImageDraw

FILES_PER_FOLDER = 50
FOLDERS_PER_SERIES = 20
# Every OCR_EVERY-th original has OCR text, every DC_EVERY-th one a DC dmdSec.
OCR_EVERY = 5
DC_EVERY = 10
ACCESS_COPY_VARIANTS = 12
THUMBNAIL_VARIANTS = 4

# (format name, version, PRONOM PUID, extension, typical size in bytes) of the
# originals, in the proportions they are drawn.
ORIGINAL_FORMATS = [
    ("JPEG File Interchange Format", "1.01", "fmt/43", "jpg", 2_500_000),
    ("JPEG File Interchange Format", "1.01", "fmt/43", "jpg", 2_500_000),
    ("Tagged Image File Format", "", "fmt/353", "tif", 24_000_000),
    ("Portable Network Graphics", "1.2", "fmt/13", "png", 6_000_000),
    ("JP2 (JPEG 2000 part 1)", "", "x-fmt/392", "jp2", 9_000_000),
]
PRESERVATION_FORMAT = ("Tagged Image File Format", "", "fmt/353", "tif")

METS_NS = "http://www.loc.gov/METS/"
PREMIS_OPEN = (
    'xmlns:premis="http://www.loc.gov/premis/v3" xsi:schemaLocation='
    '"http://www.loc.gov/premis/v3 http://www.loc.gov/standards/premis/v3/premis.xsd"'
    ' version="3.0"'
)
AGENTS = [
    ("preservation system", "Archivematica-1.15", "Archivematica", "software"),
    ("repository code", "demo", "Demo archive", "organization"),
    (
        "Archivematica user pk",
        "1",
        'username="archivist", first_name="", last_name=""',
        "Archivematica user",
    ),
]
DC_SUBJECTS = ["photographs", "harbours", "streets", "festivals", "portraits"]

PROCESSING_MCP = b"""<?xml version="1.0" encoding="UTF-8"?>
<processingMCP>
  <preconfiguredChoices/>
</processingMCP>
"""


class Original:
    """One original file of the SIP, with the metadata its METS records."""

    def __init__(self, rng, number, folder, started):
        format_name, version, puid, extension, size = rng.choice(ORIGINAL_FORMATS)
        self.number = number
        self.folder = folder
        self.uuid = random_uuid(rng)
        self.name = f"image-{number:06d}.{extension}"
        self.stem = f"image-{number:06d}"
        self.href = f"{folder}/{self.name}"
        self.format = (format_name, version, puid)
        self.size = int(size * rng.uniform(0.4, 1.6))
        self.sha256 = f"{rng.getrandbits(256):064x}"
        self.ingested_at = started + timedelta(milliseconds=number)
        self.has_dc = number % DC_EVERY == 1
        self.has_ocr = number % OCR_EVERY == 2
        self.preservation = None
        if puid != PRESERVATION_FORMAT[2]:
            self.preservation = Derivative(
                rng,
                f"{folder}/{self.stem}-{random_uuid(rng)}.tif",
                self.size * 3,
            )
        self.ocr = None
        if self.has_ocr:
            ocr_href = f"objects/metadata/OCRfiles/{self.name}-{self.uuid}.txt"
            self.ocr = Derivative(rng, ocr_href, 2_000)


class Derivative:
    """A preservation copy or an OCR text file that Archivematica made."""

    def __init__(self, rng, href, size):
        self.uuid = random_uuid(rng)
        self.href = href
        self.size = int(size * rng.uniform(0.8, 1.2))
        self.sha256 = f"{rng.getrandbits(256):064x}"


def random_uuid(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def timestamp(moment):
    return moment.isoformat(timespec="microseconds")


# METS sections ------------------------------------------------------------------


def premis_entity_dmd_sec(dmd_id, entity_uuid, original_name):
    return (
        f'<mets:dmdSec ID="{dmd_id}" STATUS="original" CREATED="2024-05-02T10:00:00">'
        '<mets:mdWrap MDTYPE="PREMIS:OBJECT"><mets:xmlData>'
        f'<premis:object {PREMIS_OPEN} xsi:type="premis:intellectualEntity">'
        "<premis:objectIdentifier>"
        "<premis:objectIdentifierType>UUID</premis:objectIdentifierType>"
        f"<premis:objectIdentifierValue>{entity_uuid}</premis:objectIdentifierValue>"
        "</premis:objectIdentifier>"
        f"<premis:originalName>{escape(original_name)}</premis:originalName>"
        "</premis:object></mets:xmlData></mets:mdWrap></mets:dmdSec>\n"
    )


def dc_dmd_sec(dmd_id, title, date, description, subjects, identifier):
    subject_elements = "".join(
        f"<dc:subject>{escape(subject)}</dc:subject>" for subject in subjects
    )
    return (
        f'<mets:dmdSec ID="{dmd_id}" STATUS="original" CREATED="2024-05-02T10:00:00">'
        '<mets:mdWrap MDTYPE="DC"><mets:xmlData>'
        '<dcterms:dublincore xmlns:dcterms="http://purl.org/dc/terms/"'
        ' xmlns:dc="http://purl.org/dc/elements/1.1/"'
        ' xsi:schemaLocation="http://purl.org/dc/terms/'
        ' https://dublincore.org/schemas/xmls/qdc/2008/02/11/dcterms.xsd">'
        f"<dc:title>{escape(title)}</dc:title>"
        "<dc:creator>Harbour Photo Studio</dc:creator>"
        f"{subject_elements}"
        f"<dc:description>{escape(description)}</dc:description>"
        "<dc:publisher>Demo archive</dc:publisher>"
        f"<dc:date>{date}</dc:date>"
        "<dc:type>Still image</dc:type>"
        f"<dc:identifier>{escape(identifier)}</dc:identifier>"
        "<dc:language>en</dc:language>"
        "<dc:rights>Public domain</dc:rights>"
        "</dcterms:dublincore></mets:xmlData></mets:mdWrap></mets:dmdSec>\n"
    )


def premis_file_object(object_uuid, sha256, size, file_format, original_name):
    format_name, version, puid = file_format
    return (
        '<mets:mdWrap MDTYPE="PREMIS:OBJECT"><mets:xmlData>'
        f'<premis:object {PREMIS_OPEN} xsi:type="premis:file">'
        "<premis:objectIdentifier>"
        "<premis:objectIdentifierType>UUID</premis:objectIdentifierType>"
        f"<premis:objectIdentifierValue>{object_uuid}</premis:objectIdentifierValue>"
        "</premis:objectIdentifier>"
        "<premis:objectCharacteristics>"
        "<premis:compositionLevel>0</premis:compositionLevel>"
        "<premis:fixity>"
        "<premis:messageDigestAlgorithm>sha256</premis:messageDigestAlgorithm>"
        f"<premis:messageDigest>{sha256}</premis:messageDigest>"
        "</premis:fixity>"
        f"<premis:size>{size}</premis:size>"
        "<premis:format><premis:formatDesignation>"
        f"<premis:formatName>{escape(format_name)}</premis:formatName>"
        f"<premis:formatVersion>{escape(version)}</premis:formatVersion>"
        "</premis:formatDesignation><premis:formatRegistry>"
        "<premis:formatRegistryName>PRONOM</premis:formatRegistryName>"
        f"<premis:formatRegistryKey>{puid}</premis:formatRegistryKey>"
        "</premis:formatRegistry></premis:format>"
        "<premis:creatingApplication>"
        "<premis:dateCreatedByApplication>2024-04-30T08:12:00Z"
        "</premis:dateCreatedByApplication>"
        "</premis:creatingApplication>"
        "</premis:objectCharacteristics>"
        f"<premis:originalName>{escape(original_name)}</premis:originalName>"
        "</premis:object></mets:xmlData></mets:mdWrap>"
    )


def premis_event(digiprov_id, event_uuid, event_type, moment, detail, outcome, note):
    agents = "".join(
        "<premis:linkingAgentIdentifier>"
        f"<premis:linkingAgentIdentifierType>{escape(kind)}"
        "</premis:linkingAgentIdentifierType>"
        f"<premis:linkingAgentIdentifierValue>{escape(value)}"
        "</premis:linkingAgentIdentifierValue>"
        "</premis:linkingAgentIdentifier>"
        for kind, value, _, _ in AGENTS
    )
    return (
        f'<mets:digiprovMD ID="{digiprov_id}">'
        '<mets:mdWrap MDTYPE="PREMIS:EVENT"><mets:xmlData>'
        f"<premis:event {PREMIS_OPEN}>"
        "<premis:eventIdentifier>"
        "<premis:eventIdentifierType>UUID</premis:eventIdentifierType>"
        f"<premis:eventIdentifierValue>{event_uuid}</premis:eventIdentifierValue>"
        "</premis:eventIdentifier>"
        f"<premis:eventType>{event_type}</premis:eventType>"
        f"<premis:eventDateTime>{timestamp(moment)}</premis:eventDateTime>"
        "<premis:eventDetailInformation>"
        f"<premis:eventDetail>{escape(detail)}</premis:eventDetail>"
        "</premis:eventDetailInformation>"
        "<premis:eventOutcomeInformation>"
        f"<premis:eventOutcome>{escape(outcome)}</premis:eventOutcome>"
        "<premis:eventOutcomeDetail>"
        f"<premis:eventOutcomeDetailNote>{escape(note)}"
        "</premis:eventOutcomeDetailNote>"
        "</premis:eventOutcomeDetail></premis:eventOutcomeInformation>"
        f"{agents}</premis:event></mets:xmlData></mets:mdWrap></mets:digiprovMD>"
    )


def premis_agents(first_id):
    sections = []
    for offset, (kind, value, name, agent_type) in enumerate(AGENTS):
        sections.append(
            f'<mets:digiprovMD ID="digiprovMD_{first_id + offset}">'
            '<mets:mdWrap MDTYPE="PREMIS:AGENT"><mets:xmlData>'
            f"<premis:agent {PREMIS_OPEN}>"
            "<premis:agentIdentifier>"
            f"<premis:agentIdentifierType>{escape(kind)}</premis:agentIdentifierType>"
            f"<premis:agentIdentifierValue>{escape(value)}"
            "</premis:agentIdentifierValue>"
            "</premis:agentIdentifier>"
            f"<premis:agentName>{escape(name)}</premis:agentName>"
            f"<premis:agentType>{escape(agent_type)}</premis:agentType>"
            "</premis:agent></mets:xmlData></mets:mdWrap></mets:digiprovMD>"
        )
    return "".join(sections)


class AmdSecWriter:
    """Writer of amdSecs that numbers them, their techMDs and their digiprovMDs
    as Archivematica does."""

    def __init__(self, rng, output):
        self.rng = rng
        self.output = output
        self.amd_count = 0
        self.tech_count = 0
        self.digiprov_count = 0

    def write(self, object_xml, events):
        """Write one amdSec and return its ID.

        `events` is a list of (event type, datetime, detail, outcome, note).
        """
        self.amd_count += 1
        self.tech_count += 1
        amd_id = f"amdSec_{self.amd_count}"
        parts = [
            f'<mets:amdSec ID="{amd_id}">',
            f'<mets:techMD ID="techMD_{self.tech_count}">{object_xml}</mets:techMD>',
        ]
        for event_type, moment, detail, outcome, note in events:
            self.digiprov_count += 1
            parts.append(
                premis_event(
                    f"digiprovMD_{self.digiprov_count}",
                    random_uuid(self.rng),
                    event_type,
                    moment,
                    detail,
                    outcome,
                    note,
                )
            )
        parts.append(premis_agents(self.digiprov_count + 1))
        self.digiprov_count += len(AGENTS)
        parts.append("</mets:amdSec>\n")
        self.output.write("".join(parts))
        return amd_id


def original_events(original):
    moment = original.ingested_at
    events = [
        ("ingestion", moment, "", "", ""),
        (
            "message digest calculation",
            moment + timedelta(seconds=2),
            'program="python"; module="hashlib.sha256()"',
            "",
            original.sha256,
        ),
        (
            "virus check",
            moment + timedelta(seconds=5),
            'program="ClamAV (clamd)"; version="0.103.9"; virusDefinitions="26899"',
            "Pass",
            "",
        ),
        (
            "format identification",
            moment + timedelta(seconds=9),
            'program="Siegfried"; version="1.9.6"',
            "Positive",
            original.format[2],
        ),
    ]
    # Archivematica records one normalization per derivative: for access (the
    # DIP's access copy) and, for a format other than TIFF, for preservation.
    normalized = [f"%SIPDirectory%DIP/objects/{original.uuid}-{original.stem}.jpg"]
    if original.preservation is not None:
        normalized.append(f"%SIPDirectory%{original.preservation.href}")
    for note in normalized:
        events.append(
            (
                "normalization",
                moment + timedelta(seconds=40),
                "ArchivematicaFPR_normalization",
                "",
                note,
            )
        )
    return events


def derivative_events(derivative, moment, validation):
    events = [
        ("creation", moment, "", "", ""),
        (
            "message digest calculation",
            moment + timedelta(seconds=1),
            'program="python"; module="hashlib.sha256()"',
            "",
            derivative.sha256,
        ),
    ]
    if validation:
        events.append(
            (
                "validation",
                moment + timedelta(seconds=3),
                'program="JHOVE"; version="1.26"',
                "pass",
                'format="TIFF"; version="6.0"; result="Well-Formed and valid"',
            )
        )
    return events


# The METS file ------------------------------------------------------------------


class METSPlan:
    """The SIP's folders and originals, drawn from one random generator."""

    def __init__(self, count, seed, name):
        self.rng = random.Random(seed)
        self.sip_uuid = random_uuid(self.rng)
        self.name = name
        self.started = datetime(2024, 5, 2, 9, 0, tzinfo=UTC)
        self.folders = {}  # {folder href: [Original, ...]} in order
        self.series = {}  # {series href: [folder href, ...]} in order
        self.entity_uuids = {}  # {directory href: PREMIS intellectual entity UUID}
        self.originals = []
        for index in range(count):
            folder_number = index // FILES_PER_FOLDER
            series_number = folder_number // FOLDERS_PER_SERIES
            series = f"objects/series-{series_number + 1:03d}"
            folder = f"{series}/folder-{folder_number + 1:03d}"
            if series not in self.series:
                self.series[series] = []
                self.entity_uuids[series] = random_uuid(self.rng)
            if folder not in self.folders:
                self.series[series].append(folder)
                self.folders[folder] = []
                self.entity_uuids[folder] = random_uuid(self.rng)
            original = Original(self.rng, index + 1, folder, self.started)
            self.folders[folder].append(original)
            self.originals.append(original)

    @property
    def label(self):
        return f"{self.name}-{self.sip_uuid}"


def write_mets(plan, path, hierarchical):
    """Write the METS of `plan` to `path`."""
    with open(path, "w", encoding="utf-8", buffering=1024 * 1024) as output:
        output.write(
            "<?xml version='1.0' encoding='UTF-8'?>\n"
            f'<mets:mets xmlns:mets="{METS_NS}"'
            ' xmlns:xlink="http://www.w3.org/1999/xlink"'
            ' xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"'
            ' xsi:schemaLocation="http://www.loc.gov/METS/'
            ' http://www.loc.gov/standards/mets/version1121/mets.xsd">\n'
            f'<mets:metsHdr CREATEDATE="{plan.started:%Y-%m-%dT%H:%M:%S}"/>\n'
        )
        dmd_ids = write_dmd_secs(plan, output)
        amd_ids = write_amd_secs(plan, output)
        write_file_sec(plan, output, amd_ids)
        write_directory_struct_map(plan, output, dmd_ids, physical=True)
        write_directory_struct_map(plan, output, dmd_ids, physical=False)
        if hierarchical:
            write_hierarchical_struct_map(plan, output, dmd_ids)
        output.write("</mets:mets>\n")


def write_dmd_secs(plan, output):
    """Write the dmdSecs and return {key: DMDID} for the structMaps.

    The keys are "sip", "objects", a directory href or an original's UUID.
    """
    dmd_ids = {"sip": "dmdSec_1", "objects": "dmdSec_2"}
    output.write(premis_entity_dmd_sec("dmdSec_1", plan.sip_uuid, plan.label))
    output.write(
        dc_dmd_sec(
            "dmdSec_2",
            f"{plan.name}: photographs of the harbour district",
            "1950/1979",
            f"Photographs and negatives of the harbour district, {len(plan.originals)}"
            " items, digitized in 2024.",
            DC_SUBJECTS[:3],
            f"PH-{plan.sip_uuid[:8]}",
        )
    )
    number = 2
    for href, entity_uuid in plan.entity_uuids.items():
        number += 1
        dmd_ids[href] = f"dmdSec_{number}"
        original_name = f"%SIPDirectory%{href}/"
        output.write(premis_entity_dmd_sec(dmd_ids[href], entity_uuid, original_name))
    for original in plan.originals:
        if not original.has_dc:
            continue
        number += 1
        dmd_ids[original.uuid] = f"dmdSec_{number}"
        year = 1950 + original.number % 30
        output.write(
            dc_dmd_sec(
                dmd_ids[original.uuid],
                f"Harbour view {original.number}",
                f"{year}-{original.number % 12 + 1:02d}-{original.number % 28 + 1:02d}",
                f"Print number {original.number}, {original.folder}.",
                [DC_SUBJECTS[original.number % len(DC_SUBJECTS)]],
                f"PH-{original.number:06d}",
            )
        )
    return dmd_ids


def write_amd_secs(plan, output):
    """Write one amdSec per file and return {file UUID: ADMID}."""
    writer = AmdSecWriter(plan.rng, output)
    amd_ids = {}
    for original in plan.originals:
        object_xml = premis_file_object(
            original.uuid,
            original.sha256,
            original.size,
            original.format,
            f"%transferDirectory%{original.href}",
        )
        amd_ids[original.uuid] = writer.write(object_xml, original_events(original))

        normalized_at = original.ingested_at + timedelta(seconds=40)
        for derivative, file_format, validation in (
            (original.preservation, PRESERVATION_FORMAT[:3], True),
            (original.ocr, ("Plain Text File", "", "x-fmt/111"), False),
        ):
            if derivative is None:
                continue
            object_xml = premis_file_object(
                derivative.uuid,
                derivative.sha256,
                derivative.size,
                file_format,
                f"%SIPDirectory%{derivative.href}",
            )
            events = derivative_events(derivative, normalized_at, validation)
            amd_ids[derivative.uuid] = writer.write(object_xml, events)
    return amd_ids


def file_entry(file_uuid, group_uuid, amd_id, href):
    return (
        f'<mets:file ID="file-{file_uuid}" GROUPID="Group-{group_uuid}"'
        f' ADMID="{amd_id}"><mets:FLocat xlink:href={quoteattr(href)}'
        ' LOCTYPE="OTHER" OTHERLOCTYPE="SYSTEM"/></mets:file>\n'
    )


def write_file_sec(plan, output, amd_ids):
    output.write('<mets:fileSec>\n<mets:fileGrp USE="original">\n')
    for original in plan.originals:
        output.write(
            file_entry(
                original.uuid, original.uuid, amd_ids[original.uuid], original.href
            )
        )
    output.write('</mets:fileGrp>\n<mets:fileGrp USE="preservation">\n')
    for original in plan.originals:
        copy = original.preservation
        if copy is not None:
            output.write(
                file_entry(copy.uuid, original.uuid, amd_ids[copy.uuid], copy.href)
            )
    output.write('</mets:fileGrp>\n<mets:fileGrp USE="text/ocr">\n')
    for original in plan.originals:
        ocr = original.ocr
        if ocr is not None:
            output.write(
                file_entry(ocr.uuid, original.uuid, amd_ids[ocr.uuid], ocr.href)
            )
    output.write("</mets:fileGrp>\n</mets:fileSec>\n")


def div_open(label, div_type, dmd_id=None):
    dmd = f' DMDID="{dmd_id}"' if dmd_id else ""
    return f"<mets:div TYPE={quoteattr(div_type)} LABEL={quoteattr(label)}{dmd}>"


def write_directory_struct_map(plan, output, dmd_ids, physical):
    """Write a structMap of the directory tree.

    With `physical`, it is the physical structMap, whose Items point to their
    files and which lists the preservation copies. Otherwise it is the
    "Normative Directory Structure" logical structMap, with the originals only
    and no file pointers.
    """
    if physical:
        header = 'TYPE="physical" ID="structMap_1" LABEL="Archivematica default"'
    else:
        header = 'TYPE="logical" ID="structMap_2" LABEL="Normative Directory Structure"'
    output.write(
        f"<mets:structMap {header}>\n"
        + div_open(plan.label, "Directory", dmd_ids["sip"])
        + div_open("objects", "Directory", dmd_ids["objects"])
        + "\n"
    )
    for series, folders in plan.series.items():
        output.write(div_open(series.rsplit("/", 1)[1], "Directory", dmd_ids[series]))
        for folder in folders:
            output.write(
                div_open(folder.rsplit("/", 1)[1], "Directory", dmd_ids[folder]) + "\n"
            )
            for original in plan.folders[folder]:
                output.write(
                    div_open(original.name, "Item", dmd_ids.get(original.uuid))
                )
                if physical:
                    output.write(f'<mets:fptr FILEID="file-{original.uuid}"/>')
                output.write("</mets:div>\n")
                copy = original.preservation
                if physical and copy is not None:
                    output.write(
                        div_open(copy.href.rsplit("/", 1)[1], "Item")
                        + f'<mets:fptr FILEID="file-{copy.uuid}"/></mets:div>\n'
                    )
            output.write("</mets:div>\n")
        output.write("</mets:div>\n")
    output.write(ocr_directory_divs(plan, with_pointers=physical))
    output.write("</mets:div></mets:div></mets:structMap>\n")


def ocr_directory_divs(plan, with_pointers):
    """Return the divs of objects/metadata/OCRfiles/ and its text files."""
    items = []
    for original in plan.originals:
        if original.ocr is None:
            continue
        pointer = (
            f'<mets:fptr FILEID="file-{original.ocr.uuid}"/>' if with_pointers else ""
        )
        items.append(
            div_open(original.ocr.href.rsplit("/", 1)[1], "Item")
            + pointer
            + "</mets:div>\n"
        )
    if not items:
        return ""
    return (
        div_open("metadata", "Directory")
        + div_open("OCRfiles", "Directory")
        + "\n"
        + "".join(items)
        + "</mets:div></mets:div>\n"
    )


def write_hierarchical_struct_map(plan, output, dmd_ids):
    """Write the "Hierarchical" structMap of an arrangement.

    Its div TYPEs are levels of description, as Archivematica writes them: the
    objects/ div is a Series, each series folder a Sub-series, each folder a
    File and each original an Item.
    """
    output.write(
        '<mets:structMap TYPE="logical" ID="structMap_3" LABEL="Hierarchical">\n'
        f'<mets:div LABEL={quoteattr(plan.label)} DMDID="{dmd_ids["sip"]}">'
        + div_open("objects", "Series", dmd_ids["objects"])
        + "\n"
    )
    for series, folders in plan.series.items():
        output.write(div_open(series.rsplit("/", 1)[1], "Sub-series", dmd_ids[series]))
        for folder in folders:
            output.write(
                div_open(folder.rsplit("/", 1)[1], "File", dmd_ids[folder]) + "\n"
            )
            for original in plan.folders[folder]:
                output.write(
                    div_open(original.name, "Item", dmd_ids.get(original.uuid))
                    + f'<mets:fptr FILEID="file-{original.uuid}"/></mets:div>\n'
                )
            output.write("</mets:div>\n")
        output.write("</mets:div>\n")
    output.write("</mets:div></mets:div></mets:structMap>\n")


# The DIP folder -----------------------------------------------------------------


def jpeg_bytes(rng, size, label, quality):
    """Return the bytes of a placeholder JPEG for a photograph.

    The image is noise blended with a gradient, with a frame and a label.
    """
    width, height = size
    image = Image.effect_noise(size, rng.uniform(30, 70)).convert("RGB")
    tint = Image.linear_gradient("L").resize(size).convert("RGB")
    image = Image.blend(image, tint, 0.5)
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, width - 5, height - 5), outline=(30, 30, 30), width=3)
    draw.text((12, height // 2), label, fill=(255, 255, 255))
    output = io.BytesIO()
    image.save(output, "JPEG", quality=quality)
    return output.getvalue()


def write_image_pool(rng, folder):
    """Write the distinct access copies and thumbnails that the DIP links to."""
    folder.mkdir(parents=True)
    access_copies, thumbnails = [], []
    for index in range(ACCESS_COPY_VARIANTS):
        size = (rng.randrange(320, 640), rng.randrange(240, 480))
        path = folder / f"access-{index}.jpg"
        path.write_bytes(jpeg_bytes(rng, size, f"access copy {index}", 80))
        access_copies.append(path)
    for index in range(THUMBNAIL_VARIANTS):
        path = folder / f"thumbnail-{index}.jpg"
        path.write_bytes(jpeg_bytes(rng, (100, 75), f"{index}", 70))
        thumbnails.append(path)
    return access_copies, thumbnails


def link_or_copy(source, destination):
    try:
        os.link(source, destination)
    except OSError:
        shutil.copyfile(source, destination)


def generate_dip(count, dest, *, hierarchical=False, seed=0, name="harbour-photos"):
    """Write a DIP of `count` original files under `dest` and return its path."""
    if count < 1:
        raise ValueError(f"Invalid count {count}: a DIP needs at least 1 original.")
    plan = METSPlan(count, seed, name)
    dip = Path(dest) / plan.label
    for folder in ("objects", "thumbnails", "OCRfiles"):
        (dip / folder).mkdir(parents=True)
    (dip / "processingMCP.xml").write_bytes(PROCESSING_MCP)
    write_mets(plan, dip / f"METS.{plan.sip_uuid}.xml", hierarchical)

    # The pool lies beside the DIP, so that the links stay on one file system
    # and a deposit of the DIP folder does not carry it along.
    pool = Path(dest) / f".images-{plan.sip_uuid}"
    access_copies, thumbnails = write_image_pool(plan.rng, pool)
    for original in plan.originals:
        access_copy = access_copies[original.number % len(access_copies)]
        thumbnail = thumbnails[original.number % len(thumbnails)]
        link_or_copy(
            access_copy, dip / "objects" / f"{original.uuid}-{original.stem}.jpg"
        )
        link_or_copy(thumbnail, dip / "thumbnails" / f"{original.uuid}.jpg")
        if original.has_ocr:
            (dip / "OCRfiles" / f"{original.name}-{original.uuid}.txt").write_text(
                f"HARBOUR VIEW {original.number}\nPrint from {original.folder}.\n",
                "utf-8",
            )
    shutil.rmtree(pool)
    return dip


def main(argv=None):
    parser = argparse.ArgumentParser(
        description="Write a synthetic Archivematica DIP with N original files"
        " under DEST and print the DIP folder's path."
    )
    parser.add_argument("count", type=int, metavar="N", help="number of original files")
    parser.add_argument(
        "dest", type=Path, metavar="DEST", help="folder to write the DIP into"
    )
    parser.add_argument(
        "--hierarchical",
        action="store_true",
        help='add a logical structMap labelled "Hierarchical" (an arrangement)',
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="random seed of the UUIDs, checksums, formats and sizes (default: 0)",
    )
    parser.add_argument(
        "--name", default="harbour-photos", help="SIP name (default: harbour-photos)"
    )
    args = parser.parse_args(argv)
    if args.count < 1:
        parser.error(f"invalid N {args.count}: it must be at least 1")
    dip = generate_dip(
        args.count,
        args.dest,
        hierarchical=args.hierarchical,
        seed=args.seed,
        name=args.name,
    )
    print(dip)
    return 0


if __name__ == "__main__":
    sys.exit(main())
