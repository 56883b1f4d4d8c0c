"""The XML of OAI-PMH 2.0 responses and of oai_dc records, built with lxml.

Each part of a response is built as a small lxml element, and `render` writes
them one by one into an etree.xmlfile. A ListRecords response is therefore
sent while it is serialised, and only one record at a time is in memory as a
tree.
"""

import io
import re
from datetime import UTC

from django.urls import reverse
from django.utils import timezone
from lxml import etree

from depositum.catalogue.models import PublicationStatus

OAI_NS = "http://www.openarchives.org/OAI/2.0/"
OAI_SCHEMA = "http://www.openarchives.org/OAI/2.0/OAI-PMH.xsd"
OAI_DC_NS = "http://www.openarchives.org/OAI/2.0/oai_dc/"
OAI_DC_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai_dc.xsd"
DC_NS = "http://purl.org/dc/elements/1.1/"
OAI_IDENTIFIER_NS = "http://www.openarchives.org/OAI/2.0/oai-identifier"
OAI_IDENTIFIER_SCHEMA = "http://www.openarchives.org/OAI/2.0/oai-identifier.xsd"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
SCHEMA_LOCATION = f"{{{XSI_NS}}}schemaLocation"

PUBLISHED = PublicationStatus.PUBLISHED
DATESTAMP_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
# Bytes of serialised XML gathered before they are sent on.
CHUNK_SIZE = 64 * 1024
# Characters that XML 1.0 does not allow in text: most C0 controls, lone
# surrogates and U+FFFE, U+FFFF.
XML_INVALID_CHARACTERS = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]"
)


def oai(name):
    return f"{{{OAI_NS}}}{name}"


def datestamp(value):
    """Format a datetime as an OAI-PMH UTC datestamp, to the second."""
    return value.astimezone(UTC).strftime(DATESTAMP_FORMAT)


def xml_text(value):
    """Return `value` as a string without the characters XML cannot contain."""
    return XML_INVALID_CHARACTERS.sub("", str(value))


def text_element(parent, tag, text, **attributes):
    element = etree.SubElement(parent, tag, attributes)
    element.text = xml_text(text)
    return element


# Response envelope ------------------------------------------------------------


def render(base_url, arguments, container, children):
    """Yield the bytes of an OAI-PMH response.

    `arguments` are the request's attributes (None for a badVerb or
    badArgument error, whose request element must have none), `container` is
    the verb's element name, or None for an error response, and `children` are
    the elements that go into it.
    """
    buffer = io.BytesIO()
    with etree.xmlfile(buffer, encoding="UTF-8") as xf:
        xf.write_declaration()
        root_attributes = {SCHEMA_LOCATION: f"{OAI_NS} {OAI_SCHEMA}"}
        nsmap = {None: OAI_NS, "xsi": XSI_NS}
        with xf.element(oai("OAI-PMH"), root_attributes, nsmap=nsmap):
            with xf.element(oai("responseDate")):
                xf.write(datestamp(timezone.now()))
            with xf.element(oai("request"), arguments or {}):
                xf.write(base_url)

            if container is None:
                for child in children:
                    write_element(xf, child, nsmap)
            else:
                with xf.element(oai(container)):
                    for child in children:
                        write_element(xf, child, nsmap)
                        if buffer.tell() >= CHUNK_SIZE:
                            xf.flush()
                            yield take(buffer)
    yield take(buffer)


def take(buffer):
    data = buffer.getvalue()
    buffer.seek(0)
    buffer.truncate()
    return data


def write_element(xf, element, inherited_nsmap):
    """Write an lxml element through `xf`, declaring only new namespaces.

    xf.write(element) would repeat the OAI namespace declaration on every
    record, so the tree is written one element at a time.
    """
    nsmap = {
        prefix: uri
        for prefix, uri in element.nsmap.items()
        if inherited_nsmap.get(prefix) != uri
    }
    with xf.element(element.tag, dict(element.attrib), nsmap=nsmap or None):
        if element.text:
            xf.write(element.text)
        for child in element:
            write_element(xf, child, element.nsmap)


def error(code, message):
    element = etree.Element(oai("error"), {"code": code}, nsmap={None: OAI_NS})
    element.text = xml_text(message)
    return element


# Identify, formats and sets ---------------------------------------------------


def identify(
    *,
    repository_name,
    base_url,
    admin_emails,
    earliest,
    repository_identifier,
    sample_slug,
):
    element = etree.Element(oai("Identify"), nsmap={None: OAI_NS})
    text_element(element, oai("repositoryName"), repository_name)
    text_element(element, oai("baseURL"), base_url)
    text_element(element, oai("protocolVersion"), "2.0")
    for email in admin_emails:
        text_element(element, oai("adminEmail"), email)
    text_element(element, oai("earliestDatestamp"), datestamp(earliest))
    text_element(element, oai("deletedRecord"), "transient")
    text_element(element, oai("granularity"), "YYYY-MM-DDThh:mm:ssZ")
    if repository_identifier is not None:
        description = etree.SubElement(element, oai("description"))
        description.append(
            oai_identifier_description(repository_identifier, sample_slug)
        )
    # render() writes these children into its own Identify element, so the
    # wrapper built here is dropped.
    return list(element)


def oai_identifier_description(repository_identifier, sample_slug):
    """Return the oai-identifier element that states the identifier scheme."""
    nsmap = {None: OAI_IDENTIFIER_NS, "xsi": XSI_NS}
    location = f"{OAI_IDENTIFIER_NS} {OAI_IDENTIFIER_SCHEMA}"
    element = etree.Element(
        f"{{{OAI_IDENTIFIER_NS}}}oai-identifier",
        {SCHEMA_LOCATION: location},
        nsmap=nsmap,
    )
    for name, text in [
        ("scheme", "oai"),
        ("repositoryIdentifier", repository_identifier),
        ("delimiter", ":"),
        ("sampleIdentifier", f"oai:{repository_identifier}:{sample_slug}"),
    ]:
        text_element(element, f"{{{OAI_IDENTIFIER_NS}}}{name}", text)
    return element


def metadata_format():
    element = etree.Element(oai("metadataFormat"), nsmap={None: OAI_NS})
    text_element(element, oai("metadataPrefix"), "oai_dc")
    text_element(element, oai("schema"), OAI_DC_SCHEMA)
    text_element(element, oai("metadataNamespace"), OAI_DC_NS)
    return element


def set_element(description):
    """Return the set of a top-level description, with its scope and content
    as the set description."""
    element = etree.Element(oai("set"), nsmap={None: OAI_NS})
    text_element(element, oai("setSpec"), description.slug)
    text_element(element, oai("setName"), description.title)
    if description.scope_and_content:
        container = etree.SubElement(element, oai("setDescription"))
        dc = oai_dc_root()
        text_element(dc, f"{{{DC_NS}}}description", description.scope_and_content)
        container.append(dc)
    return element


def resumption_token(token, *, cursor, complete_list_size, expiration=None):
    """Return a resumptionToken element. An empty `token` marks the last page."""
    attributes = {"cursor": str(cursor), "completeListSize": str(complete_list_size)}
    if token and expiration is not None:
        attributes["expirationDate"] = datestamp(expiration)
    element = etree.Element(oai("resumptionToken"), attributes, nsmap={None: OAI_NS})
    element.text = token or None
    return element


# Records ----------------------------------------------------------------------


def header(item):
    attributes = {"status": "deleted"} if item.deleted else {}
    element = etree.Element(oai("header"), attributes, nsmap={None: OAI_NS})
    text_element(element, oai("identifier"), item.identifier)
    text_element(element, oai("datestamp"), datestamp(item.datestamp))
    if item.set_spec:
        text_element(element, oai("setSpec"), item.set_spec)
    return element


def record(item, request):
    """Return the record of an item: its header, and oai_dc unless deleted."""
    element = etree.Element(oai("record"), nsmap={None: OAI_NS})
    element.append(header(item))
    if not item.deleted:
        metadata = etree.SubElement(element, oai("metadata"))
        metadata.append(oai_dc(item.description, request))
    return element


def oai_dc_root():
    return etree.Element(
        f"{{{OAI_DC_NS}}}dc",
        {SCHEMA_LOCATION: f"{OAI_DC_NS} {OAI_DC_SCHEMA}"},
        nsmap={"oai_dc": OAI_DC_NS, "dc": DC_NS, "xsi": XSI_NS},
    )


def oai_dc(description, request):
    """Return the oai_dc:dc element of a published description."""
    root = oai_dc_root()
    for name, value in dublin_core(description, request):
        text_element(root, f"{{{DC_NS}}}{name}", value)
    return root


def dublin_core(description, request):
    """Return the (DC element, value) pairs of a description, in DC order.

    Text that the ingest joined from repeated DC elements with newlines
    (dates, types, extents, reference codes) is split again. Scope and
    content, location of originals and access conditions stay whole, because
    they are prose whose lines belong together.
    """

    def url_of(target):
        path = reverse("description", args=[target.slug])
        return request.build_absolute_uri(path)

    parent = description.parent
    digital_file = getattr(description, "digital_file", None)
    formats = lines(description.extent_and_medium)
    if digital_file is not None and digital_file.mime_type:
        formats.append(digital_file.mime_type)
    relations = []
    if parent is not None and parent.publication_status == PUBLISHED:
        relations.append(url_of(parent))

    elements = [
        ("title", [description.title]),
        ("creator", entries(description.creators)),
        ("subject", entries(description.subject_access_points)),
        ("description", [description.scope_and_content]),
        ("publisher", entries(description.publishers)),
        ("contributor", entries(description.contributors)),
        ("date", lines(description.date_display)),
        ("type", lines(description.dc_type)),
        ("format", formats),
        ("identifier", [url_of(description), *lines(description.identifier)]),
        ("source", [description.location_of_originals]),
        ("language", entries(description.languages)),
        ("relation", relations),
        ("coverage", entries(description.place_access_points)),
        ("rights", [description.access_conditions]),
    ]
    return [
        (name, value.strip())
        for name, values in elements
        for value in values
        if value and value.strip()
    ]


def lines(text):
    return [line.strip() for line in (text or "").splitlines() if line.strip()]


def entries(values):
    """Return the non-empty strings of a JSON list field."""
    if not isinstance(values, list):
        values = [values]
    return [str(value) for value in values if value not in (None, "")]
