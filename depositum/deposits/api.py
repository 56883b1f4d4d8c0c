"""The deposits JSON API and its OpenAPI document.

A deposit's status is the resource that a deposit's Location names. It
returns JSON by default, an Atom entry to SWORD clients that request
application/atom+xml, and the deposit's page to browsers. The deposit list
returns the deposits that the user may list, newest first.
"""

import functools
import json
from pathlib import Path

import yaml
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.http import require_safe

from depositum.deposits.access import (
    description_visible,
    find_deposit,
    request_user,
    visible_deposits,
)
from depositum.deposits.models import Deposit, State
from depositum.deposits.views import filter_deposits, render_deposit_page

OPENAPI_PATH = Path(__file__).with_name("openapi.yaml")
API_DEPOSITS_PER_PAGE = 50


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


@require_safe
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


@require_safe
def api_deposit_list(request):
    """Return a page of the deposits the user may list, filtered like the dashboard.

    Staff users get every deposit and other users their own. Anonymous
    requests get 401 with a Basic challenge, so that a client can send the
    credentials it deposits with.
    """
    user = request_user(request)
    if user is None:
        response = JsonResponse(
            {"error": "authentication required: log in or send Basic credentials"},
            status=401,
        )
        response["WWW-Authenticate"] = 'Basic realm="depositum"'
        return response

    state = request.GET.get("state", "")
    if state and state not in State.values:
        choices = ", ".join(State.values)
        return JsonResponse(
            {"error": f"invalid state {state!r}: use one of {choices}"}, status=400
        )

    deposits = Deposit.objects.select_related(
        "depositor", "owner", "target", "aip", "top_description"
    )
    deposits, _ = filter_deposits(visible_deposits(user, deposits), request.GET)
    paginator = Paginator(deposits, API_DEPOSITS_PER_PAGE)
    try:
        page = paginator.page(request.GET.get("page", 1))
    except (PageNotAnInteger, EmptyPage) as e:
        return JsonResponse(
            {"error": f"invalid page {request.GET.get('page')!r}: {e}"}, status=400
        )

    next_url = page_url(request, page.next_page_number()) if page.has_next() else None
    previous_url = None
    if page.has_previous():
        previous_url = page_url(request, page.previous_page_number())

    return JsonResponse(
        {
            "count": paginator.count,
            "page": page.number,
            "pages": paginator.num_pages,
            "next": next_url,
            "previous": previous_url,
            "results": [deposit_status(deposit, request) for deposit in page],
        }
    )


def page_url(request, number):
    """Return the absolute URL of page `number` with the request's other filters."""
    query = request.GET.copy()
    query["page"] = number
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


@functools.cache
def openapi_document():
    """Return the OpenAPI document, read once per process."""
    with OPENAPI_PATH.open(encoding="utf-8") as f:
        return yaml.safe_load(f)


@require_safe
def openapi_json(request):
    return HttpResponse(
        json.dumps(openapi_document(), indent=2), content_type="application/json"
    )


@require_safe
def openapi_yaml(request):
    return HttpResponse(
        OPENAPI_PATH.read_bytes(), content_type="application/yaml; charset=utf-8"
    )


def not_found(request, path=""):
    """Return a JSON 404 for an API URL that matches no route, as the other API
    views do for a resource that is not found."""
    return JsonResponse(
        {
            "error": f"No API resource at {request.path}: the OpenAPI document at"
            " /api/openapi.json lists the API's URLs"
        },
        status=404,
    )
