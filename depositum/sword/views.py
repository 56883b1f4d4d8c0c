"""SWORD 1.3 endpoints: the service document and the deposit of a DIP.

The response to a deposit is sent as soon as its row is committed as queued. A
worker does the ingest later, and the Location header leads to its status.
"""

import logging

from django.conf import settings
from django.db import transaction
from django.http import HttpResponse

from depositum.deposits import lifecycle, signals
from depositum.deposits.models import Deposit, Source
from depositum.sword import documents
from depositum.sword.common import (
    SwordError,
    check_reference,
    content_length,
    error_renderer,
    find_target,
    header_flag,
    mediated_owner,
    new_upload_folder,
    not_found_view,
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
from depositum.sword.dryrun import dry_run

logger = logging.getLogger(__name__)

ATOM_ENTRY = "application/atom+xml;type=entry"
render_error = error_renderer(documents.error_document)


@sword_view(render_error)
def service_document(request, slug=None):
    return service_document_response(request, slug, documents.service_document)


@sword_view(render_error)
def deposit(request, slug):
    user = require_user(request)
    require_method(request, "POST")
    target = find_target(slug, user)
    packaging = requested_packaging(request)
    owner = mediated_owner(request, user, target)
    no_op = header_flag(request, "X-No-Op")
    verbose = header_flag(request, "X-Verbose")

    record = Deposit(
        target=target,
        target_slug=target.slug,
        depositor=user,
        owner=owner,
        packaging=packaging,
        user_agent=request.headers.get("User-Agent", "")[:1024],
    )
    receive_package(request, record)
    try:
        reject_known_aip(record)
    except SwordError:
        if record.source == Source.UPLOAD:
            remove_upload_folder(record.path)
        raise

    if no_op:
        try:
            report = dry_run(record)
        finally:
            if record.source == Source.UPLOAD:
                remove_upload_folder(record.path)
        return deposit_response(request, record, 200, report=report, verbose=verbose)

    try:
        record.save()
    except BaseException:
        if record.source == Source.UPLOAD:
            remove_upload_folder(record.path)
        raise

    logger.info(
        "Deposit %s received from %s into %s (%s %s)",
        record.id,
        user.get_username(),
        target.slug,
        record.source,
        record.filename,
    )
    signals.send(signals.deposit_received, deposit=record)
    transaction.on_commit(lambda: lifecycle.enqueue(record.id))
    status = accepted_status(record.user_agent)
    return deposit_response(request, record, status, verbose=verbose)


def receive_package(request, record):
    """Fill in where the package of `record` is: a folder, or an uploaded zip."""
    content_location = request.headers.get("Content-Location", "").strip()
    if content_location:
        folder = check_reference(content_location)
        record.source = Source.REFERENCE
        record.path = str(folder)
        record.filename = folder.name
        return

    length = content_length(request)
    if length == 0:
        raise SwordError(
            400,
            "ErrorBadRequest",
            "The request has no body and no Content-Location: send the DIP as a"
            " zip, or name its folder in the deposit directory with"
            " Content-Location: file:///<DIP folder name>",
        )

    record.uuid, folder = new_upload_folder()
    try:
        part = receive_part(request, folder, length)
    except BaseException:
        remove_upload_folder(folder)
        raise
    record.source = Source.UPLOAD
    record.path = str(folder)
    record.parts = [part]
    record.size = part["size"]
    record.filename = part["filename"]
    try:
        require_mets(record)
    except SwordError:
        remove_upload_folder(folder)
        raise


def accepted_status(user_agent):
    """Return 302 for clients that take only 200, 201 or 302 as success, else 202."""
    agent = user_agent.strip().lower()
    for prefix in settings.SWORD_302_USER_AGENTS:
        if agent.startswith(prefix.lower()):
            return 302
    return 202


def deposit_response(request, record, status, *, report=None, verbose=False):
    if report is not None:
        status_url = page_url = None
        summary = report.summary
    else:
        status_url = request.build_absolute_uri(record.get_api_url())
        page_url = request.build_absolute_uri(record.get_absolute_url())
        summary = f"Deposit {record.id} is queued for ingest."

    verbose_description = None
    if verbose:
        verbose_description = documents.verbose_text(record, report)

    entry = documents.deposit_entry(
        record,
        status_url=status_url,
        page_url=page_url,
        summary=summary,
        verbose_description=verbose_description,
    )
    response = HttpResponse(
        documents.to_bytes(entry), status=status, content_type=ATOM_ENTRY
    )
    if status_url:
        response["Location"] = status_url
    return response


not_found = not_found_view(render_error)
