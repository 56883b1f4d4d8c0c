"""SWORD 2.0 endpoints.

A deposit is a container: POST a zip to a collection (Col-IRI) and get 201 with
a deposit receipt whose Edit-IRI names the container. With In-Progress: true
the container collects further zips (POST to the Edit-IRI or the EM-IRI) until
an empty POST with In-Progress: false queues it. The statements report the
state as it moves from queued through processing to completed or failed. A
container that has not been ingested yet can be deleted.
"""

import logging

from django.db import transaction
from django.http import FileResponse, HttpResponse
from django.urls import reverse

from depositum.deposits import lifecycle, signals
from depositum.deposits.models import Deposit, Source, State
from depositum.sword import documents, documents2
from depositum.sword.common import (
    DEPOSITUM_ERROR,
    SwordError,
    check_reference,
    content_length,
    error_renderer,
    find_target,
    header_flag,
    mediated_owner,
    new_upload_folder,
    not_found_view,
    publish_part,
    receive_part,
    reject_known_aip,
    remove_upload_folder,
    requested_packaging,
    require_method,
    require_mets,
    require_user,
    service_document_response,
    sword_view,
)

logger = logging.getLogger(__name__)

ATOM_ENTRY = "application/atom+xml;type=entry"
ATOM_FEED = "application/atom+xml;type=feed"
render_error = error_renderer(documents2.error_document)


def container_urls(request, deposit):
    def url(name):
        return request.build_absolute_uri(reverse(name, args=[deposit.id]))

    return {
        "edit": url("sword2-edit"),
        "edit-media": url("sword2-edit-media"),
        "statement": url("sword2-statement"),
        "ore": url("sword2-statement-ore"),
        "page": request.build_absolute_uri(deposit.get_absolute_url()),
        "status": request.build_absolute_uri(deposit.get_api_url()),
    }


def receipt_response(request, deposit, status, *, verbose=False):
    urls = container_urls(request, deposit)
    verbose_description = documents.verbose_text(deposit) if verbose else None
    receipt = documents2.deposit_receipt(
        deposit, urls, verbose_description=verbose_description
    )
    response = HttpResponse(
        documents2.to_bytes(receipt), status=status, content_type=ATOM_ENTRY
    )
    response["Location"] = urls["edit"]
    return response


@sword_view(render_error)
def service_document(request, slug=None):
    return service_document_response(request, slug, documents2.service_document)


@sword_view(render_error)
def collection(request, slug):
    """Col-IRI: create a container from a zip, a folder reference or an entry."""
    user = require_user(request)
    require_method(request, "POST")
    target = find_target(slug, user)
    packaging = requested_packaging(request)
    owner = mediated_owner(request, user, target)
    in_progress = header_flag(request, "In-Progress")
    reject_multipart(request)
    if header_flag(request, "X-No-Op"):
        raise SwordError(
            400,
            "ErrorBadRequest",
            "X-No-Op is a SWORD 1.3 header, and SWORD 2.0 has no dry run: send"
            " the dry run to /sword/deposit/<target>, or leave the header out",
        )

    record = Deposit(
        target=target,
        target_slug=target.slug,
        depositor=user,
        owner=owner,
        packaging=packaging,
        user_agent=request.headers.get("User-Agent", "")[:1024],
        state=State.COLLECTING if in_progress else State.QUEUED,
    )

    content_location = request.headers.get("Content-Location", "").strip()
    if content_location:
        if in_progress:
            raise SwordError(
                400,
                "ErrorBadRequest",
                "A deposit by reference (Content-Location) is complete in itself:"
                " send it without In-Progress: true",
            )
        folder = check_reference(content_location)
        record.source, record.path, record.filename = (
            Source.REFERENCE,
            str(folder),
            folder.name,
        )
        reject_known_aip(record)
        record.save()
    else:
        record.source = Source.UPLOAD
        record.uuid, folder = new_upload_folder()
        record.path = str(folder)
        folder.mkdir(parents=True, exist_ok=True)
        try:
            if not is_atom_entry(request):
                length = content_length(request)
                if length == 0:
                    raise SwordError(
                        400,
                        "ErrorBadRequest",
                        "The request has no body: send the DIP as a zip",
                    )
                part = receive_part(request, folder, length)
                record.parts = [part]
                record.size = part["size"]
                record.filename = part["filename"]
                if not in_progress:
                    require_mets(record)
                reject_known_aip(record)
            elif not in_progress:
                raise SwordError(
                    400,
                    "ErrorBadRequest",
                    "An Atom entry alone carries no DIP: send the zip, or create the"
                    " container with In-Progress: true and add the zips to it",
                )
            record.save()
        except BaseException:
            remove_upload_folder(folder)
            raise

    logger.info(
        "SWORD 2 deposit %s received from %s into %s (%s)",
        record.id,
        user.get_username(),
        target.slug,
        record.state,
    )
    signals.send(signals.deposit_received, deposit=record)
    if record.state == State.QUEUED:
        transaction.on_commit(lambda: lifecycle.enqueue(record.id))
    return receipt_response(
        request, record, 201, verbose=header_flag(request, "X-Verbose")
    )


def is_atom_entry(request):
    return request.content_type == "application/atom+xml"


def reject_multipart(request):
    if request.content_type.startswith("multipart/"):
        raise SwordError(
            415,
            "ErrorContent",
            "Multipart deposits are not supported: send the zip as a binary"
            " deposit with Content-Disposition and Packaging",
        )


def find_container(request, deposit_id):
    """Return the container `deposit_id` if the authenticated user may see it."""
    user = require_user(request)
    deposit = (
        Deposit.objects.select_related(
            "depositor", "owner", "target", "top_description"
        )
        .filter(id=deposit_id)
        .first()
    )
    if deposit is not None and not (deposit.may_be_changed_by(user) or user.is_staff):
        # The same response as for a missing deposit, so ids reveal nothing.
        deposit = None
    if deposit is None:
        raise SwordError(
            404,
            DEPOSITUM_ERROR + "NotFound",
            f"No deposit of yours has the id {deposit_id}: check the Edit-IRI",
        )
    return deposit


def require_collecting(deposit, action):
    if deposit.state != State.COLLECTING:
        raise SwordError(
            409,
            DEPOSITUM_ERROR + "NotInProgress",
            f"Cannot {action} deposit {deposit.id}: it is {deposit.state}, and only"
            " a container created with In-Progress: true accepts changes until it"
            " is completed",
        )


@sword_view(render_error)
def edit(request, deposit_id):
    """Edit-IRI and SE-IRI: the receipt, more zips, completion and deletion."""
    require_method(request, "GET", "HEAD", "POST", "DELETE")
    deposit = find_container(request, deposit_id)

    if request.method in ("GET", "HEAD"):
        return receipt_response(request, deposit, 200)
    if request.method == "DELETE":
        return delete_container(deposit)

    reject_multipart(request)
    in_progress = header_flag(request, "In-Progress")
    has_body = "Content-Length" in request.headers or (
        "Transfer-Encoding" in request.headers
    )
    length = content_length(request) if has_body else 0
    added = False
    if length and not is_atom_entry(request):
        require_collecting(deposit, "add a zip to")
        add_part(request, deposit, length)
        added = True
    if not in_progress:
        complete(deposit)
    deposit.refresh_from_db()
    return receipt_response(request, deposit, 201 if added else 200)


def add_part(request, deposit, length, *, replace=False):
    """Store the body as the next zip of a collecting container, or as its only
    zip if `replace` is true.

    The zip stays hidden until the container is checked again under a row
    lock, so a zip that races the completion is rejected, not ingested. The
    zips it replaces are removed only after the new one was stored and
    checked, so a rejected replacement leaves the container as it was.
    """
    requested_packaging(request)
    folder = deposit.upload_folder()
    part = receive_part(request, folder, length, publish=False)
    with transaction.atomic():
        current = Deposit.objects.select_for_update().filter(id=deposit.id).first()
        if current is None or current.state != State.COLLECTING:
            (folder / f"{part['name']}.part").unlink(missing_ok=True)
            require_collecting(current or deposit, "add a zip to")
        replaced = current.upload_parts() if replace else []
        publish_part(folder, part)
        if replace:
            current.parts = [part]
            current.filename = part["filename"]
        else:
            current.parts = current.parts + [part]
            current.filename = current.filename or part["filename"]
        current.size = sum(p["size"] for p in current.parts)
        current.save(update_fields=["parts", "size", "filename"])
    for path in replaced:
        path.unlink(missing_ok=True)
    logger.info(
        "SWORD 2 deposit %s: %s %s (%s bytes)",
        deposit.id,
        "replaced its zips with" if replace else "added",
        part["filename"] or part["name"],
        part["size"],
    )


def complete(deposit):
    """Queue a collecting container for ingest; a queued one stays as it is."""
    with transaction.atomic():
        current = Deposit.objects.select_for_update().filter(id=deposit.id).first()
        if current is None:
            raise SwordError(
                404,
                DEPOSITUM_ERROR + "NotFound",
                f"Deposit {deposit.id} was deleted before it could be completed",
            )
        if current.state != State.COLLECTING:
            return
        if not current.upload_parts():
            raise SwordError(
                400,
                "ErrorBadRequest",
                f"Deposit {deposit.id} has no zip yet: add the DIP's zip before"
                " completing it",
            )
        require_mets(current)
        current.state = State.QUEUED
        current.save(update_fields=["state"])

    logger.info("SWORD 2 deposit %s completed by its depositor; queued", deposit.id)
    transaction.on_commit(lambda: lifecycle.enqueue(deposit.id))


def delete_container(deposit):
    deleted, _ = Deposit.objects.filter(
        id=deposit.id, state__in=[State.COLLECTING, State.QUEUED]
    ).delete()
    if not deleted:
        raise SwordError(
            409,
            DEPOSITUM_ERROR + "AlreadyIngested",
            f"Deposit {deposit.id} is {deposit.state}: only a deposit that is still"
            " collecting or queued can be deleted",
        )
    if deposit.source == Source.UPLOAD:
        remove_upload_folder(deposit.path)
    logger.info("SWORD 2 deposit %s deleted by its depositor", deposit.id)
    return HttpResponse(status=204)


@sword_view(render_error)
def edit_media(request, deposit_id, part=None):
    """EM-IRI: the uploaded zips; add (POST), replace (PUT) or remove (DELETE)."""
    require_method(request, "GET", "HEAD", "POST", "PUT", "DELETE")
    deposit = find_container(request, deposit_id)

    if request.method in ("GET", "HEAD"):
        return media_response(deposit, part)

    require_collecting(deposit, "change the content of")
    if request.method == "DELETE":
        remove_parts(deposit)
        return HttpResponse(status=204)

    length = content_length(request)
    add_part(request, deposit, length, replace=request.method == "PUT")
    if not header_flag(request, "In-Progress", default=True):
        complete(deposit)
    deposit.refresh_from_db()
    if request.method == "PUT":
        return HttpResponse(status=204)
    return receipt_response(request, deposit, 201)


def media_response(deposit, part):
    parts = {path.name: path for path in deposit.upload_parts()}
    if part is None and len(parts) == 1:
        part = next(iter(parts))
    recorded = {entry["name"] for entry in deposit.parts}
    removed = part in recorded or (part is None and recorded and not parts)
    if part not in parts and removed:
        raise SwordError(
            410,
            DEPOSITUM_ERROR + "Gone",
            f"The zips of deposit {deposit.id} were removed after its ingest; the"
            " statement lists what was received",
        )
    if part not in parts:
        raise SwordError(
            404,
            DEPOSITUM_ERROR + "NotFound",
            f"Deposit {deposit.id} has {len(parts)} zips"
            f" ({', '.join(sorted(parts)) or 'none'}): fetch one by its name",
        )
    return FileResponse(open(parts[part], "rb"), content_type="application/zip")


def remove_parts(deposit):
    for path in deposit.upload_parts():
        path.unlink(missing_ok=True)
    deposit.parts = []
    Deposit.objects.filter(id=deposit.id).update(parts=[], size=None, filename="")


@sword_view(render_error)
def statement(request, deposit_id):
    require_method(request, "GET", "HEAD")
    deposit = find_container(request, deposit_id)
    feed = documents2.atom_statement(deposit, container_urls(request, deposit))
    return HttpResponse(documents2.to_bytes(feed), content_type=ATOM_FEED)


@sword_view(render_error)
def statement_ore(request, deposit_id):
    require_method(request, "GET", "HEAD")
    deposit = find_container(request, deposit_id)
    document = documents2.ore_statement(deposit, container_urls(request, deposit))
    return HttpResponse(
        documents2.to_bytes(document), content_type="application/rdf+xml"
    )


not_found = not_found_view(render_error)
