"""Who may see a deposit, list deposits or retry one.

Anyone with a deposit's UUID, which its deposit response returned, may read
its status. Looking a deposit up by its sequential number needs the
depositor's, the owner's or a staff user's login, by session or HTTP Basic.
The same users may retry a failed deposit. Staff users may list every
deposit, and other users only those they deposited or own.
"""

from django.db.models import Q
from django.http import Http404

from depositum.deposits.models import State
from depositum.sword.auth import Throttled, authenticate_basic


def find_deposit(request, deposits, *, deposit_id=None, deposit_uuid=None):
    """Return the deposit the URL names, or raise Http404."""
    if deposit_uuid is not None:
        deposit = deposits.filter(uuid=deposit_uuid).first()
    else:
        deposit = deposits.filter(id=deposit_id).first()
        if deposit is not None and not may_look_up(request, deposit):
            deposit = None
    if deposit is None:
        raise Http404(f"deposit {deposit_uuid or deposit_id} not found")
    return deposit


def description_visible(request, deposit):
    """Return True if the deposit's top description may be named to the user:
    it is published, or the user is staff, the depositor or the owner."""
    from depositum.catalogue.models import Description

    top = deposit.top_description
    if top is None:
        return False
    user = request_user(request)
    if user is not None and (user.is_staff or deposit.may_be_changed_by(user)):
        return True
    return Description.objects.visible_to(request.user).filter(id=top.id).exists()


def request_user(request):
    """Return the user of the session or of Basic credentials, or None.

    The result is kept on the request, so the credentials are checked once.
    """
    if request.user.is_authenticated:
        return request.user
    if not hasattr(request, "_basic_user"):
        try:
            request._basic_user = authenticate_basic(request)
        except Throttled:
            request._basic_user = None
    return request._basic_user


def may_look_up(request, deposit):
    user = request_user(request)
    if user is None:
        return False
    return user.is_staff or deposit.may_be_changed_by(user)


def may_retry(request, deposit):
    """Return True if the user may queue this failed deposit again."""
    return deposit.state == State.FAILED and may_look_up(request, deposit)


def visible_deposits(user, deposits):
    """Filter `deposits` to those that `user` may list.

    Staff users see every deposit, other users those they deposited or own.
    """
    if user.is_staff:
        return deposits
    return deposits.filter(Q(depositor=user) | Q(owner=user))
