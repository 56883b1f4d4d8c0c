"""The access catalogue: archival descriptions, their digital objects and the
technical metadata that Archivematica recorded for each file.

Field names follow ISAD(G) for descriptions, Dublin Core where the DIP's DC
fills them, and PREMIS for technical properties and events.
"""

import re

from django.conf import settings
from django.db import connection, models
from django.urls import reverse

# The levels of description of the catalogue: the list that AtoM ships with.
LEVELS_OF_DESCRIPTION = [
    "Record group",
    "Fonds",
    "Subfonds",
    "Collection",
    "Series",
    "Subseries",
    "File",
    "Item",
    "Part",
]


def match_level(value):
    """Return the known level of description that `value` names, or None.

    The comparison ignores case, spaces and hyphens, so Archivematica's
    "Sub-series" is the catalogue's "Subseries".
    """
    key = re.sub(r"[\s\-_]", "", value or "").lower()
    for level in LEVELS_OF_DESCRIPTION:
        if re.sub(r"\s", "", level).lower() == key:
            return level
    return None


class PublicationStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    PUBLISHED = "published", "Published"


def sees_drafts(user):
    """Return True if `user` may see draft descriptions: staff users only.

    This is the catalogue's one publication rule. Pages, media, thumbnails,
    the hierarchy and the JSON API all apply it through visible_to().
    """
    return user.is_authenticated and user.is_staff


class DescriptionQuerySet(models.QuerySet):
    def visible_to(self, user):
        if sees_drafts(user):
            return self
        return self.filter(publication_status=PublicationStatus.PUBLISHED)


class Description(models.Model):
    """An archival description: a fonds, series, file, item or any other level.

    A description without a parent is a top-level description, and deposits go
    into a target description chosen by its slug.
    """

    parent = models.ForeignKey(
        "self", models.CASCADE, null=True, blank=True, related_name="children"
    )
    # The AIP whose ingest created this description; None for descriptions made
    # by hand, such as deposit targets.
    aip = models.ForeignKey(
        "AIP", models.CASCADE, null=True, blank=True, related_name="descriptions"
    )
    # Identity within the AIP ("file:<uuid>" or "dir:<path>"), so that a DIP
    # deposited again keeps the slugs of the descriptions it replaces.
    aip_key = models.CharField(max_length=2048, blank=True)
    # Order among siblings.
    position = models.PositiveIntegerField(default=0)
    slug = models.SlugField(max_length=255, unique=True, allow_unicode=False)
    publication_status = models.CharField(
        max_length=16,
        choices=PublicationStatus.choices,
        default=PublicationStatus.PUBLISHED,
    )

    # ISAD(G) 3.1, identity statement area.
    identifier = models.CharField("reference code", max_length=1024, blank=True)
    title = models.CharField(max_length=1024)
    date_display = models.CharField("dates", max_length=1024, blank=True)
    start_date = models.DateField(null=True, blank=True)
    end_date = models.DateField(null=True, blank=True)
    level_of_description = models.CharField(max_length=64, blank=True)
    extent_and_medium = models.TextField(blank=True)

    # ISAD(G) 3.2, context area. Names of the actors, in the order the DIP gave.
    creators = models.JSONField(default=list, blank=True)
    contributors = models.JSONField(default=list, blank=True)
    publishers = models.JSONField(default=list, blank=True)
    archival_history = models.TextField(blank=True)
    acquisition = models.TextField("immediate source of acquisition", blank=True)

    # ISAD(G) 3.3 and 3.4, content, structure and access.
    scope_and_content = models.TextField(blank=True)
    access_conditions = models.TextField(blank=True)
    languages = models.JSONField("languages of the material", default=list, blank=True)
    location_of_originals = models.TextField(
        "existence and location of originals", blank=True
    )
    # ISAD(G) 3.6, notes area.
    notes = models.TextField(blank=True)

    # Access points and the Dublin Core type.
    subject_access_points = models.JSONField("subjects", default=list, blank=True)
    place_access_points = models.JSONField("places", default=list, blank=True)
    dc_type = models.CharField("DC type", max_length=255, blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = DescriptionQuerySet.as_manager()

    class Meta:
        ordering = ["position", "title", "id"]
        # Both indexes end in the ordering, so a page of children is read in
        # index order without sorting all the siblings. Anonymous visitors page
        # through the published children only.
        indexes = [
            models.Index(
                fields=["parent", "position", "title"],
                name="catalogue_d_parent_order_idx",
            ),
            models.Index(
                fields=["parent", "publication_status", "position", "title"],
                name="catalogue_d_parent_status_idx",
            ),
        ]
        permissions = [("deposit_any", "Can deposit into any target description")]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("description", args=[self.slug])

    def ancestors(self):
        """Return the ancestors of this description, the top-level one first.

        Two queries whatever the depth: one recursive query for the ids, one
        for the rows.
        """
        ids = ancestor_ids(self)
        rows = Description.objects.in_bulk(ids)
        return [rows[pk] for pk in ids if pk in rows]


# Deepest hierarchy that the recursive queries follow. It stops the walk if a
# parent loop was ever written to the table by hand.
MAX_DEPTH = 10_000


def ancestor_ids(description):
    """Return the ids of the ancestors of `description`, the top-level one first."""
    table = connection.ops.quote_name(Description._meta.db_table)
    sql = f"""
        WITH RECURSIVE chain (id, parent_id, depth) AS (
            SELECT id, parent_id, 0 FROM {table} WHERE id = %s
            UNION ALL
            SELECT d.id, d.parent_id, chain.depth + 1
            FROM {table} d JOIN chain ON d.id = chain.parent_id
            WHERE chain.depth < %s
        )
        SELECT id FROM chain WHERE depth > 0 ORDER BY depth DESC
    """
    with connection.cursor() as cursor:
        cursor.execute(sql, [description.id, MAX_DEPTH])
        return [row[0] for row in cursor.fetchall()]


class TargetGrant(models.Model):
    """Permission for a user to deposit into a description and everything below it.

    Users with the global permission catalogue.deposit_any, and superusers, may
    deposit into any description without a grant.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, models.CASCADE, related_name="target_grants"
    )
    target = models.ForeignKey(Description, models.CASCADE, related_name="grants")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "target"], name="unique_grant")
        ]

    def __str__(self):
        return f"{self.user} may deposit into {self.target.slug}"


def may_deposit(user, target):
    """Return True if `user` may deposit into the description `target`."""
    if not user.is_active:
        return False
    if user.is_superuser or user.has_perm("catalogue.deposit_any"):
        return True
    ids = [target.id] + [node.id for node in target.ancestors()]
    return TargetGrant.objects.filter(user=user, target_id__in=ids).exists()


class AIP(models.Model):
    """An Archival Information Package whose DIP has been ingested.

    A DIP deposited again with the same AIP UUID replaces the descriptions of
    the earlier ingest.
    """

    uuid = models.UUIDField("AIP UUID", unique=True)
    name = models.CharField(max_length=1024)
    target = models.ForeignKey(
        Description, models.SET_NULL, null=True, related_name="+"
    )
    # Directory under MEDIA_ROOT that contains this AIP's access copies.
    media_path = models.CharField(max_length=1024, blank=True)
    ingested_at = models.DateTimeField()

    class Meta:
        verbose_name = "AIP"

    def __str__(self):
        return f"{self.name} ({self.uuid})"


class DigitalObject(models.Model):
    """A stored file that represents a description: its master access copy, a
    reference-size image or a thumbnail."""

    class Usage(models.TextChoices):
        MASTER = "master", "Master"
        REFERENCE = "reference", "Reference"
        THUMBNAIL = "thumbnail", "Thumbnail"

    description = models.ForeignKey(
        Description, models.CASCADE, related_name="digital_objects"
    )
    usage = models.CharField(max_length=16, choices=Usage.choices)
    # Path relative to MEDIA_ROOT.
    file = models.FileField(max_length=1024)
    name = models.CharField(max_length=1024)
    mime_type = models.CharField("MIME type", max_length=255, blank=True)
    size = models.BigIntegerField(help_text="bytes")
    # Hex SHA-256 of the stored file.
    checksum = models.CharField(max_length=64, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["description", "usage"], name="one_object_per_usage"
            )
        ]

    def __str__(self):
        return f"{self.usage}: {self.name}"


class DigitalFile(models.Model):
    """Technical properties of one original file, as Archivematica's PREMIS
    object recorded them."""

    description = models.OneToOneField(
        Description, models.CASCADE, related_name="digital_file"
    )
    aip = models.ForeignKey(AIP, models.CASCADE, related_name="digital_files")
    object_uuid = models.UUIDField("object UUID", db_index=True)
    relative_path = models.CharField("relative path in the AIP", max_length=2048)
    original_name = models.CharField(max_length=1024)
    original_size = models.BigIntegerField(null=True, blank=True, help_text="bytes")
    ingested_at = models.DateTimeField("ingestion date", null=True, blank=True)
    preservation_copy_name = models.CharField(max_length=1024, blank=True)
    preservation_copy_size = models.BigIntegerField(null=True, blank=True)
    preservation_copy_normalized_at = models.DateTimeField(
        "preservation copy normalisation date", null=True, blank=True
    )
    format_puid = models.CharField("PRONOM PUID", max_length=64, blank=True)
    format_name = models.CharField(max_length=255, blank=True)
    format_version = models.CharField(max_length=255, blank=True)
    mime_type = models.CharField("MIME type", max_length=255, blank=True)
    checksum = models.CharField(max_length=255, blank=True)
    checksum_type = models.CharField(max_length=32, blank=True)
    # Text of the DIP's OCRfiles/ entry for this file, if it had one.
    ocr_text = models.TextField("OCR text", blank=True)

    def __str__(self):
        return self.original_name


class PREMISEvent(models.Model):
    digital_file = models.ForeignKey(
        DigitalFile, models.CASCADE, related_name="premis_events"
    )
    event_identifier = models.CharField(max_length=255, blank=True)
    event_type = models.CharField(max_length=255)
    event_datetime = models.DateTimeField(null=True, blank=True)
    event_detail = models.TextField(blank=True)
    event_outcome = models.CharField(max_length=255, blank=True)
    event_outcome_detail = models.TextField(blank=True)

    class Meta:
        verbose_name = "PREMIS event"
        ordering = ["event_datetime", "id"]

    def __str__(self):
        return f"{self.event_type} {self.event_datetime}"
