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


def service_document(targets, *, url_for, has_children, packagings, mediation=False):
    """Build a SWORD 1.3 service document that lists `targets` as collections.

    `url_for(name, slug)` builds an absolute URL for a SWORD view, and
    `has_children(target)` tells whether a nested sword:service link is due.
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
        if has_children(target):
            collection.append(
                SWORD.service(url_for("sword-servicedocument", target.slug))
            )
        workspace.append(collection)

    return APP.service(
        SWORD.version("1.3"),
        SWORD.verbose("false"),
        SWORD.noOp("true"),
        SWORD.maxUploadSize(str(settings.MAX_UPLOAD_SIZE_KB)),
        workspace,
    )


def treatment_text(target):
    return (
        f"The DIP is queued and a worker ingests its METS into descriptions under"
        f" {target.title!r}; the deposit's status link reports the outcome."
    )


def deposit_entry(deposit, *, status_url, page_url, no_op=False, summary=""):
    """Build the Atom entry that answers an accepted deposit."""
    entry = ATOM.entry(
        ATOM.title(f"Deposit {deposit.id} into {deposit.target_slug}"),
        ATOM.id(f"urn:uuid:{deposit.uuid}"),
        ATOM.updated(timezone.now().isoformat()),
        ATOM.author(ATOM.name(deposit.depositor.get_username())),
        generator(),
        ATOM.summary(summary or f"Deposit {deposit.id} is {deposit.state}."),
        ATOM.link(rel="alternate", href=page_url, type="text/html"),
        ATOM.link(rel="alternate", href=status_url, type="application/json"),
        ATOM.link(rel="edit", href=status_url),
        ATOM.content(type="application/json", src=status_url),
        SWORD.treatment(
            treatment_text(deposit.target)
            if not no_op
            else "No-op: nothing was created."
        ),
        SWORD.packaging(deposit.packaging),
        SWORD.noOp(text_bool(no_op)),
        SWORD.userAgent(deposit.user_agent),
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
