from django.db import models


class DeletedRecord(models.Model):
    """A tombstone of an OAI-PMH record that was published and is now gone.

    The provider reports it with status "deleted" while no published
    description has its slug. A DIP deposited again deletes and recreates its
    descriptions with the same slugs, so most tombstones are hidden again as
    soon as the ingest commits.
    """

    slug = models.SlugField(max_length=255, unique=True)
    # The slug of the top-level description that contained the record, or ""
    # when that description was a draft.
    set_spec = models.CharField(max_length=255, blank=True, db_index=True)
    # The record's datestamp.
    deleted_at = models.DateTimeField(db_index=True)

    class Meta:
        ordering = ["id"]

    def __str__(self):
        return f"{self.slug} (deleted {self.deleted_at:%Y-%m-%d %H:%M:%S})"
