"""Read the METS of an Archivematica AIP as a stream of small records.

The METS is parsed with lxml's iterparse. Each top-level dmdSec, amdSec, fileSec
and structMap is turned into plain records as soon as its end tag is parsed, and
is then removed from the tree. So the parse tree contains one section at a time,
and memory grows with the records that a plan needs, not with the size of the
file. An object's FITS output, which is most of a real METS, is read and dropped.
Every index is a dict, so each lookup by ID takes constant time on average.

NOTE: the records still grow with the number of files. For the DIPs that
benchmarks/generate_dip.py writes, planning took about 8 kB of RSS per file.
"""

import re
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from functools import cache
from sys import intern

from django.conf import settings
from lxml import etree

from depositum.ingest.dc import dublin_core_fields
from depositum.ingest.plan import Event, IngestError

METS_NS = "http://www.loc.gov/METS/"
PREMIS_NAMESPACES = ("http://www.loc.gov/premis/v3", "info:lc/xmlns/premis-v2")
NAMESPACES = {
    "mets": METS_NS,
    "xlink": "http://www.w3.org/1999/xlink",
    "fits": "http://hul.harvard.edu/ois/xml/ns/fits/fits_output",
}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"

DMD_SEC = f"{{{METS_NS}}}dmdSec"
AMD_SEC = f"{{{METS_NS}}}amdSec"
FILE_SEC = f"{{{METS_NS}}}fileSec"
STRUCT_MAP = f"{{{METS_NS}}}structMap"
SECTION_TAGS = (DMD_SEC, AMD_SEC, FILE_SEC, STRUCT_MAP)
FILE_GRP = f"{{{METS_NS}}}fileGrp"
FILE = f"{{{METS_NS}}}file"
DIV = f"{{{METS_NS}}}div"
FPTR = f"{{{METS_NS}}}fptr"
STREAMED_TAGS = (*SECTION_TAGS, FILE, DIV, FPTR)
# The roles of a structMap that the plan reads.
HIERARCHICAL = "hierarchical"
PHYSICAL = "physical"

# Relative to a dmdSec.
DC_RECORD = "mets:mdWrap[@MDTYPE='DC']/mets:xmlData"

# Relative to an amdSec. The local-name() test accepts PREMIS 2 and 3 alike, and
# the second branch accepts an object or event wrapped in a premis:premis element.
# The paths avoid "//" because an object's FITS output can have thousands of
# descendants.
PREMIS_OBJECTS = etree.XPath(
    "mets:techMD/mets:mdWrap[@MDTYPE='PREMIS:OBJECT']/mets:xmlData"
    "/*[local-name()='object'] | "
    "mets:techMD/mets:mdWrap[@MDTYPE='PREMIS:OBJECT']/mets:xmlData"
    "/*/*[local-name()='object']",
    namespaces=NAMESPACES,
)
PREMIS_EVENTS = etree.XPath(
    "mets:digiprovMD/mets:mdWrap[@MDTYPE='PREMIS:EVENT']/mets:xmlData"
    "/*[local-name()='event'] | "
    "mets:digiprovMD/mets:mdWrap[@MDTYPE='PREMIS:EVENT']/mets:xmlData"
    "/*/*[local-name()='event']",
    namespaces=NAMESPACES,
)

# The nodes read from a premis:object or premis:event, as paths of local names
# relative to it. A step without a prefix is in the namespace of the element being
# read, so the same paths serve PREMIS 2 and 3. A step "name[child=value]" requires
# a child whose text is the value. The nodes are matched by walking the children
# along these paths, which costs less than an XPath query per element for the
# hundreds of thousands of events a METS can have.
OBJECT_PATHS = [
    "objectIdentifier[objectIdentifierType=UUID]/objectIdentifierValue",
    "originalName",
    "objectCharacteristics/size",
    "objectCharacteristics/fixity/messageDigestAlgorithm",
    "objectCharacteristics/fixity/messageDigest",
    "objectCharacteristics/format/formatDesignation/formatName",
    "objectCharacteristics/format/formatDesignation/formatVersion",
    "objectCharacteristics/format/formatRegistry[formatRegistryName=PRONOM]"
    "/formatRegistryKey",
    # The "mimetype" attribute of this element is the MIME type FITS found.
    "objectCharacteristics/objectCharacteristicsExtension"
    "/fits:fits/fits:identification/fits:identity",
]
EVENT_PATHS = [
    "eventIdentifier/eventIdentifierValue",
    "eventType",
    "eventDateTime",
    # PREMIS 2 puts eventDetail in the event, PREMIS 3 in eventDetailInformation.
    "eventDetail",
    "eventDetailInformation/eventDetail",
    "eventOutcomeInformation/eventOutcome",
    "eventOutcomeInformation/eventOutcomeDetail/eventOutcomeDetailNote",
]
STEP = re.compile(r"^(?P<name>[^\[]+)(?:\[(?P<child>[^=]+)=(?P<value>[^\]]*)\])?$")

UUID_PATTERN = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
OLDEST = datetime.min.replace(tzinfo=UTC)

# Parse untrusted XML without entity expansion, DTDs or network access. With
# huge_tree=False, libxml2 keeps its limits on text node size and nesting depth.
PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "huge_tree": False,
}


@dataclass(slots=True)
class METSFile:
    """One mets:file entry of the fileSec."""

    file_id: str
    use: str
    group_id: str
    href: str
    amd_ids: list[str]
    dmd_ids: list[str]


@dataclass(slots=True)
class DMDSection:
    """The parts of a dmdSec that select it and fill a description's fields."""

    # CREATED, or OLDEST when it is missing or invalid.
    created: datetime
    status: str
    # The Description fields of its Dublin Core record, None without one.
    dublin_core: dict | None


@dataclass(slots=True)
class PREMISObject:
    """Technical properties and PREMIS events of one file."""

    uuid: str = ""
    original_name: str = ""
    size: int | None = None
    format_name: str = ""
    format_version: str = ""
    format_puid: str = ""
    checksum: str = ""
    checksum_type: str = ""
    fits_mime_type: str = ""
    events: list[Event] = field(default_factory=list)

    def event_datetime(self, event_type):
        """Return the datetime of the first event of `event_type`, or None."""
        for event in self.events:
            if event.event_type == event_type:
                return event.event_datetime
        return None


@dataclass(slots=True)
class AMDSection:
    """The PREMIS object and events of one amdSec."""

    premis_object: PREMISObject | None
    events: list[Event]


@dataclass(slots=True)
class Division:
    """One mets:div of a structMap, with the divs nested in it."""

    label: str | None
    type: str | None
    dmd_ids: list[str]
    # The FILEID of each mets:fptr, None where the attribute is missing.
    file_ids: list[str | None]
    children: list["Division"]


class METSDocument:
    """The records of a METS file that a plan needs, indexed by ID.

    `hierarchical_map` is the first div of the first logical structMap labelled
    "Hierarchical" (an arrangement made in Archivematica), as a Division, or
    None. `has_hierarchical_map` is True when that structMap exists, even with
    no div.

    The fileSec and the structMaps grow with the number of files, so they are
    read element by element too, each mets:file, mets:div and mets:fptr as it
    ends. A file becomes a METSFile and is removed. In the Hierarchical
    structMap a div becomes a Division, and in the physical one its fptrs are
    indexed. A div is then cleared, and removed when the next div ends.
    """

    def __init__(self, path):
        self.path = path
        self.name = path.name
        self.dmd_sections = {}
        self.amd_sections = {}
        self.files = None
        self.struct_map_count = 0
        self.has_hierarchical_map = False
        self.hierarchical_map = None
        self.has_physical_map = False
        # File ID -> the DMDIDs of the physical structMap div that points to it.
        self.physical_dmd_ids = {}
        # The DMDIDs of the physical structMap's objects/ div, None without one.
        self.objects_dmd_ids = None

        # Parts of the fileSec and structMap being read: (ID, METSFile) pairs
        # by fileGrp, the role of each structMap, and the Divisions of the
        # Hierarchical structMap by the div they belong in.
        self.files_by_group = {}
        self.struct_map_roles = {}
        self.child_divisions = {}

        for element, section in iterate_elements(path):
            self.read_element(element, section)

        if self.files is None:
            raise IngestError(
                f"{self.name} has no fileSec, so it lists no files. The METS of an "
                "Archivematica AIP always has one: check that this is that METS."
            )
        if not self.struct_map_count:
            raise IngestError(
                f"{self.name} has no structMap. The METS of an Archivematica AIP "
                "always has one: check that this is that METS."
            )

        self.preservation_by_group = {}
        for entry in self.files.values():
            if entry.use == "preservation" and entry.group_id:
                self.preservation_by_group.setdefault(entry.group_id, entry)
        self.drop_unused_records()

    def read_element(self, element, section):
        """Turn an element of the top-level `section` into records.

        Of two sections with the same ID, the later one wins, and a second
        fileSec replaces the first.
        """
        tag = element.tag
        if element is section:
            if tag == DMD_SEC:
                self.dmd_sections[element.get("ID")] = read_dmd_section(element)
            elif tag == AMD_SEC:
                self.amd_sections[element.get("ID")] = read_amd_section(element)
            elif tag == FILE_SEC:
                self.files = self.collect_files(element)
            elif tag == STRUCT_MAP:
                self.struct_map_count += 1
                self.struct_map_role(element)
                self.child_divisions.clear()
        elif tag == FILE and section.tag == FILE_SEC:
            self.read_file(element)
        elif tag == FPTR and section.tag == STRUCT_MAP:
            if self.struct_map_role(section) == PHYSICAL:
                self.index_pointer(element)
        elif tag == DIV and section.tag == STRUCT_MAP:
            self.read_div(element, section)

    def read_file(self, element):
        """Record a mets:file of a fileGrp, then remove the files before it.

        A mets:file nested in another one is skipped, like every file that is
        not a direct child of a fileGrp.
        """
        group = element.getparent()
        if group.tag != FILE_GRP:
            return
        location = element.find("mets:FLocat", NAMESPACES)
        href = location.get(XLINK_HREF, "") if location is not None else ""
        # IDs are interned because the structMaps and amdSecs repeat them.
        file_id = element.get("ID")
        entry = METSFile(
            file_id=intern(file_id or ""),
            use=intern(group.get("USE", "")),
            group_id=intern(element.get("GROUPID", "")),
            href=href,
            amd_ids=[intern(i) for i in (element.get("ADMID") or "").split()],
            dmd_ids=[intern(i) for i in (element.get("DMDID") or "").split()],
        )
        self.files_by_group.setdefault(group, []).append((file_id, entry))
        element.clear()
        remove_earlier_siblings(element, FILE)

    def collect_files(self, file_sec):
        """Return the files of `file_sec` by ID, in document order.

        Each file takes the USE of its nearest fileGrp. The files come in the
        document order of their fileGrps, then in document order within each.
        """
        files = {}
        for group in file_sec.iter(FILE_GRP):
            for file_id, entry in self.files_by_group.get(group, []):
                files[file_id] = entry
        self.files_by_group.clear()
        return files

    def struct_map_role(self, struct_map):
        """Return HIERARCHICAL or PHYSICAL for the first structMap of each kind.

        Return None for any later structMap and for any other kind.
        """
        if struct_map in self.struct_map_roles:
            return self.struct_map_roles[struct_map]
        role = None
        map_type = (struct_map.get("TYPE") or "").lower()
        if map_type == "logical" and struct_map.get("LABEL") == "Hierarchical":
            if not self.has_hierarchical_map:
                self.has_hierarchical_map = True
                role = HIERARCHICAL
        elif map_type == "physical" and not self.has_physical_map:
            self.has_physical_map = True
            role = PHYSICAL
        self.struct_map_roles[struct_map] = role
        return role

    def index_pointer(self, pointer):
        """Add the DMDIDs of a physical fptr's parent to those of its file."""
        dmd_ids = (pointer.getparent().get("DMDID") or "").split()
        file_id = pointer.get("FILEID")
        file_id = intern(file_id) if file_id is not None else None
        self.physical_dmd_ids.setdefault(file_id, []).extend(dmd_ids)

    def read_div(self, div, struct_map):
        """Read a div of a structMap, then remove the divs before it."""
        parent = div.getparent()
        role = self.struct_map_role(struct_map)
        if role == HIERARCHICAL:
            division = Division(
                label=div.get("LABEL"),
                type=div.get("TYPE"),
                dmd_ids=(div.get("DMDID") or "").split(),
                file_ids=[p.get("FILEID") for p in div.iterchildren(FPTR)],
                children=self.child_divisions.pop(div, []),
            )
            if parent.tag == DIV:
                self.child_divisions.setdefault(parent, []).append(division)
            elif parent is struct_map and self.hierarchical_map is None:
                self.hierarchical_map = division
        elif role == PHYSICAL:
            is_objects = div.get("LABEL") == "objects"
            grandparent = parent.getparent()
            if is_objects and parent.tag == DIV and grandparent is struct_map:
                if self.objects_dmd_ids is None:
                    self.objects_dmd_ids = (div.get("DMDID") or "").split()
        div.clear()
        remove_earlier_siblings(div, DIV)

    def drop_unused_records(self):
        """Drop the records that no plan reads, before the plan is built.

        A plan reads the whole PREMIS of an original, and only the size and the
        first creation event of a preservation copy. The physical structMap's
        DMDIDs count for originals alone.
        """
        original_amd_ids = set()
        original_ids = set()
        preservation_amd_ids = set()
        for entry in self.files.values():
            if entry.use == "original":
                original_amd_ids.update(entry.amd_ids)
                original_ids.add(entry.file_id)
            elif entry.use == "preservation":
                preservation_amd_ids.update(entry.amd_ids)

        for amd_id, section in list(self.amd_sections.items()):
            if amd_id in original_amd_ids:
                continue
            if amd_id in preservation_amd_ids:
                self.amd_sections[amd_id] = slim_amd_section(section)
            else:
                del self.amd_sections[amd_id]
        for file_id in list(self.physical_dmd_ids):
            if file_id not in original_ids:
                del self.physical_dmd_ids[file_id]

    def originals(self):
        return [entry for entry in self.files.values() if entry.use == "original"]

    def preservation_copy(self, original):
        """Return the preservation file in the same GROUPID as `original`, or None."""
        return self.preservation_by_group.get(original.group_id)

    def amd_sections_of(self, entry):
        return [self.amd_sections[i] for i in entry.amd_ids if i in self.amd_sections]


def iterate_elements(path):
    """Yield (element, section) for the sections of a METS and their parts.

    `section` is the top-level dmdSec, amdSec, fileSec or structMap that
    contains `element`, or `element` itself. An element is yielded once its end
    tag is parsed. A section is then cleared and removed with every element
    before it, so the tree contains no more than one section at a time. Raise
    IngestError if the file is too big, unreadable, not well-formed XML or not
    METS. An XML error comes first even when it follows a wrong root element,
    so the message names the first problem in the file.
    """
    check_size(path)
    root_is_mets = None
    elements = etree.iterparse(
        str(path), events=("end",), tag=STREAMED_TAGS, **PARSER_OPTIONS
    )
    try:
        for _, element in elements:
            section = element
            parent = element.getparent()
            if parent is None:
                continue
            while parent.getparent() is not None:
                section = parent
                parent = parent.getparent()
            if root_is_mets is None:
                root_is_mets = parent.tag == f"{{{METS_NS}}}mets"
            if root_is_mets and section.tag in SECTION_TAGS:
                yield element, section
            if element is section:
                element.clear()
                while element.getprevious() is not None:
                    del parent[0]
        root = elements.root
    except etree.XMLSyntaxError as error:
        raise syntax_error(path, error) from error
    except OSError as error:
        raise IngestError(f"{path.name} could not be read: {error}") from error

    if root.tag != f"{{{METS_NS}}}mets":
        raise IngestError(
            f"{path.name} is not a METS document: its root element is {root.tag}, "
            f"not mets in the {METS_NS} namespace."
        )


def remove_earlier_siblings(element, tag):
    """Remove the elements with `tag` just before `element`, read already."""
    parent = element.getparent()
    previous = element.getprevious()
    while previous is not None and previous.tag == tag:
        parent.remove(previous)
        previous = element.getprevious()


def check_size(path):
    max_bytes = settings.MAX_METS_MB * 1024 * 1024
    try:
        size = path.stat().st_size
    except OSError as error:
        raise IngestError(f"{path.name} could not be read: {error}") from error
    if size > max_bytes:
        raise IngestError(
            f"{path.name} is {-(-size // (1024 * 1024))} MB, over the limit of"
            f" {settings.MAX_METS_MB} MB (DEPOSITUM_MAX_METS_MB). Raise the limit"
            " if the METS comes from a trusted Archivematica."
        )
    if size == 0:
        raise IngestError(
            f"{path.name} is empty. Export the DIP from Archivematica again."
        )


def syntax_error(path, error):
    """Return the IngestError for an lxml XMLSyntaxError in the METS at `path`."""
    if "XML_PARSE_HUGE" in str(error.msg):
        return IngestError(
            f"{path.name} goes beyond the XML parser's safety limits at line"
            f" {error.lineno} (elements nested more than 256 deep, or one text"
            " or attribute over 10 MB). No Archivematica METS needs that, so"
            " check where the file came from."
        )
    return IngestError(
        f"{path.name} is not well-formed XML at line {error.lineno}: "
        f"{error.msg}. Export the DIP from Archivematica again."
    )


def read_dmd_section(section):
    record = section.find(DC_RECORD, NAMESPACES)
    return DMDSection(
        created=parse_datetime(section.get("CREATED") or "") or OLDEST,
        status=section.get("STATUS") or "",
        dublin_core=dublin_core_fields(record) if record is not None else None,
    )


def slim_amd_section(section):
    """Return an AMDSection with only what a preservation copy's plan reads."""
    premis_object = None
    if section.premis_object is not None:
        premis_object = PREMISObject(size=section.premis_object.size)
    creation = [event for event in section.events if event.event_type == "creation"]
    return AMDSection(premis_object, creation[:1])


def read_amd_section(section):
    premis_object = None
    for element in PREMIS_OBJECTS(section):
        if etree.QName(element).namespace in PREMIS_NAMESPACES:
            premis_object = read_premis_object(element)
            break
    events = [
        read_premis_event(element)
        for element in PREMIS_EVENTS(section)
        if etree.QName(element).namespace in PREMIS_NAMESPACES
    ]
    return AMDSection(premis_object, events)


# PREMIS (amdSec) ------------------------------------------------------------


@dataclass(slots=True)
class PathStep:
    """A step of OBJECT_PATHS or EVENT_PATHS, with the steps below it."""

    # The local name to record the node's value under, "" if it is not read.
    record_as: str = ""
    # (tag, text) of a child that the node must have, or None.
    condition: tuple[str, str] | None = None
    children: dict = field(default_factory=dict)


@cache
def path_steps(paths, premis_ns):
    """Return the tree of PathSteps of `paths` by tag, in `premis_ns`."""
    steps = {}
    for path in paths:
        level = steps
        parts = path.split("/")
        for position, part in enumerate(parts):
            match = STEP.match(part)
            tag = qualified(match["name"], premis_ns)
            step = level.setdefault(tag, PathStep())
            if match["child"]:
                step.condition = (qualified(match["child"], premis_ns), match["value"])
            if position == len(parts) - 1:
                step.record_as = match["name"].rpartition(":")[2]
            level = step.children
    return steps


def qualified(name, namespace):
    """Return the tag of a step name such as "size" or "fits:fits"."""
    prefix, _, local_name = name.rpartition(":")
    return f"{{{NAMESPACES[prefix] if prefix else namespace}}}{local_name}"


def premis_values(element, paths):
    """Map the local name of each node on `paths` to its texts, in document order.

    An element named "identity" (FITS) contributes its "mimetype" attribute.
    Empty values are left out.
    """
    values = {}
    collect_values(element, path_steps(paths, etree.QName(element).namespace), values)
    return values


def collect_values(element, steps, values):
    for child in element.iterchildren(etree.Element):
        step = steps.get(child.tag)
        if step is None:
            continue
        if step.condition is not None and not has_child_text(child, *step.condition):
            continue
        if step.record_as:
            value = (
                child.get("mimetype") if step.record_as == "identity" else child.text
            )
            value = (value or "").strip()
            if value:
                values.setdefault(step.record_as, []).append(value)
        if step.children:
            collect_values(child, step.children, values)


def has_child_text(element, tag, text):
    """Return whether a child `tag` of `element` has the string value `text`."""
    for child in element.iterchildren(tag):
        value = child.text if len(child) == 0 else "".join(child.itertext())
        if (value or "") == text:
            return True
    return False


def read_premis(amd_sections):
    """Return the PREMIS object and events of a file from its amdSecs.

    The object of the last amdSec that has one wins, and the events of all of
    them are kept in order.
    """
    premis = PREMISObject()
    events = []
    for section in amd_sections:
        if section.premis_object is not None:
            premis = section.premis_object
        events.extend(section.events)
    return replace(premis, events=events)


def read_premis_object(element):
    values = premis_values(element, tuple(OBJECT_PATHS))

    def first(name):
        return values.get(name, [""])[0]

    return PREMISObject(
        uuid=normalize_uuid(first("objectIdentifierValue")),
        original_name=first("originalName"),
        size=int(first("size")) if first("size").isdecimal() else None,
        format_name=first("formatName"),
        format_version=first("formatVersion"),
        format_puid=first("formatRegistryKey"),
        checksum=first("messageDigest"),
        checksum_type=first("messageDigestAlgorithm"),
        fits_mime_type=first("identity"),
    )


def read_premis_event(element):
    values = premis_values(element, tuple(EVENT_PATHS))
    # Event types, details and outcomes repeat across thousands of files, so
    # one copy of each is kept.
    return Event(
        event_type=intern(values.get("eventType", [""])[0]),
        event_datetime=parse_datetime(values.get("eventDateTime", [""])[0]),
        event_identifier=values.get("eventIdentifierValue", [""])[0],
        event_detail=intern("\n".join(values.get("eventDetail", []))),
        event_outcome=intern(values.get("eventOutcome", [""])[0]),
        event_outcome_detail="\n".join(values.get("eventOutcomeDetailNote", [])),
    )


def parse_datetime(text):
    """Parse an ISO 8601 datetime, or return None if `text` is invalid.

    A datetime without a time zone is taken as UTC.
    """
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def normalize_uuid(text):
    """Return `text` as a lowercase hyphenated UUID, or "" if it is not one."""
    if not re.fullmatch(UUID_PATTERN, text or ""):
        return ""
    return str(uuid.UUID(text))
