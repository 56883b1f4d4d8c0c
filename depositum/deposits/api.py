"""JSON status of a deposit, the resource that a deposit's Location names."""

from django.http import JsonResponse

from depositum.deposits.models import Deposit


def isoformat(value):
    return value.isoformat() if value else None


def deposit_status(deposit, request):
    """Return the JSON-ready status of `deposit`."""
    top = deposit.top_description
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


def api_deposit(request, deposit_id):
    deposits = Deposit.objects.select_related("depositor", "aip", "top_description")
    deposit = deposits.filter(id=deposit_id).first()
    if deposit is None:
        return JsonResponse({"error": f"deposit {deposit_id} not found"}, status=404)
    return JsonResponse(deposit_status(deposit, request))
