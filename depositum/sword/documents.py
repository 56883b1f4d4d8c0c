"""SWORD 1.3 documents: the service document, deposit receipts and errors."""

from django.conf import settings
from django.utils import timezone
from lxml import etree
from lxml.builder import ElementMaker

import depositum

ATOM_NS = "http://www.w3.org/2005/Atom"
APP_NS = "http://www.w3.org/2007/app"
SWORD_NS = "http://purl.org/net/sword/"
DCTERMS_NS = "http://purl.org/dc/terms/"
SWORD_ERROR = "http://purl.org/net/sword/error/"

NSMAP = {None: ATOM_NS, "sword": SWORD_NS}
SERVICE_NSMAP = {
    None: APP_NS,
    "atom": ATOM_NS,
    "sword": SWORD_NS,
    "dcterms": DCTERMS_NS,
}

ATOM = ElementMaker(namespace=ATOM_NS, nsmap=NSMAP)
APP = ElementMaker(namespace=APP_NS, nsmap=SERVICE_NSMAP)
SWORD = ElementMaker(namespace=SWORD_NS)
DCTERMS = ElementMaker(namespace=DCTERMS_NS)
ATOM_IN_SERVICE = ElementMaker(namespace=ATOM_NS)

GENERATOR_URI = "https://pypi.org/project/depositum/"


def to_bytes(element):
    return etree.tostring(element, xml_declaration=True, encoding="utf-8")


def text_bool(value):
    return "true" if value else "false"


def generator():
    return ATOM.generator("depositum", uri=GENERATOR_URI, version=depositum.__version__)


def service_document(targets, *, url_for, packagings, mediation=False):
    """Build a SWORD 1.3 service document that lists `targets` as collections.

    `url_for(name, slug)` builds an absolute URL for a SWORD view. A target whose
    `has_children` is true gets a nested sword:service link.
    """
    workspace = APP.workspace(ATOM_IN_SERVICE.title(settings.SITE_TITLE))
    for target in targets:
        collection = APP.collection(
            ATOM_IN_SERVICE.title(target.title),
            APP.accept("application/zip"),
            href=url_for("sword-deposit", target.slug),
        )
        for index, packaging in enumerate(packagings):
            quality = "1.0" if index == 0 else "0.9"
            collection.append(SWORD.acceptPackaging(packaging, q=quality))
        collection.extend(
            [
                SWORD.collectionPolicy(
                    "Deposit an Archivematica DIP, by reference to a folder in the"
                    " deposit directory or as a zip in the request body."
                ),
                DCTERMS.abstract(
                    f"Ingest DIPs as descriptions under {target.title!r}"
                    f" ({target.level_of_description or 'description'})."
                ),
                SWORD.mediation(text_bool(mediation)),
                SWORD.treatment(treatment_text(target)),
            ]
        )
        if target.has_children:
            collection.append(
                SWORD.service(url_for("sword-servicedocument", target.slug))
            )
        workspace.append(collection)

    return APP.service(
        SWORD.version("1.3"),
        SWORD.verbose("true"),
        SWORD.noOp("true"),
        SWORD.maxUploadSize(str(settings.MAX_UPLOAD_SIZE_KB)),
        workspace,
    )


def treatment_text(target):
    return (
        f"The DIP is queued and a worker ingests its METS into descriptions under"
        f" {target.title!r}; the deposit's status link reports the outcome."
    )


def deposit_entry(deposit, *, status_url, page_url, summary, verbose_description=None):
    """Build the Atom entry of the response to a deposit.

    Without `status_url` the entry is the response to an X-No-Op request. It
    has no links, and its treatment states that nothing was stored.
    """
    no_op = status_url is None
    identifier = f"urn:uuid:{deposit.uuid}"
    entry = ATOM.entry(
        ATOM.title(
            f"Deposit {deposit.id} into {deposit.target_slug}"
            if not no_op
            else f"No-op deposit into {deposit.target_slug}"
        ),
        ATOM.id(identifier),
        ATOM.updated(timezone.now().isoformat()),
        ATOM.author(ATOM.name(deposit.depositor.get_username())),
    )
    if deposit.owner is not None:
        entry.append(ATOM.contributor(ATOM.name(deposit.owner.get_username())))
    entry.extend([generator(), ATOM.summary(summary)])
    if not no_op:
        entry.extend(
            [
                ATOM.link(rel="alternate", href=page_url, type="text/html"),
                ATOM.link(rel="alternate", href=status_url, type="application/json"),
                ATOM.link(rel="edit", href=status_url),
                ATOM.content(type="application/json", src=status_url),
            ]
        )
    entry.extend(
        [
            SWORD.treatment(
                "No-op: the package was read as an ingest would read it, and"
                " nothing was stored."
                if no_op
                else treatment_text(deposit.target)
            ),
            SWORD.packaging(deposit.packaging),
            SWORD.noOp(text_bool(no_op)),
            SWORD.userAgent(deposit.user_agent),
        ]
    )
    if verbose_description:
        entry.append(SWORD.verboseDescription(verbose_description))
    return entry


def verbose_text(deposit, report=None):
    """Describe for sword:verboseDescription what the service did with a deposit."""
    lines = [
        f"User: {deposit.depositor.get_username()}",
        f"Target: {deposit.target_slug} ({deposit.target.title})",
        f"Packaging: {deposit.packaging}",
    ]
    if deposit.owner is not None:
        lines.append(f"On behalf of: {deposit.owner.get_username()}")
    if deposit.source == "reference":
        lines.append(
            f"By reference: folder {deposit.filename} in the deposit directory"
        )
    else:
        lines.append(
            f"By value: zip {deposit.filename or '(unnamed)'}, {deposit.size} bytes"
        )
    if report is not None:
        lines.append(report.summary)
        lines.extend(report.details)
    else:
        lines.append(f"Queued as deposit {deposit.id}")
    return "\n".join(lines)


def status_entry(deposit, *, status_url, page_url, statement_url, description_url):
    """Build an Atom entry that reports the state of a deposit.

    SWORD 1.3 has no statement, so a 1.3 client follows the deposit's Location
    here; the state is an atom:category in the SWORD 2 state scheme.
    """
    from depositum.sword.documents2 import STATE_SCHEME, STATE_URI, state_description

    entry = ATOM.entry(
        ATOM.title(f"Deposit {deposit.id} into {deposit.target_slug}"),
        ATOM.id(f"urn:uuid:{deposit.uuid}"),
        ATOM.updated(
            (
                deposit.finished_at or deposit.started_at or deposit.created_at
            ).isoformat()
        ),
        ATOM.author(
            ATOM.name(deposit.depositor.get_username() if deposit.depositor else "")
        ),
        generator(),
        ATOM.summary(state_description(deposit, bool(description_url))),
        ATOM.category(
            state_description(deposit, bool(description_url)),
            scheme=STATE_SCHEME,
            term=STATE_URI + deposit.state,
            label="State",
        ),
        ATOM.link(rel="self", href=status_url),
        ATOM.link(rel="alternate", href=page_url, type="text/html"),
        ATOM.link(
            rel="http://purl.org/net/sword/terms/statement",
            href=statement_url,
            type="application/atom+xml;type=feed",
        ),
        SWORD.packaging(deposit.packaging),
        SWORD.userAgent(deposit.user_agent),
    )
    if description_url:
        entry.append(
            ATOM.link(
                rel="related",
                href=description_url,
                type="text/html",
                title=deposit.top_description.title,
            )
        )
    return entry


def error_document(name, summary, *, user_agent=""):
    """Build a sword:error document; `name` is a SWORD error name or a full URI."""
    href = name if ":" in name else SWORD_ERROR + name
    element = ATOM.error(
        ATOM.title("ERROR"),
        ATOM.updated(timezone.now().isoformat()),
        generator(),
        ATOM.summary(summary),
        SWORD.treatment("Deposit failed: nothing was stored."),
        SWORD.userAgent(user_agent),
        href=href,
    )
    # The error element lives in the SWORD namespace while its children are Atom.
    element.tag = f"{{{SWORD_NS}}}error"
    return element
