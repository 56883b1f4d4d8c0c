from django.contrib import admin

from depositum.deposits import lifecycle
from depositum.deposits.models import Deposit


@admin.register(Deposit)
class DepositAdmin(admin.ModelAdmin):
    """Read-only admin for deposits, which only the SWORD views and workers change.

    The one change it offers is the retry of failed deposits, the same as the
    Retry button of the deposits dashboard.
    """

    list_display = ["id", "state", "target_slug", "depositor", "created_at", "progress"]
    list_filter = ["state"]
    actions = ["retry"]
    list_select_related = ["depositor"]
    search_fields = ["uuid", "target_slug", "depositor__username", "depositor__email"]
    date_hierarchy = "created_at"

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description="progress")
    def progress(self, deposit):
        return f"{deposit.progress_done} of {deposit.progress_total}"

    @admin.action(description="Retry the selected failed deposits")
    def retry(self, request, queryset):
        username = request.user.get_username()
        ids = list(queryset.values_list("id", flat=True))
        retried = [
            deposit_id
            for deposit_id in ids
            if lifecycle.requeue_failed(deposit_id, username)
        ]
        skipped = len(ids) - len(retried)
        self.message_user(
            request,
            f"Deposits queued again: {len(retried)}. Not failed, so skipped: {skipped}.",
        )
