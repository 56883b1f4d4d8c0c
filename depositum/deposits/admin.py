from django.contrib import admin

from depositum.deposits.models import Deposit


@admin.register(Deposit)
class DepositAdmin(admin.ModelAdmin):
    """Read-only admin for deposits, which only the SWORD views and workers change."""

    list_display = ["id", "state", "target_slug", "depositor", "created_at", "progress"]
    list_filter = ["state"]
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
