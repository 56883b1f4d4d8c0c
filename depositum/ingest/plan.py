"""The ingest plan: the tree of descriptions an extractor passes to the writer.

Extractors read a package format and return an IngestPlan. The writer turns any
plan into catalogue rows and stored files. Nothing here touches the database.
"""

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

# Maximum number of bytes of an OCR text file that are read and stored.
OCR_TEXT_MAX_BYTES = 1024 * 1024


class IngestError(Exception):
    """The package cannot be ingested. The message names the value and the fix."""


@dataclass(slots=True)
class Event:
    """A PREMIS event recorded for an original file."""

    event_type: str
    event_datetime: datetime | None = None
    event_identifier: str = ""
    event_detail: str = ""
    event_outcome: str = ""
    event_outcome_detail: str = ""


@dataclass(slots=True)
class FileProperties:
    """Technical properties of an original file, stored as catalogue.DigitalFile.

    The OCR text stays in its file until the writer reads it, so a plan of
    many files does not keep all their texts in memory at once.
    """

    object_uuid: str
    relative_path: str
    original_name: str
    original_size: int | None = None
    ingested_at: datetime | None = None
    preservation_copy_name: str = ""
    preservation_copy_size: int | None = None
    preservation_copy_normalized_at: datetime | None = None
    format_puid: str = ""
    format_name: str = ""
    format_version: str = ""
    mime_type: str = ""
    checksum: str = ""
    checksum_type: str = ""
    ocr_path: Path | None = None
    events: list[Event] = field(default_factory=list)

    @property
    def ocr_text(self):
        """The start of the OCR text file, up to OCR_TEXT_MAX_BYTES, or ""."""
        if self.ocr_path is None:
            return ""
        with open(self.ocr_path, "rb") as ocr_file:
            data = ocr_file.read(OCR_TEXT_MAX_BYTES)
        return data.decode("utf-8", errors="replace")


@dataclass(slots=True)
class Node:
    """One description to create, with its children in display order.

    `key` identifies the node across ingests of the same AIP ("file:<uuid>" for
    a file, "dir:<path>" for a directory), so a re-ingest can keep its slug.
    `fields` maps catalogue.Description field names to values: strings for text
    fields, lists of strings for creators, contributors, publishers, languages
    and access points, and `date` objects for start_date and end_date.
    """

    key: str
    title: str
    level_of_description: str = ""
    fields: dict = field(default_factory=dict)
    children: list["Node"] = field(default_factory=list)
    file: FileProperties | None = None
    access_copy: Path | None = None
    thumbnail: Path | None = None

    def walk(self):
        """Yield this node and its descendants, parents before children."""
        stack = [self]
        while stack:
            node = stack.pop()
            yield node
            stack.extend(reversed(node.children))


@dataclass
class IngestPlan:
    aip_uuid: str
    aip_name: str
    # The descriptions to create directly under the target.
    roots: list[Node]
    warnings: list[str] = field(default_factory=list)

    def nodes(self):
        for root in self.roots:
            yield from root.walk()


__all__ = ["Event", "FileProperties", "IngestError", "IngestPlan", "Node", "date"]
