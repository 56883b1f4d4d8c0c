"""SWORD 2.0 documents: service document, deposit receipt, statements, errors."""

from datetime import UTC, datetime

from django.conf import settings
from django.utils import timezone
from lxml.builder import ElementMaker

from depositum.deposits.models import State
from depositum.sword.documents import (
    APP_NS,
    ATOM_NS,
    DCTERMS_NS,
    SWORD_ERROR,
    generator,
    to_bytes,
    treatment_text,
)

SWORD2_NS = "http://purl.org/net/sword/terms/"
RDF_NS = "http://www.w3.org/1999/02/22-rdf-syntax-ns#"
ORE_NS = "http://www.openarchives.org/ore/terms/"
STATE_SCHEME = "http://purl.org/net/sword/terms/state"
STATE_URI = "urn:depositum:state:"
ORIGINAL_DEPOSIT = "http://purl.org/net/sword/terms/originalDeposit"

ATOM = ElementMaker(namespace=ATOM_NS, nsmap={None: ATOM_NS, "sword": SWORD2_NS})
APP = ElementMaker(
    namespace=APP_NS,
    nsmap={None: APP_NS, "atom": ATOM_NS, "sword": SWORD2_NS, "dcterms": DCTERMS_NS},
)
ATOM_IN_SERVICE = ElementMaker(namespace=ATOM_NS)
SWORD = ElementMaker(namespace=SWORD2_NS)
DCTERMS = ElementMaker(namespace=DCTERMS_NS)
RDF = ElementMaker(
    namespace=RDF_NS, nsmap={"rdf": RDF_NS, "ore": ORE_NS, "sword": SWORD2_NS}
)
ORE = ElementMaker(namespace=ORE_NS)

__all__ = ["to_bytes"]


def service_document(targets, *, url_for, packagings, mediation):
    """Build a SWORD 2.0 service document with a collection per target."""
    workspace = APP.workspace(ATOM_IN_SERVICE.title(settings.SITE_TITLE))
    for target in targets:
        collection = APP.collection(
            ATOM_IN_SERVICE.title(target.title),
            APP.accept("application/zip"),
            APP.accept("application/atom+xml;type=entry"),
            href=url_for("sword2-collection", target.slug),
        )
        collection.extend(
            [
                SWORD.collectionPolicy(
                    "Deposit an Archivematica DIP as a zip; several zips may be"
                    " sent to one container with In-Progress: true."
                ),
                DCTERMS.abstract(
                    f"Ingest DIPs as descriptions under {target.title!r}."
                ),
                SWORD.treatment(treatment_text(target)),
                SWORD.mediation("true" if mediation else "false"),
            ]
        )
        for packaging in packagings:
            collection.append(SWORD.acceptPackaging(packaging))
        if target.has_children:
            collection.append(
                SWORD.service(url_for("sword2-servicedocument", target.slug))
            )
        workspace.append(collection)

    return APP.service(
        SWORD.version("2.0"),
        SWORD.maxUploadSize(str(settings.MAX_UPLOAD_SIZE_KB)),
        workspace,
    )


def state_description(deposit, name_description=True):
    """Return a sentence on the deposit's state; SWORD 2 clients need the text.

    With `name_description` false the sentence leaves out the slug of the
    description created, for a reader who may not see it.
    """
    if deposit.state == State.COLLECTING:
        return (
            f"Collecting: {len(deposit.parts)} zips received. Complete the"
            " deposit with an empty POST to its Edit-IRI and In-Progress: false"
        )
    if deposit.state == State.QUEUED:
        return "Queued: waiting for a worker to ingest the DIP"
    if deposit.state == State.PROCESSING:
        return (
            f"Processing: {deposit.progress_done} of {deposit.progress_total} files"
            " stored"
        )
    if deposit.state == State.COMPLETED:
        top = deposit.top_description
        where = f" as {top.slug!r}" if top and name_description else ""
        return (
            f"Completed: {deposit.descriptions_created} descriptions ingested{where}"
            f" under {deposit.target_slug!r}, with {len(deposit.warnings)} warnings"
        )
    return f"Failed: {deposit.error}"


def deposit_receipt(deposit, urls, *, verbose_description=None):
    """Build the deposit receipt: an Atom entry with the container's IRIs."""
    entry = ATOM.entry(
        ATOM.title(f"Deposit {deposit.id} into {deposit.target_slug}"),
        ATOM.id(f"urn:uuid:{deposit.uuid}"),
        ATOM.updated(timezone.now().isoformat()),
        ATOM.author(ATOM.name(deposit.depositor.get_username())),
        generator(),
        ATOM.summary(state_description(deposit)),
        ATOM.content(type="application/zip", src=urls["edit-media"]),
        ATOM.link(rel="edit", href=urls["edit"]),
        ATOM.link(rel="edit-media", href=urls["edit-media"]),
        ATOM.link(rel=f"{SWORD2_NS}add", href=urls["edit"]),
        ATOM.link(
            rel=f"{SWORD2_NS}statement",
            href=urls["statement"],
            type="application/atom+xml;type=feed",
        ),
        ATOM.link(
            rel=f"{SWORD2_NS}statement",
            href=urls["ore"],
            type="application/rdf+xml",
        ),
        ATOM.link(rel="alternate", href=urls["page"], type="text/html"),
        ATOM.link(rel="alternate", href=urls["status"], type="application/json"),
        SWORD.packaging(deposit.packaging),
        SWORD.treatment(treatment_text(deposit.target)),
    )
    if deposit.owner is not None:
        entry.append(ATOM.contributor(ATOM.name(deposit.owner.get_username())))
    if verbose_description:
        entry.append(SWORD.verboseDescription(verbose_description))
    return entry


def atom_statement(deposit, urls):
    """Build the Atom statement: the state, and an entry per uploaded zip."""
    feed = ATOM.feed(
        ATOM.id(f"urn:uuid:{deposit.uuid}:statement"),
        ATOM.title(f"Statement of deposit {deposit.id}"),
        ATOM.updated(timezone.now().isoformat()),
        ATOM.author(ATOM.name(deposit.depositor.get_username())),
        ATOM.link(rel="self", href=urls["statement"]),
        ATOM.category(
            state_description(deposit),
            scheme=STATE_SCHEME,
            term=STATE_URI + deposit.state,
            label="State",
        ),
    )
    for part in deposit.parts:
        part_url = f"{urls['edit-media']}/{part['name']}"
        feed.append(
            ATOM.entry(
                ATOM.id(part_url),
                ATOM.title(part["filename"] or part["name"]),
                ATOM.updated(part["received_at"]),
                ATOM.content(type="application/zip", src=part_url),
                ATOM.category(
                    term=ORIGINAL_DEPOSIT,
                    scheme=f"{SWORD2_NS}",
                    label="Original Deposit",
                ),
                SWORD.packaging(deposit.packaging),
                SWORD.depositedOn(deposited_on(part)),
                SWORD.depositedBy(deposit.depositor.get_username()),
            )
        )
    return feed


def deposited_on(part):
    """Return when a zip arrived, in the UTC form that SWORD clients parse."""
    received = datetime.fromisoformat(part["received_at"]).astimezone(UTC)
    return received.strftime("%Y-%m-%dT%H:%M:%SZ")


def ore_statement(deposit, urls):
    """Build the OAI-ORE statement (RDF/XML) of the container and its state."""
    about = f"{{{RDF_NS}}}about"
    resource = f"{{{RDF_NS}}}resource"
    state_uri = STATE_URI + deposit.state
    parts = {f"{urls['edit-media']}/{part['name']}": part for part in deposit.parts}

    aggregation = RDF.Description(
        ORE.isDescribedBy(**{resource: urls["ore"]}),
        SWORD.state(**{resource: state_uri}),
        **{about: urls["edit"]},
    )
    for part in parts:
        aggregation.append(ORE.aggregates(**{resource: part}))
        aggregation.append(SWORD.originalDeposit(**{resource: part}))

    document = RDF.RDF(
        RDF.Description(
            ORE.describes(**{resource: urls["edit"]}), **{about: urls["ore"]}
        ),
        aggregation,
        RDF.Description(
            SWORD.stateDescription(state_description(deposit)), **{about: state_uri}
        ),
    )
    for part_url, part in parts.items():
        document.append(
            RDF.Description(
                SWORD.packaging(**{resource: deposit.packaging}),
                SWORD.depositedOn(deposited_on(part)),
                SWORD.depositedBy(deposit.depositor.get_username()),
                **{about: part_url},
            )
        )
    return document


def error_document(name, summary, *, user_agent=""):
    """Build a SWORD 2.0 sword:error document."""
    element = ATOM.error(
        ATOM.title("ERROR"),
        ATOM.updated(timezone.now().isoformat()),
        generator(),
        ATOM.summary(summary),
        SWORD.treatment("Nothing was stored."),
        SWORD.userAgent(user_agent),
        href=name if ":" in name else SWORD_ERROR + name,
    )
    element.tag = f"{{{SWORD2_NS}}}error"
    return element
