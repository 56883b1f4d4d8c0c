from django.shortcuts import render
from django.views.decorators.http import require_safe

from depositum.deposits.access import description_visible, find_deposit
from depositum.deposits.models import Deposit


@require_safe
def deposit_page(request, deposit_id=None, deposit_uuid=None):
    """Render the state, progress, warnings and error of a deposit.

    By UUID the page is public like the JSON status, so the link in a deposit
    response works for anyone who has it. The page shows the depositor's user
    name and never an email address.
    """
    deposits = Deposit.objects.select_related("depositor", "target", "top_description")
    deposit = find_deposit(
        request, deposits, deposit_id=deposit_id, deposit_uuid=deposit_uuid
    )
    return render_deposit_page(request, deposit)


def render_deposit_page(request, deposit):
    context = {
        "deposit": deposit,
        "show_description": description_visible(request, deposit),
    }
    return render(request, "deposit.html", context)
