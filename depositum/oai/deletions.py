"""Record a DeletedRecord for every published description that is deleted or
withdrawn, so harvesters learn that the record is gone.

Django sends pre_delete for every instance that a delete() collects, while the
rows still exist, and post_delete for each of them once they are gone, all in
one transaction. The tombstones are gathered in pre_delete, when the set of
each description can still be looked up, and written together at the first
post_delete of the same delete() call. A rollback removes them with the rest.

NOTE: QuerySet.update() sends no signal. A description withdrawn to draft by
update() gets no tombstone, and harvesters keep their copy of its record. The
admin's publication actions save each description for that reason.
"""

import logging
import threading
import weakref
from dataclasses import dataclass, field

from django.db.models.signals import post_delete, pre_delete, pre_save
from django.dispatch import receiver
from django.utils import timezone

from depositum.catalogue.models import Description, PublicationStatus
from depositum.oai.models import DeletedRecord
from depositum.oai.records import TopLevelResolver

logger = logging.getLogger(__name__)

BATCH_SIZE = 500

# Per thread: {id(origin of a delete() call): PendingDeletion}.
_local = threading.local()


@dataclass
class PendingDeletion:
    origin: weakref.ref
    deleted_at: object = field(default_factory=timezone.now)
    resolver: TopLevelResolver = field(default_factory=TopLevelResolver)
    aip_targets: dict = field(default_factory=dict)
    records: list = field(default_factory=list)


def pending_deletions():
    if not hasattr(_local, "pending"):
        _local.pending = {}
    return _local.pending


def pending_deletion_for(origin):
    """Return the tombstones gathered so far for the delete() call `origin`."""
    pending = pending_deletions()
    entry = pending.get(id(origin))
    if entry is not None and entry.origin() is origin:
        return entry

    # A delete() that raised between its signals leaves its entry behind.
    for key, stale in list(pending.items()):
        if stale.origin() is None:
            del pending[key]
    entry = PendingDeletion(origin=weakref.ref(origin))
    pending[id(origin)] = entry
    return entry


@receiver(pre_delete, sender=Description, dispatch_uid="oai-gather-deleted")
def gather_deleted_description(sender, instance, origin=None, **kwargs):
    if instance.publication_status != PublicationStatus.PUBLISHED:
        return

    entry = pending_deletion_for(origin if origin is not None else instance)
    set_spec = entry.resolver.set_spec_of_deleted(instance, entry.aip_targets)
    entry.records.append(
        DeletedRecord(
            slug=instance.slug, set_spec=set_spec, deleted_at=entry.deleted_at
        )
    )


@receiver(post_delete, sender=Description, dispatch_uid="oai-save-deleted")
def save_deleted_descriptions(sender, instance, origin=None, **kwargs):
    key = origin if origin is not None else instance
    entry = pending_deletions().pop(id(key), None)
    if entry is None or entry.origin() is not key or not entry.records:
        return
    save_tombstones(entry.records)


@receiver(pre_save, sender=Description, dispatch_uid="oai-withdrawn")
def record_withdrawn_description(sender, instance, raw=False, **kwargs):
    """Record a tombstone when save() turns a published description into a
    draft or changes its slug, because its old identifier is then gone."""
    if raw or instance.pk is None:
        return

    stored = (
        Description.objects.filter(
            pk=instance.pk, publication_status=PublicationStatus.PUBLISHED
        )
        .only("id", "slug", "parent_id", "aip_id", "publication_status")
        .first()
    )
    if stored is None:
        return
    still_published = instance.publication_status == PublicationStatus.PUBLISHED
    if still_published and instance.slug == stored.slug:
        return

    set_spec = TopLevelResolver().set_spec_of_deleted(stored, {})
    tombstone = DeletedRecord(
        slug=stored.slug, set_spec=set_spec, deleted_at=timezone.now()
    )
    save_tombstones([tombstone])


def save_tombstones(records):
    """Insert the tombstones, or refresh the datestamp and set of existing ones."""
    DeletedRecord.objects.bulk_create(
        records,
        batch_size=BATCH_SIZE,
        update_conflicts=True,
        unique_fields=["slug"],
        update_fields=["set_spec", "deleted_at"],
    )
    logger.info(
        "Recorded %d deleted OAI-PMH records, the first with slug %s",
        len(records),
        records[0].slug,
    )
