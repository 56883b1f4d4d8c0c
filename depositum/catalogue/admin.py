from django.contrib import admin
from django.db import transaction

from depositum.catalogue.models import (
    AIP,
    Description,
    DigitalFile,
    DigitalObject,
    PREMISEvent,
    PublicationStatus,
    TargetGrant,
)


@admin.register(Description)
class DescriptionAdmin(admin.ModelAdmin):
    list_display = [
        "title",
        "slug",
        "level_of_description",
        "publication_status",
        "parent",
    ]
    list_filter = ["level_of_description", "publication_status"]
    list_select_related = ["parent"]
    search_fields = ["title", "slug", "identifier"]
    raw_id_fields = ["parent", "aip"]
    prepopulated_fields = {"slug": ["title"]}
    # The ingest matches aip_key to keep slugs when a DIP is deposited again.
    readonly_fields = ["aip_key", "created_at", "updated_at"]
    actions = ["publish", "unpublish"]
    fieldsets = [
        (None, {"fields": ["title", "slug", "parent", "position", "aip", "aip_key"]}),
        ("Publication", {"fields": ["publication_status", "created_at", "updated_at"]}),
        (
            "Identity statement",
            {
                "fields": [
                    "identifier",
                    "date_display",
                    "start_date",
                    "end_date",
                    "level_of_description",
                    "extent_and_medium",
                ]
            },
        ),
        (
            "Context",
            {
                "fields": [
                    "creators",
                    "contributors",
                    "publishers",
                    "archival_history",
                    "acquisition",
                ]
            },
        ),
        (
            "Content and structure",
            {"fields": ["scope_and_content", "dc_type"]},
        ),
        (
            "Conditions of access and use",
            {"fields": ["access_conditions", "languages"]},
        ),
        ("Allied materials", {"fields": ["location_of_originals"]}),
        ("Notes", {"fields": ["notes"]}),
        (
            "Access points",
            {"fields": ["subject_access_points", "place_access_points"]},
        ),
    ]

    @admin.action(description="Publish the selected descriptions")
    def publish(self, request, queryset):
        count = set_publication_status(queryset, PublicationStatus.PUBLISHED)
        self.message_user(request, f"Descriptions published: {count}.")

    @admin.action(description="Return the selected descriptions to draft")
    def unpublish(self, request, queryset):
        count = set_publication_status(queryset, PublicationStatus.DRAFT)
        self.message_user(request, f"Descriptions returned to draft: {count}.")


def set_publication_status(queryset, status):
    """Give each description in `queryset` the publication `status`; return the
    number changed.

    Each row is saved on its own, not with one UPDATE, so that its datestamp
    moves and the save signals run: OAI-PMH harvesters then learn of the change,
    and a withdrawn record is reported deleted.
    """
    count = 0
    with transaction.atomic():
        for description in queryset.exclude(publication_status=status).iterator():
            description.publication_status = status
            description.save(update_fields=["publication_status", "updated_at"])
            count += 1
    return count


@admin.register(TargetGrant)
class TargetGrantAdmin(admin.ModelAdmin):
    list_display = ["user", "target"]
    list_select_related = ["user", "target"]
    search_fields = ["user__username", "user__email", "target__title", "target__slug"]
    autocomplete_fields = ["user", "target"]


@admin.register(AIP)
class AIPAdmin(admin.ModelAdmin):
    list_display = ["name", "uuid", "target", "ingested_at"]
    list_select_related = ["target"]
    search_fields = ["name", "uuid"]
    raw_id_fields = ["target"]
    date_hierarchy = "ingested_at"


@admin.register(DigitalObject)
class DigitalObjectAdmin(admin.ModelAdmin):
    list_display = ["name", "usage", "mime_type", "size", "description"]
    list_filter = ["usage"]
    list_select_related = ["description"]
    search_fields = ["name", "file", "description__slug"]
    raw_id_fields = ["description"]


class PREMISEventInline(admin.TabularInline):
    model = PREMISEvent
    extra = 0


@admin.register(DigitalFile)
class DigitalFileAdmin(admin.ModelAdmin):
    list_display = ["original_name", "format_name", "mime_type", "aip"]
    list_select_related = ["aip"]
    search_fields = ["original_name", "object_uuid", "format_puid"]
    raw_id_fields = ["description", "aip"]
    inlines = [PREMISEventInline]
