from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_safe

from depositum.deposits.models import Deposit


@require_safe
def deposit_page(request, deposit_id):
    """Render the state, progress, warnings and error of a deposit.

    The page is public like the JSON status, so that whoever holds the link a
    deposit response returned can follow it; it shows the depositor's user name
    and never an email address.
    """
    deposits = Deposit.objects.select_related("depositor", "target", "top_description")
    deposit = get_object_or_404(deposits, id=deposit_id)
    return render(request, "deposit.html", {"deposit": deposit})
