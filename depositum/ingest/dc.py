"""Map a Dublin Core record onto catalogue.Description fields, and parse its dates.

Archivematica writes DC as a `dcterms:dublincore` element whose children are in the
dc (http://purl.org/dc/elements/1.1/) or dcterms (http://purl.org/dc/terms/)
namespace. Both are read, element by element, so refinements that only dcterms
defines, such as `extent` and `provenance`, are read as well.
"""

import calendar
import re
from datetime import date

from lxml import etree

DC_NS = "http://purl.org/dc/elements/1.1/"
DCTERMS_NS = "http://purl.org/dc/terms/"

# DC element name -> Description field. Fields in LIST_FIELDS take one entry per
# element; the others join repeated elements with newlines.
DC_FIELDS = {
    "title": "title",
    "creator": "creators",
    "contributor": "contributors",
    "publisher": "publishers",
    "date": "date_display",
    "description": "scope_and_content",
    "subject": "subject_access_points",
    "coverage": "place_access_points",
    "type": "dc_type",
    "extent": "extent_and_medium",
    "format": "extent_and_medium",
    "identifier": "identifier",
    "source": "location_of_originals",
    "language": "languages",
    "rights": "access_conditions",
    "provenance": "acquisition",
}
LIST_FIELDS = {
    "creators",
    "contributors",
    "publishers",
    "subject_access_points",
    "place_access_points",
    "languages",
}

# YYYY, YYYY-MM or YYYY-MM-DD, optionally followed by an ISO time ("T...").
ISO_DATE = re.compile(r"^(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?(?:T\S*)?$")
# "A - B" (spaces around a hyphen or dash), "A/B" (an ISO 8601 interval) or
# "A–B" (an en dash).
DATE_RANGE_SEPARATOR = re.compile(r"\s+[-–]\s+|\s*/\s*|\s*–\s*")
# "1990-1995": a hyphen between two years, which no single ISO date contains.
YEAR_RANGE = re.compile(r"^(\d{4})-(\d{4})$")


def dublin_core_fields(record):
    """Return the Description fields that the DC elements under `record` fill.

    `record` is the element that contains the DC elements, usually a
    `dcterms:dublincore`. The DC title is returned under the key "title". Empty
    elements are skipped, and "date" also sets start_date and end_date when the
    first date parses (see `parse_date_range`).
    """
    values = {}
    for element in record.iter(etree.Element):
        name = etree.QName(element)
        if name.namespace not in (DC_NS, DCTERMS_NS):
            continue
        field = DC_FIELDS.get(name.localname)
        text = (element.text or "").strip()
        if field and text:
            values.setdefault(field, []).append(text)

    fields = {}
    for field, texts in values.items():
        fields[field] = texts if field in LIST_FIELDS else "\n".join(texts)
    if "date_display" in values:
        fields.update(date_fields(values["date_display"]))
    return fields


def date_fields(texts):
    """Return start_date and end_date for the first of `texts` that parses."""
    for text in texts:
        start, end = parse_date_range(text)
        fields = {}
        if start:
            fields["start_date"] = start
        if end:
            fields["end_date"] = end
        if fields:
            return fields
    return {}


def parse_date_range(text):
    """Parse a DC date into a (start, end) pair of `date` objects or None.

    "1990 - 1995", "1990/1995", "1990–1995" and "1990-1995" are ranges. A partial
    date at the start of a range means its first day ("1990" is 1990-01-01), and at
    the end its last day ("1995-02" is 1995-02-28). A single date covers its whole
    period: "2014" starts 2014-01-01 and ends 2014-12-31. Parts that do not parse
    (free text such as "July 27, 2009") give None.
    """
    text = text.strip()
    years = YEAR_RANGE.match(text)
    if years:
        return parse_date(years[1]), parse_date(years[2], last_day=True)

    parts = DATE_RANGE_SEPARATOR.split(text, maxsplit=1)
    if len(parts) == 2:
        return parse_date(parts[0]), parse_date(parts[1], last_day=True)
    return parse_date(text), parse_date(text, last_day=True)


def parse_date(text, last_day=False):
    """Parse YYYY, YYYY-MM or YYYY-MM-DD; return None for anything else.

    With `last_day`, a partial date gives its last day instead of its first.
    """
    match = ISO_DATE.match(text.strip())
    if not match:
        return None
    year = int(match[1])
    if match[2]:
        month = int(match[2])
    elif last_day:
        month = 12
    else:
        month = 1
    if not 1 <= month <= 12:
        return None
    if match[3]:
        day = int(match[3])
    elif last_day:
        day = calendar.monthrange(year, month)[1]
    else:
        day = 1
    try:
        return date(year, month, day)
    except ValueError:
        return None
