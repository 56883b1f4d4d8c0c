"""The status of a deposit, the resource that a deposit's Location names.

It returns JSON by default, an Atom entry to SWORD clients that request
application/atom+xml, and the deposit's page to browsers.
"""

from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse

from depositum.deposits.access import description_visible, find_deposit
from depositum.deposits.models import Deposit
from depositum.deposits.views import render_deposit_page


def isoformat(value):
    return value.isoformat() if value else None


def deposit_status(deposit, request):
    """Return the JSON-ready status of `deposit`.

    The description it created is named only if the user may see it.
    """
    top = deposit.top_description if description_visible(request, deposit) else None
    return {
        "id": deposit.id,
        "uuid": str(deposit.uuid),
        "state": deposit.state,
        "target": deposit.target_slug,
        "depositor": deposit.depositor.get_username() if deposit.depositor else None,
        "source": deposit.source,
        "filename": deposit.filename,
        "progress": {"done": deposit.progress_done, "total": deposit.progress_total},
        "warnings": deposit.warnings,
        "error": deposit.error or None,
        "attempts": deposit.attempts,
        "created_at": isoformat(deposit.created_at),
        "started_at": isoformat(deposit.started_at),
        "finished_at": isoformat(deposit.finished_at),
        "aip_uuid": str(deposit.aip.uuid) if deposit.aip else None,
        "descriptions_created": deposit.descriptions_created,
        "description": top.slug if top else None,
        "description_url": (
            request.build_absolute_uri(top.get_absolute_url()) if top else None
        ),
        "url": request.build_absolute_uri(deposit.get_absolute_url()),
    }


MEDIA_TYPES = ["application/json", "application/atom+xml", "text/html"]


def api_deposit(request, deposit_id=None, deposit_uuid=None):
    deposits = Deposit.objects.select_related(
        "depositor", "target", "aip", "top_description"
    )
    try:
        deposit = find_deposit(
            request, deposits, deposit_id=deposit_id, deposit_uuid=deposit_uuid
        )
    except Http404 as e:
        return JsonResponse({"error": str(e)}, status=404)

    media_type = request.get_preferred_type(MEDIA_TYPES) or "application/json"
    if media_type == "text/html":
        response = render_deposit_page(request, deposit)
    elif media_type == "application/atom+xml":
        response = atom_status(request, deposit)
    else:
        response = JsonResponse(deposit_status(deposit, request))
    response["Vary"] = "Accept"
    return response


def atom_status(request, deposit):
    from depositum.sword import documents

    top = deposit.top_description if description_visible(request, deposit) else None
    entry = documents.status_entry(
        deposit,
        status_url=request.build_absolute_uri(deposit.get_api_url()),
        page_url=request.build_absolute_uri(deposit.get_absolute_url()),
        statement_url=request.build_absolute_uri(
            reverse("sword2-statement", args=[deposit.id])
        ),
        description_url=(
            request.build_absolute_uri(top.get_absolute_url()) if top else None
        ),
    )
    return HttpResponse(
        documents.to_bytes(entry), content_type="application/atom+xml;type=entry"
    )
