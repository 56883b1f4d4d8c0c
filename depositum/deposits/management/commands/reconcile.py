from django.core.management.base import BaseCommand

from depositum.deposits.tasks import reconcile_once


class Command(BaseCommand):
    help = (
        "Run the reconciler once: queue again the deposits whose worker died or"
        " whose message was lost, and fail those out of attempts. Workers run it"
        " every minute; it is safe to run at the same time on several hosts."
    )

    def handle(self, **options):
        requeued, lost = reconcile_once()
        self.stdout.write(
            f"Queued again: {len(requeued)} without heartbeat, {len(lost)} without"
            " a message"
        )
