"""Read an Archivematica DIP into an IngestPlan.

A DIP is a folder named <SIPName>-<SIPUUID> that contains a copy of the AIP's METS
(METS.<SIPUUID>.xml), the access copies in objects/ named <file-uuid>-<name>.<ext>,
and optionally thumbnails/<file-uuid>.jpg and OCRfiles/<name>-<file-uuid>.txt. The
METS describes the original files, not the access copies. An access copy belongs to
the original whose PREMIS object UUID starts its name.

The METS is read in two modes:

1. Hierarchical, when a logical structMap labelled "Hierarchical" exists (an
   arrangement made in Archivematica). Its divs become descriptions in document
   order, with the div TYPE as the level of description.
2. Flat otherwise. Every original file becomes an "Item" under the target, sorted
   by title, and directories are dropped. If the physical structMap's objects/
   directory has Dublin Core, the items go under a "File" description with that DC.

An original without an access copy is left out with a warning. A DIP from which
no original file can be imported raises IngestError, as does a malformed METS.
"""

import logging
import mimetypes
import os
import re
import time
from pathlib import Path, PurePosixPath

from depositum.catalogue.models import LEVELS_OF_DESCRIPTION, match_level
from depositum.ingest.mets import (
    UUID_PATTERN,
    METSDocument,
    normalize_uuid,
    read_premis,
)
from depositum.ingest.plan import FileProperties, IngestError, IngestPlan, Node
from depositum.ingest.registry import register

logger = logging.getLogger(__name__)

DIP_PACKAGING = "http://purl.org/net/sword-types/METSArchivematicaDIP"
DIP_PACKAGING_ALT = "http://purl.org/net/sword/package/METSArchivematicaDIP"

UUID_PREFIX = re.compile(rf"^({UUID_PATTERN})")
UUID_SUFFIX = re.compile(rf"(?:^|-)({UUID_PATTERN})$")
METS_NAME = re.compile(rf"^METS\.({UUID_PATTERN})\.xml$")
# Archivematica's file and group IDs: file-<uuid>, Group-<uuid>.
FILE_ID = re.compile(rf"^file-({UUID_PATTERN})$")
# Archivematica writes originalName with a placeholder for its working directory.
ORIGINAL_NAME_PREFIX = re.compile(r"^%(transferDirectory|SIPDirectory)%")
URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")

# Maximum number of names a counted warning lists before "and N more".
WARNING_MAX_NAMES = 10


@register(DIP_PACKAGING, DIP_PACKAGING_ALT)
class ArchivematicaDIPExtractor:
    """Plan the descriptions for one Archivematica DIP folder."""

    @classmethod
    def locate(cls, path: Path) -> Path:
        """Return the DIP folder inside `path`.

        That is `path` itself if it contains a top-level METS.*.xml, else its only
        subfolder that does, because an unpacked zip often wraps the DIP in a folder.
        """
        path = Path(path)
        if not path.is_dir():
            raise IngestError(f"The deposit folder {path} does not exist.")
        if find_mets(path):
            return path
        candidates = [sub for sub in sorted(path.iterdir()) if sub.is_dir()]
        candidates = [sub for sub in candidates if find_mets(sub)]
        if len(candidates) == 1:
            return candidates[0]
        if candidates:
            names = ", ".join(sub.name for sub in candidates)
            raise IngestError(
                f"The deposit {path.name} contains {len(candidates)} DIP folders "
                f"({names}). Deposit one DIP at a time."
            )
        raise IngestError(
            f"No METS.*.xml file was found in {path.name} or in its subfolders. A "
            "DIP folder contains the AIP's METS as METS.<AIP UUID>.xml next to "
            "objects/, so check that the whole DIP folder was deposited."
        )

    @classmethod
    def peek_aip_uuid(cls, names):
        """Return the AIP UUID that a METS among `names` carries, or None.

        `names` are paths relative to a package: a folder listing or the entries
        of a zip. The METS counts at the top or one folder down, as in locate().
        """
        for name in sorted(names):
            parts = name.replace("\\", "/").strip("/").split("/")
            match = METS_NAME.match(parts[-1])
            if match and len(parts) <= 2:
                return match[1].lower()
        return None

    def __init__(self, dip_dir: Path):
        self.dip = DIPFolder(Path(dip_dir))
        self.aip_uuid = ""
        self.warnings = []

    def plan(self) -> IngestPlan:
        """Read the METS and the DIP folder into an IngestPlan.

        Raise IngestError if the METS is missing or malformed, or if no original
        file can be imported. The error's `warnings` attribute lists the problems
        found before it.
        """
        started = time.monotonic()
        mets_path = self.dip.mets_path()
        self.aip_uuid, aip_name = aip_identity(self.dip.path, mets_path)
        logger.info("AIP %s: reading %s", self.aip_uuid, mets_path)
        builder = None
        try:
            mets = METSDocument(mets_path)
            builder = PlanBuilder(mets, self.dip, self.aip_uuid, aip_name)
            roots = builder.build()
        except IngestError as error:
            logger.warning("AIP %s: rejected: %s", self.aip_uuid, error)
            raise
        finally:
            self.warnings = builder.warnings if builder else []
        for warning in self.warnings:
            logger.warning("AIP %s: %s", self.aip_uuid, warning)
        plan = IngestPlan(self.aip_uuid, aip_name, roots, self.warnings)
        logger.info(
            "AIP %s: planned %s descriptions in %s mode in %.2fs",
            self.aip_uuid,
            sum(1 for _ in plan.nodes()),
            "hierarchical" if mets.has_hierarchical_map else "flat",
            time.monotonic() - started,
        )
        return plan


def find_mets(folder):
    """Return the first top-level METS.*.xml file in `folder`, or None."""
    candidates = sorted(path for path in folder.glob("METS.*.xml") if path.is_file())
    return candidates[0] if candidates else None


def aip_identity(dip_dir, mets_path):
    """Return the AIP UUID and name of a DIP.

    The UUID comes from the METS file name (METS.<uuid>.xml), else from the end of
    the folder name. The name is the folder name without its "-<uuid>" suffix.
    """
    from_mets = METS_NAME.match(mets_path.name)
    from_folder = UUID_SUFFIX.search(dip_dir.name)
    if from_mets:
        aip_uuid = from_mets[1].lower()
    elif from_folder:
        aip_uuid = from_folder[1].lower()
    else:
        raise IngestError(
            f"The AIP UUID of the DIP {dip_dir.name} is unknown: neither the METS "
            f"name {mets_path.name} nor the folder name ends with a UUID. Name the "
            "METS METS.<AIP UUID>.xml, as Archivematica does."
        )
    name = dip_dir.name
    if from_folder and from_folder.start() > 0:
        name = name[: from_folder.start()]
    return aip_uuid, name


class DIPFolder:
    """The files of a DIP folder, indexed by file UUID.

    Each subfolder is listed once, because a DIP can hold tens of thousands of
    files.
    """

    def __init__(self, path):
        self.path = path
        self.absolute_path = path.absolute()
        self.objects_dir = path / "objects"
        self.access_copies = index_by_uuid(self.objects_dir, UUID_PREFIX, "")
        self.thumbnails = index_by_uuid(path / "thumbnails", UUID_SUFFIX, ".jpg")
        self.ocr_files = index_by_uuid(path / "OCRfiles", UUID_SUFFIX, ".txt")

    def mets_path(self):
        mets_path = find_mets(self.path)
        if mets_path is None:
            raise IngestError(
                f"The DIP folder {self.path.name} contains no METS.*.xml file. "
                "Deposit the whole DIP folder that Archivematica made."
            )
        return mets_path

    def access_copy(self, object_uuid):
        return self.file_path("objects", self.access_copies.get(object_uuid))

    def thumbnail(self, object_uuid):
        return self.file_path("thumbnails", self.thumbnails.get(object_uuid))

    def ocr_file(self, object_uuid):
        return self.file_path("OCRfiles", self.ocr_files.get(object_uuid))

    def file_path(self, folder, name):
        return self.absolute_path / folder / name if name else None


def index_by_uuid(folder, pattern, suffix):
    """Map the lowercase UUID in each file name in `folder` to the file name.

    `pattern` finds the UUID in the name (less `suffix`). When several files have
    the same UUID, the first name in sorted order wins.
    """
    try:
        entries = sorted(os.scandir(folder), key=lambda entry: entry.name)
    except (FileNotFoundError, NotADirectoryError):
        return {}
    index = {}
    for entry in entries:
        if not entry.name.endswith(suffix) or not entry.is_file():
            continue
        match = pattern.search(
            entry.name.removesuffix(suffix) if suffix else entry.name
        )
        if match:
            index.setdefault(match[1].lower(), entry.name)
    return index


def original_basename(original_name):
    """Return the last path segment of a premis:originalName or an href."""
    name = ORIGINAL_NAME_PREFIX.sub("", original_name.strip()).rstrip("/\\")
    return re.split(r"[/\\]", name)[-1]


# Plan ----------------------------------------------------------------------


class PlanBuilder:
    """Turn a METSDocument and its DIP folder into the Nodes of an IngestPlan."""

    def __init__(self, mets, dip, aip_uuid, aip_name):
        self.mets = mets
        self.dip = dip
        self.aip_uuid = aip_uuid
        self.aip_name = aip_name
        self.warnings = []
        self.planned_uuids = set()
        # File IDs of the originals that file_node was called for.
        self.visited_file_ids = set()
        self.used_keys = set()
        self.last_key_numbers = {}
        # Names of the originals left out, by reason, for the counted warnings.
        self.without_access_copy = []
        self.without_uuid = []
        self.unknown_levels = {}
        self.unknown_file_ids = []

    def build(self):
        """Return the root Nodes, or raise IngestError if no file can be imported."""
        originals = self.mets.originals()
        if not originals:
            raise IngestError(
                f"{self.mets.name} lists no original files (no fileGrp with "
                'USE="original"), so there is nothing to import.'
            )
        for entry in originals:
            validate_href(entry, self.mets.name)
        if self.mets.has_hierarchical_map:
            roots = self.build_hierarchical(self.mets.hierarchical_map)
        else:
            roots = self.build_flat(originals)
        self.collect_warnings(originals)
        if not self.planned_uuids:
            raise self.nothing_imported_error(originals)
        return roots

    # Flat mode.

    def build_flat(self, originals):
        nodes = [self.file_node(entry) for entry in originals]
        nodes = [node for node in nodes if node is not None]
        nodes.sort(key=lambda node: (node.title.casefold(), node.file.relative_path))
        if self.mets.objects_dmd_ids is None:
            return nodes
        fields = self.dublin_core(self.mets.objects_dmd_ids)
        if not fields:
            return nodes
        title = fields.pop("title", "") or self.aip_name
        return [Node("dir:objects", title, "File", fields, children=nodes)]

    # Hierarchical mode.

    def build_hierarchical(self, root):
        if root is None:
            raise IngestError(
                f"The Hierarchical structMap of {self.mets.name} has no div. Arrange "
                "the SIP again in Archivematica."
            )
        # The root div is the SIP itself, which the target description stands for.
        return self.hierarchical_children(root, "")

    def hierarchical_children(self, div, path):
        nodes = []
        for child in div.children:
            if child.file_ids:
                node = self.hierarchical_file_node(child)
            else:
                node = self.directory_node(child, path)
            if node is not None:
                nodes.append(node)
        return nodes

    def directory_node(self, div, parent_path):
        label = div.label or "Untitled"
        path = f"{parent_path}/{label}" if parent_path else label
        key = self.unique_key(f"dir:{path}")
        fields = self.dublin_core(div.dmd_ids)
        title = fields.pop("title", "") or label
        level = self.level(div.type, "File", title)
        children = self.hierarchical_children(div, path)
        return Node(key, title, level, fields, children=children)

    def hierarchical_file_node(self, div):
        """Return the Node of the original file that `div` points to, or None.

        Pointers to other files, such as preservation copies, are skipped.
        """
        for file_id in div.file_ids:
            entry = self.mets.files.get(file_id)
            if entry is None:
                self.unknown_file_ids.append(file_id)
            elif entry.use == "original":
                node = self.file_node(entry, div.dmd_ids)
                if node is not None:
                    node.level_of_description = self.level(div.type, "Item", node.title)
                return node
        return None

    def unique_key(self, key):
        # Two sibling divs may have the same LABEL, but keys must differ. The
        # search for a free number resumes from the last number given to `key`,
        # so the tries grow linearly with the number of equal labels.
        number = self.last_key_numbers.get(key, 1)
        candidate = key if number == 1 else f"{key}#{number}"
        while candidate in self.used_keys:
            number += 1
            candidate = f"{key}#{number}"
        self.used_keys.add(candidate)
        self.last_key_numbers[key] = number
        return candidate

    def level(self, type_value, default, title):
        """Return the level of description that a div TYPE names, else `default`."""
        if not type_value:
            return default
        level = match_level(type_value)
        if level is None:
            self.unknown_levels.setdefault(type_value, []).append(title)
            return default
        return level

    # Files.

    def file_node(self, entry, extra_dmd_ids=()):
        """Return the Node of an original file, or None if it cannot be imported."""
        self.visited_file_ids.add(entry.file_id)
        premis = read_premis(self.mets.amd_sections_of(entry))
        object_uuid = premis.uuid or uuid_from_file_id(entry.file_id)
        display_name = entry.href.removeprefix("objects/") or entry.file_id
        if not object_uuid:
            self.without_uuid.append(display_name)
            return None
        if object_uuid in self.planned_uuids:
            logger.warning(
                "AIP %s: skipped %s, a second original with UUID %s",
                self.aip_uuid,
                entry.href,
                object_uuid,
            )
            return None
        access_copy = self.dip.access_copy(object_uuid)
        if access_copy is None:
            self.without_access_copy.append(display_name)
            return None

        self.planned_uuids.add(object_uuid)
        dmd_ids = [*extra_dmd_ids, *self.mets.physical_dmd_ids.get(entry.file_id, [])]
        fields = self.dublin_core([*dmd_ids, *entry.dmd_ids])
        properties = self.file_properties(entry, premis, object_uuid)
        title = (
            fields.pop("title", "")
            or properties.original_name
            or strip_uuid_prefix(access_copy.name)
        )
        return Node(
            key=f"file:{object_uuid}",
            title=title,
            level_of_description="Item",
            fields=fields,
            file=properties,
            access_copy=access_copy,
            thumbnail=self.dip.thumbnail(object_uuid),
        )

    def file_properties(self, entry, premis, object_uuid):
        original_name = original_basename(premis.original_name or entry.href)
        properties = FileProperties(
            object_uuid=object_uuid,
            relative_path=entry.href,
            original_name=original_name,
            original_size=premis.size,
            ingested_at=premis.event_datetime("ingestion"),
            format_puid=premis.format_puid,
            format_name=premis.format_name,
            format_version=premis.format_version,
            mime_type=guess_mime_type(premis, original_name),
            checksum=premis.checksum,
            checksum_type=premis.checksum_type,
            ocr_path=self.dip.ocr_file(object_uuid),
            events=premis.events,
        )
        self.add_preservation_copy(properties, entry, premis)
        return properties

    def add_preservation_copy(self, properties, entry, premis):
        normalized_at = premis.event_datetime("normalization")
        preservation = self.mets.preservation_copy(entry)
        if preservation is not None:
            copy = read_premis(self.mets.amd_sections_of(preservation))
            properties.preservation_copy_name = original_basename(preservation.href)
            properties.preservation_copy_size = copy.size
            normalized_at = copy.event_datetime("creation") or normalized_at
        properties.preservation_copy_normalized_at = normalized_at

    # Descriptive metadata (dmdSec).

    def dublin_core(self, dmd_ids):
        """Return the Description fields of the current DC among `dmd_ids`.

        A metadata update in a re-ingest adds a dmdSec and marks the earlier one
        "-superseded" (as metsrw, the METS library of Archivematica, does). So the DC
        dmdSec with the latest CREATED wins. One without CREATED counts as the oldest,
        and on a tie the later ID in the list wins. If the winner has
        STATUS="deleted", the metadata was removed and there is no DC.
        """
        candidates = []
        for position, dmd_id in enumerate(dict.fromkeys(dmd_ids)):
            section = self.mets.dmd_sections.get(dmd_id)
            if section is None or section.dublin_core is None:
                continue
            candidates.append((section.created, position, section))
        if not candidates:
            return {}
        _, _, section = max(candidates, key=lambda candidate: candidate[:2])
        if section.status == "deleted":
            return {}
        # A copy, because callers pop the title and one dmdSec can describe many
        # files.
        return {
            name: list(value) if isinstance(value, list) else value
            for name, value in section.dublin_core.items()
        }

    # Warnings and errors.

    def collect_warnings(self, originals):
        if self.without_access_copy:
            self.warnings.append(
                missing_access_copies_warning(self.without_access_copy)
            )
        if self.without_uuid:
            self.warnings.append(
                f"{pluralize(self.without_uuid, 'original file')} "
                f"{'has' if len(self.without_uuid) == 1 else 'have'} no UUID (no "
                "PREMIS objectIdentifier of type UUID and no file ID of the form "
                "file-<uuid>), so no access copy can be matched and "
                f"{'it was' if len(self.without_uuid) == 1 else 'they were'} not "
                f"imported: {name_list(self.without_uuid)}."
            )
        if self.unknown_levels:
            self.warnings.append(unknown_levels_warning(self.unknown_levels))
        if self.mets.hierarchical_map is not None:
            self.warn_unplaced(originals)

    def warn_unplaced(self, originals):
        """Warn about originals that the Hierarchical structMap leaves out."""
        unplaced = [
            entry.href.removeprefix("objects/")
            for entry in originals
            if entry.file_id not in self.visited_file_ids
        ]
        singular = len(unplaced) == 1
        if unplaced:
            self.warnings.append(
                f"{pluralize(unplaced, 'original file')} "
                f"{'is' if singular else 'are'} not in the Hierarchical structMap and "
                f"{'was' if singular else 'were'} not imported: "
                f"{name_list(unplaced)}. Add {'it' if singular else 'them'} to the "
                "arrangement in Archivematica and upload the DIP again."
            )
        if self.unknown_file_ids:
            singular = len(self.unknown_file_ids) == 1
            self.warnings.append(
                "The Hierarchical structMap points to "
                f"{pluralize(self.unknown_file_ids, 'file ID')} that the fileSec does "
                f"not list, so {'it was' if singular else 'they were'} skipped: "
                f"{name_list(self.unknown_file_ids)}."
            )

    def nothing_imported_error(self, originals):
        total = pluralize(originals, "original file")
        if len(self.without_access_copy) == len(originals):
            error = IngestError(
                no_access_copies_message(self.dip, self.mets.name, total)
            )
        else:
            error = IngestError(
                f"No original file in {self.mets.name} could be imported "
                f"({total} listed): " + " ".join(self.warnings)
            )
        error.warnings = self.warnings
        return error


def validate_href(entry, mets_name):
    """Raise IngestError unless the href of `entry` is a relative path in the AIP."""
    href = entry.href
    if not href:
        raise IngestError(
            f"The original file {entry.file_id} in {mets_name} has no FLocat "
            "xlink:href, so its place in the AIP is unknown."
        )
    parts = PurePosixPath(href.replace("\\", "/")).parts
    if href.startswith(("/", "\\")) or URL_SCHEME.match(href) or ".." in parts:
        raise IngestError(
            f"The original file {entry.file_id} in {mets_name} has the href {href!r}, "
            "which points outside the AIP. An href must be a relative path such as "
            "objects/name.ext."
        )


def uuid_from_file_id(file_id):
    match = FILE_ID.match(file_id or "")
    return normalize_uuid(match[1]) if match else ""


def strip_uuid_prefix(name):
    """Return an access copy name without its "<uuid>-" prefix."""
    return UUID_PREFIX.sub("", name).lstrip("-") or name


def guess_mime_type(premis, original_name):
    """Return the original's MIME type as FITS recorded it, else guess it by name.

    The access copy's name is no guide: its format is the access format, such as
    JPEG for a TIFF original.
    """
    if premis.fits_mime_type and premis.fits_mime_type != "application/octet-stream":
        return premis.fits_mime_type
    mime_type, _ = mimetypes.guess_type(original_name, strict=False)
    return mime_type or ""


def pluralize(items, noun):
    """Return "1 <noun>" or "<n> <noun>s" for the number of `items`."""
    return f"{len(items)} {noun}" if len(items) == 1 else f"{len(items)} {noun}s"


def name_list(names):
    """Return up to WARNING_MAX_NAMES names, then "and N more"."""
    listed = ", ".join(names[:WARNING_MAX_NAMES])
    rest = len(names) - WARNING_MAX_NAMES
    return f"{listed} and {rest} more" if rest > 0 else listed


def missing_access_copies_warning(names):
    singular = len(names) == 1
    return (
        f"{pluralize(names, 'original file')} {'has' if singular else 'have'} no "
        f"access copy in objects/ and {'was' if singular else 'were'} not imported: "
        f"{name_list(names)}. Normalize {'it' if singular else 'them'} for access in "
        "Archivematica and upload the DIP again, or add access copies named "
        "<file UUID>-<name> to objects/."
    )


def unknown_levels_warning(unknown_levels):
    titles = [title for group in unknown_levels.values() for title in group]
    values = ", ".join(f'"{value}"' for value in unknown_levels)
    known = ", ".join(LEVELS_OF_DESCRIPTION)
    return (
        f"{pluralize(titles, 'description')} in the Hierarchical structMap "
        f"{'has' if len(titles) == 1 else 'have'} a TYPE that is not a known level "
        f"of description ({values}): {name_list(titles)}. Directories were imported "
        'at level "File" and files at level "Item". Use one of these levels in the '
        f"arrangement: {known}."
    )


def no_access_copies_message(dip, mets_name, total):
    if not dip.objects_dir.is_dir():
        return (
            f"The DIP {dip.path.name} has no objects/ folder, so no access copy "
            f"matches the {total} in {mets_name} and nothing was imported. Check "
            "that the whole DIP folder was deposited."
        )
    return (
        f"No original file in {mets_name} has an access copy in objects/ ({total} "
        "checked), so nothing was imported. Access copies are matched by the "
        "36-character file UUID at the start of their name "
        "(<file UUID>-<name>.<ext>). Check that the DIP's objects/ folder came with "
        "the deposit and that Archivematica normalized the files for access."
    )
