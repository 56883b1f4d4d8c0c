"""Deposit pages: a deposit's status page, the staff dashboard and retries."""

import logging
from functools import wraps

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST, require_safe

from depositum.deposits import lifecycle
from depositum.deposits.access import (
    description_visible,
    find_deposit,
    may_look_up,
    may_retry,
    request_user,
)
from depositum.deposits.models import Deposit, State

logger = logging.getLogger(__name__)

DEPOSITS_PER_PAGE = 25


def staff_required(view):
    """Send anonymous users to the login page and reject non-staff users with 403.

    A user may log in by session or send Basic credentials, as for the API.
    """

    @wraps(view)
    def wrapper(request, *args, **kwargs):
        user = request_user(request)
        if user is None:
            return redirect_to_login(request.get_full_path())
        if not user.is_staff:
            logger.warning(
                "Non-staff user %s rejected from %s", user.get_username(), request.path
            )
            raise PermissionDenied("The deposits dashboard requires a staff user.")
        return view(request, *args, **kwargs)

    return wrapper


@require_safe
def deposit_page(request, deposit_id=None, deposit_uuid=None):
    """Render the state, progress, warnings and error of a deposit.

    By UUID the page is public like the JSON status, so the link in a deposit
    response works for anyone who has it. The page shows the depositor's user
    name and never an email address.
    """
    deposits = Deposit.objects.select_related(
        "depositor", "owner", "target", "top_description", "aip"
    )
    deposit = find_deposit(
        request, deposits, deposit_id=deposit_id, deposit_uuid=deposit_uuid
    )
    return render_deposit_page(request, deposit)


def render_deposit_page(request, deposit):
    context = {
        "deposit": deposit,
        "show_description": description_visible(request, deposit),
        "may_retry": may_retry(request, deposit),
    }
    return render(request, "deposit.html", context)


def filter_deposits(deposits, params):
    """Filter `deposits` by the state, depositor and target in `params`.

    Return the queryset and the filters applied, each a cleaned string. An
    unknown state is ignored and returned as "".
    """
    filters = {
        "state": params.get("state", "").strip(),
        "depositor": params.get("depositor", "").strip(),
        "target": params.get("target", "").strip(),
    }
    if filters["state"] in State.values:
        deposits = deposits.filter(state=filters["state"])
    else:
        filters["state"] = ""
    if filters["depositor"]:
        deposits = deposits.filter(depositor__username=filters["depositor"])
    if filters["target"]:
        deposits = deposits.filter(target_slug=filters["target"])
    return deposits, filters


def state_counts():
    """Return each state with its label and number of deposits, in lifecycle order."""
    counts = dict(
        Deposit.objects.order_by()
        .values_list("state")
        .annotate(count=Count("id"))
        .values_list("state", "count")
    )
    return [
        {"value": value, "label": label, "count": counts.get(value, 0)}
        for value, label in State.choices
    ]


@require_safe
@staff_required
def dashboard(request):
    """List deposits newest first, filtered by state, depositor and target.

    Without JavaScript the page reloads every 10 seconds while a listed deposit
    is unfinished. With it, dashboard.js updates those rows from the JSON status.
    """
    deposits = Deposit.objects.select_related(
        "depositor", "owner", "target", "top_description", "aip"
    )
    deposits, filters = filter_deposits(deposits, request.GET)
    page_obj = Paginator(deposits, DEPOSITS_PER_PAGE).get_page(request.GET.get("page"))
    context = {
        "page_obj": page_obj,
        "filters": filters,
        "states": state_counts(),
        "has_unfinished": any(not deposit.is_finished for deposit in page_obj),
    }
    return render(request, "dashboard.html", context)


@require_POST
def retry(request, deposit_uuid):
    """Queue a failed deposit again, then redirect with a message.

    Staff users may retry any failed deposit, and the depositor or owner their
    own. Django's CSRF middleware checks the form's token before this runs.
    """
    deposit = get_object_or_404(Deposit, uuid=deposit_uuid)
    user = request_user(request)
    if user is None:
        return redirect_to_login(deposit.get_absolute_url())
    if not may_look_up(request, deposit):
        logger.warning(
            "Rejected retry of deposit %s by user %s, who is not staff, its"
            " depositor or its owner",
            deposit.id,
            user.get_username(),
        )
        raise PermissionDenied(
            "Only staff users, the depositor and the owner may retry deposit"
            f" {deposit.id}."
        )

    if lifecycle.requeue_failed(deposit.id, user.get_username()):
        messages.success(request, f"Deposit {deposit.id} is queued again.")
    else:
        deposit.refresh_from_db(fields=["state"])
        messages.error(
            request,
            f"Deposit {deposit.id} was not retried, because it is"
            f" {deposit.get_state_display().lower()} and only a failed deposit"
            " can be retried.",
        )
    return redirect(safe_next_url(request, deposit.get_absolute_url()))


def safe_next_url(request, default):
    """Return the form's `next` URL if it stays on this site, else `default`."""
    url = request.POST.get("next", "")
    allowed = url_has_allowed_host_and_scheme(
        url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return url if allowed else default
