"""Catalogue pages, the hierarchy fragments, the description JSON API, and the
media files, thumbnails and reference images they link to.

Every view shows only what Description.objects.visible_to(user) returns, so
anonymous visitors see published descriptions and staff users see drafts too.
The media, thumbnail and reference views apply the same rule to the files they
send, and return 404 for anything under a draft.
"""

import logging
import mimetypes
from pathlib import Path

from django.conf import settings
from django.core.paginator import Paginator
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.http import require_safe

from depositum.catalogue import derivatives, ranges, tree
from depositum.catalogue.areas import isad_areas
from depositum.catalogue.models import (
    Description,
    DigitalFile,
    DigitalObject,
    sees_drafts,
)
from depositum.deposits.models import Deposit, State

logger = logging.getLogger(__name__)

DESCRIPTIONS_PER_PAGE = 50
# Child descriptions per page of the hierarchy fragment, and the number listed
# under the current description in the hierarchy.
TREE_CHILDREN_PER_PAGE = 25
# Siblings shown on each side of the current description in the hierarchy.
TREE_SIBLINGS = 5
# Ancestors shown in the hierarchy before and after the levels it leaves out.
TREE_HEAD_LEVELS = 2
TREE_TAIL_LEVELS = 3
API_CHILDREN_PER_PAGE = 100
RECENT_DEPOSITS = 5
RECENT_ADDITIONS = 5

API_DESCRIPTION_FIELDS = [
    "identifier",
    "date_display",
    "level_of_description",
    "extent_and_medium",
    "creators",
    "contributors",
    "publishers",
    "archival_history",
    "acquisition",
    "scope_and_content",
    "subject_access_points",
    "place_access_points",
    "dc_type",
    "languages",
    "access_conditions",
    "location_of_originals",
    "notes",
    "start_date",
    "end_date",
]
API_DIGITAL_FILE_FIELDS = [
    "object_uuid",
    "relative_path",
    "original_name",
    "original_size",
    "ingested_at",
    "preservation_copy_name",
    "preservation_copy_size",
    "preservation_copy_normalized_at",
    "format_puid",
    "format_name",
    "format_version",
    "mime_type",
    "checksum",
    "checksum_type",
    "ocr_text",
]
API_PREMIS_EVENT_FIELDS = [
    "event_identifier",
    "event_type",
    "event_datetime",
    "event_detail",
    "event_outcome",
    "event_outcome_detail",
]
USAGE_ORDER = list(DigitalObject.Usage.values)

# Media types that can run script when a browser opens them from this site's
# origin. The media view sends them as downloads in a sandbox.
ACTIVE_CONTENT_TYPES = {
    "application/xhtml+xml",
    "application/xml",
    "image/svg+xml",
    "text/html",
    "text/xml",
}
PLACEHOLDER_PATH = settings.BASE_DIR / "static" / "depositum" / "placeholder.svg"
# Thumbnails and reference images may be cached by the browser, not by shared
# caches, because a description can return to draft.
DERIVATIVE_CACHE_CONTROL = "private, max-age=3600"


@require_safe
def home(request):
    visible = Description.objects.visible_to(request.user)
    page_obj = _paginate(request, visible.filter(parent=None), DESCRIPTIONS_PER_PAGE)
    top_level = list(page_obj)
    _attach_thumbnail_urls(top_level)

    summaries = tree.subtree_summaries(
        [item.id for item in top_level], staff=sees_drafts(request.user)
    )
    for item in top_level:
        item.descendant_count = summaries[item.id].descriptions
        item.digital_object_count = summaries[item.id].digital_objects
    _borrow_thumbnail_urls(top_level, summaries)

    ctx = {
        "page_obj": page_obj,
        "recent_additions": _recent_additions(visible),
        "recent_deposits": _recent_deposits(request.user),
    }
    return render(request, "home.html", ctx)


@require_safe
def description(request, slug):
    visible = Description.objects.visible_to(request.user)
    description = get_object_or_404(_with_digital_objects(visible), slug=slug)

    children = visible.filter(parent=description)
    page_obj = _paginate(request, children, DESCRIPTIONS_PER_PAGE)
    tree.attach_child_counts(list(page_obj), visible)
    _attach_thumbnail_urls(list(page_obj))

    ancestors = _ancestors_with_visibility(description, visible)
    earlier, later = tree.sibling_window(description, visible, TREE_SIBLINGS + 1)
    ctx = {
        "description": description,
        "breadcrumb": ancestors,
        "areas": isad_areas(description),
        "previous": earlier[-1] if earlier else None,
        "next": later[0] if later else None,
        "hierarchy": _hierarchy(description, ancestors, earlier, later, visible),
        "page_obj": page_obj,
        "digital_file": _digital_file(description),
        **_digital_object_context(description),
    }
    return render(request, "description.html", ctx)


@require_safe
def children(request, slug):
    """Return one page of a description's children as HTML list items.

    The hierarchy script inserts them when a reader expands a description. The
    last item links to the next page, if there is one.
    """
    visible = Description.objects.visible_to(request.user)
    parent = get_object_or_404(visible, slug=slug)
    page_obj = _paginate(request, visible.filter(parent=parent), TREE_CHILDREN_PER_PAGE)
    tree.attach_has_children(list(page_obj), visible)
    ctx = {
        "parent": parent,
        "nodes": page_obj,
        "page_obj": page_obj,
        # The page of the parent's child list that contains the next child.
        "list_page": page_obj.end_index() // DESCRIPTIONS_PER_PAGE + 1,
    }
    return render(request, "_tree_children.html", ctx)


@require_safe
def thumbnail(request, slug):
    """Send the description's thumbnail, either the DIP's own or one made on request.

    A thumbnail is made from an image or PDF master access copy. A master that
    cannot be rendered gives the placeholder image instead of an error.
    """
    objects = _visible_digital_objects(request, slug)
    dip_thumbnail = objects.get(DigitalObject.Usage.THUMBNAIL)
    if dip_thumbnail is not None:
        try:
            path = derivatives.master_path(dip_thumbnail)
        except derivatives.DerivativeError as e:
            logger.warning("DIP thumbnail of description %s is missing: %s", slug, e)
        else:
            return _derivative_response(path, dip_thumbnail.mime_type)

    master = objects.get(DigitalObject.Usage.MASTER)
    if master is None or not derivatives.can_make_thumbnail(master):
        raise Http404(f"description {slug} has no thumbnail")
    return _make_derivative(slug, master, derivatives.thumbnail)


@require_safe
def reference(request, slug):
    """Send a reference JPEG of the description's image master, made on request.

    The JPEG is at most derivatives.REFERENCE_SIZE pixels wide and high. The
    placeholder image is sent if the JPEG cannot be made.
    """
    master = _visible_digital_objects(request, slug).get(DigitalObject.Usage.MASTER)
    if master is None or not derivatives.is_image(master):
        raise Http404(f"description {slug} has no image to show")
    return _make_derivative(slug, master, derivatives.reference)


@require_safe
def api_description(request, slug):
    visible = Description.objects.visible_to(request.user)
    queryset = _with_digital_objects(visible.select_related("parent"))
    description = queryset.filter(slug=slug).first()
    if description is None:
        return JsonResponse({"error": f"description not found: {slug}"}, status=404)
    return JsonResponse(_description_json(request, description, visible))


@require_safe
def media(request, path):
    """Send the stored file at `path`, relative to MEDIA_ROOT.

    Only files that belong to a digital object of a description visible to the
    user are sent. Anything else is a 404, so the response does not reveal
    whether a file exists outside the catalogue or under a draft.
    """
    root, file_path = _resolve_media_path(path)
    visible = Description.objects.visible_to(request.user)
    digital_object = DigitalObject.objects.filter(
        file=file_path.relative_to(root).as_posix(), description__in=visible
    ).first()
    if digital_object is None:
        raise Http404(f"media file not found: {path}")
    return _file_response(request, file_path, digital_object)


def _paginate(request, queryset, per_page):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def _attach_thumbnail_urls(descriptions):
    """Set `thumbnail_url` on each description: its thumbnail view, or None.

    A description has a thumbnail if the DIP contains one or if its master access
    copy is an image or a PDF. One query serves the whole list.
    """
    usages = [DigitalObject.Usage.THUMBNAIL, DigitalObject.Usage.MASTER]
    objects = DigitalObject.objects.filter(
        description__in=[item.id for item in descriptions], usage__in=usages
    ).only("description_id", "usage", "mime_type")
    has_thumbnail = set()
    for digital_object in objects:
        if digital_object.usage == DigitalObject.Usage.THUMBNAIL:
            has_thumbnail.add(digital_object.description_id)
        elif derivatives.can_make_thumbnail(digital_object):
            has_thumbnail.add(digital_object.description_id)

    for item in descriptions:
        item.thumbnail_url = None
        if item.id in has_thumbnail:
            item.thumbnail_url = reverse("thumbnail", args=[item.slug])


def _borrow_thumbnail_urls(descriptions, summaries):
    """Set `thumbnail_url` of each description without one to that of a descendant.

    A fonds or a deposit target rarely has a digital object of its own, so its
    list entry shows the thumbnail of the descendant with the lowest id that has
    one, as tree.subtree_summaries() selects it.
    """
    borrowers = {
        item.id: summaries[item.id].thumbnail_source_id
        for item in descriptions
        if item.thumbnail_url is None and summaries[item.id].thumbnail_source_id
    }
    slugs = dict(
        Description.objects.filter(id__in=borrowers.values()).values_list("id", "slug")
    )
    for item in descriptions:
        source_id = borrowers.get(item.id)
        if source_id in slugs:
            item.thumbnail_url = reverse("thumbnail", args=[slugs[source_id]])


def _with_digital_objects(queryset):
    return queryset.select_related("digital_file__aip").prefetch_related(
        "digital_objects", "digital_file__premis_events"
    )


def _recent_additions(visible):
    """Return the top descriptions of the latest completed deposits, newest first.

    Deposits whose top description the user may not see are left out. The top
    description is the deposit's target when the DIP put several descriptions
    right below it. The queries read a bounded number of deposits.
    """
    latest = (
        Deposit.objects.filter(state=State.COMPLETED, top_description__isnull=False)
        .order_by("-finished_at", "-id")
        .values_list("top_description_id", "descriptions_created", "finished_at")[
            : RECENT_ADDITIONS * 4
        ]
    )
    rows = visible.in_bulk([description_id for description_id, _, _ in latest])
    additions = []
    for description_id, count, finished_at in latest:
        # A target that received several deposits is listed once, for the latest.
        description = rows.pop(description_id, None)
        if description is not None:
            additions.append(
                {"description": description, "count": count, "at": finished_at}
            )
    return additions[:RECENT_ADDITIONS]


def _recent_deposits(user):
    if not user.is_staff:
        return []
    return Deposit.objects.select_related("depositor")[:RECENT_DEPOSITS]


def _ancestors_with_visibility(description, visible):
    """Return the ancestors, the top-level one first, each with a `visible` flag.

    A published description can be below a draft. The templates show such a
    draft ancestor without its title or a link.
    """
    ancestors = description.ancestors()
    ancestor_ids = [ancestor.id for ancestor in ancestors]
    visible_ids = set(visible.filter(id__in=ancestor_ids).values_list("id", flat=True))
    return [
        {"description": ancestor, "visible": ancestor.id in visible_ids}
        for ancestor in ancestors
    ]


def _hierarchy(description, ancestors, earlier, later, visible):
    """Return the template context of the hierarchy around `description`.

    The path from the top level down to the parent is open. In a deep tree
    only its first and last levels are shown, and `elided` counts the levels
    left out. The parent's list shows up to TREE_SIBLINGS siblings on each side
    of `description`, and `description` lists its first children. `earlier` and
    `later` each contain one sibling more than is shown, so their length tells
    whether more siblings exist on that side.
    """
    head, tail, elided = ancestors, [], 0
    if len(ancestors) > TREE_HEAD_LEVELS + TREE_TAIL_LEVELS:
        head = ancestors[:TREE_HEAD_LEVELS]
        tail = ancestors[-TREE_TAIL_LEVELS:]
        elided = len(ancestors) - TREE_HEAD_LEVELS - TREE_TAIL_LEVELS

    more_earlier = len(earlier) > TREE_SIBLINGS
    more_later = len(later) > TREE_SIBLINGS
    earlier = earlier[-TREE_SIBLINGS:]
    later = later[:TREE_SIBLINGS]
    earlier_page = later_page = None
    if more_earlier or more_later:
        # The 1-based pages of the parent's child list that contain the nearest
        # hidden sibling on each side. `index` is 0-based, in catalogue order.
        index = tree.sibling_index(description, visible)
        earlier_page = (index - len(earlier) - 1) // DESCRIPTIONS_PER_PAGE + 1
        later_page = (index + len(later) + 1) // DESCRIPTIONS_PER_PAGE + 1

    children = visible.filter(parent=description)
    first_children = list(children[: TREE_CHILDREN_PER_PAGE + 1])
    tree.attach_has_children(first_children, visible)
    return {
        "path": [*head, *tail],
        "head_length": len(head),
        "tail_length": len(tail),
        "elided": elided,
        "earlier": earlier,
        "later": later,
        "earlier_page": earlier_page if more_earlier else None,
        "later_page": later_page if more_later else None,
        "sibling_list_url": _sibling_list_url(description, ancestors),
        "children": first_children[:TREE_CHILDREN_PER_PAGE],
        "more_children": len(first_children) > TREE_CHILDREN_PER_PAGE,
    }


def _sibling_list_url(description, ancestors):
    """Return the URL of the page that lists `description` and its siblings.

    That is the parent's page, or the home page for a top-level description.
    Return None if the parent is a draft that the user may not see.
    """
    if description.parent_id is None:
        return reverse("home")
    parent = ancestors[-1]
    if not parent["visible"]:
        return None
    return reverse("description", args=[parent["description"].slug])


def _digital_object_context(description):
    """Return the template context of the master, the thumbnail and the viewer.

    `viewer` is "image", "audio", "video", "pdf" or None. For an image,
    `image_url` is the master itself if browsers display it at its size, and
    otherwise the reference image.
    """
    objects = {obj.usage: obj for obj in description.digital_objects.all()}
    master = objects.get(DigitalObject.Usage.MASTER)
    thumbnail = objects.get(DigitalObject.Usage.THUMBNAIL)
    ctx = {
        "master": master,
        "thumbnail": thumbnail,
        "viewer": None,
        "image_url": None,
        "thumbnail_url": None,
    }
    ctx["thumbnail_url"] = _thumbnail_url(description, objects)
    if master is None:
        return ctx

    media_url = reverse("media", args=[master.file.name])
    if derivatives.is_image(master):
        ctx["viewer"] = "image"
        ctx["image_url"] = media_url
        if derivatives.needs_reference(master):
            ctx["image_url"] = reverse("reference", args=[description.slug])
    elif master.mime_type.startswith(("audio/", "video/")):
        ctx["viewer"] = master.mime_type.split("/", 1)[0]
    elif derivatives.is_pdf(master):
        ctx["viewer"] = "pdf"
    return ctx


def _thumbnail_url(description, objects):
    """Return the URL of the thumbnail view of `description`, or None.

    `objects` is {usage: DigitalObject} of the description. None means that it
    has no DIP thumbnail and no master that a thumbnail can be made from.
    """
    master = objects.get(DigitalObject.Usage.MASTER)
    has_thumbnail = DigitalObject.Usage.THUMBNAIL in objects or (
        master is not None and derivatives.can_make_thumbnail(master)
    )
    if not has_thumbnail:
        return None
    return reverse("thumbnail", args=[description.slug])


def _digital_file(description):
    try:
        return description.digital_file
    except DigitalFile.DoesNotExist:
        return None


def _visible_digital_objects(request, slug):
    """Return {usage: DigitalObject} of a visible description, or raise Http404."""
    visible = Description.objects.visible_to(request.user)
    description = get_object_or_404(visible.only("id"), slug=slug)
    return {obj.usage: obj for obj in description.digital_objects.all()}


def _make_derivative(slug, master, make):
    """Send the derivative that `make(master)` returns, or the placeholder."""
    try:
        path = make(master)
    except derivatives.DerivativeError as e:
        logger.warning("Failed to make an image of description %s: %s", slug, e)
        return _placeholder_response()
    except Exception:
        # Image decoders parse untrusted files, so any exception they raise
        # gives the placeholder, and is logged with its traceback.
        logger.exception("Image decoder failed on description %s", slug)
        return _placeholder_response()
    return _derivative_response(path, "image/jpeg")


def _derivative_response(path, content_type):
    response = FileResponse(path.open("rb"), content_type=content_type or "image/jpeg")
    response["Cache-Control"] = DERIVATIVE_CACHE_CONTROL
    return response


def _placeholder_response():
    response = FileResponse(PLACEHOLDER_PATH.open("rb"), content_type="image/svg+xml")
    response["Cache-Control"] = "no-store"
    return response


def _description_json(request, description, visible):
    fields = {name: getattr(description, name) for name in API_DESCRIPTION_FIELDS}
    children = visible.filter(parent=description).values_list("slug", flat=True)
    children_page = _paginate(request, children, API_CHILDREN_PER_PAGE)
    digital_objects = sorted(
        description.digital_objects.all(), key=lambda obj: USAGE_ORDER.index(obj.usage)
    )
    objects = {obj.usage: obj for obj in digital_objects}
    thumbnail_url = _thumbnail_url(description, objects)
    return {
        "slug": description.slug,
        "title": description.title,
        **fields,
        "publication_status": description.publication_status,
        "parent": _parent_slug(description, visible),
        "children": list(children_page),
        "children_count": children_page.paginator.count,
        "children_next": _page_url(request, children_page),
        "url": request.build_absolute_uri(description.get_absolute_url()),
        "thumbnail_url": (
            request.build_absolute_uri(thumbnail_url) if thumbnail_url else None
        ),
        "digital_objects": [
            _digital_object_json(request, obj) for obj in digital_objects
        ],
        "digital_file": _digital_file_json(_digital_file(description)),
    }


def _page_url(request, page):
    """Return the absolute URL of the page after `page`, or None on the last one."""
    if not page.has_next():
        return None
    query = request.GET.copy()
    query["page"] = page.next_page_number()
    return request.build_absolute_uri(f"{request.path}?{query.urlencode()}")


def _parent_slug(description, visible):
    """Return the parent's slug, or None if there is none or the user may not see it."""
    if description.parent is None:
        return None
    if not visible.filter(id=description.parent_id).exists():
        return None
    return description.parent.slug


def _digital_object_json(request, digital_object):
    return {
        "usage": digital_object.usage,
        "name": digital_object.name,
        "mime_type": digital_object.mime_type,
        "size": digital_object.size,
        "checksum": digital_object.checksum,
        "url": request.build_absolute_uri(
            reverse("media", args=[digital_object.file.name])
        ),
    }


def _digital_file_json(digital_file):
    if digital_file is None:
        return None
    properties = {name: getattr(digital_file, name) for name in API_DIGITAL_FILE_FIELDS}
    events = [
        {name: getattr(event, name) for name in API_PREMIS_EVENT_FIELDS}
        for event in digital_file.premis_events.all()
    ]
    return {
        **properties,
        "aip": {"uuid": digital_file.aip.uuid, "name": digital_file.aip.name},
        "premis_events": events,
    }


def _resolve_media_path(path):
    """Return MEDIA_ROOT and the file that `path` names in it, both resolved.

    Raise Http404 if the file is missing or lies outside MEDIA_ROOT, whether
    through "..", an absolute path or a symbolic link.
    """
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        file_path = (root / path).resolve()
    except (OSError, ValueError):
        # Path.resolve raises ValueError for a path that contains a NUL byte.
        raise Http404(f"media file not found: {path}") from None
    if not file_path.is_relative_to(root) or not file_path.is_file():
        raise Http404(f"media file not found: {path}")
    return root, file_path


def _file_response(request, file_path, digital_object):
    content_type = (
        digital_object.mime_type
        or mimetypes.guess_type(file_path.name)[0]
        or "application/octet-stream"
    )
    is_active = content_type in ACTIVE_CONTENT_TYPES
    response = None
    if not is_active:
        response = ranges.partial_response(request, file_path, content_type)
    if response is None:
        response = FileResponse(
            file_path.open("rb"),
            content_type=content_type,
            as_attachment=is_active,
            filename=digital_object.name,
        )
    if is_active:
        response["Content-Security-Policy"] = "sandbox"
    else:
        response["Accept-Ranges"] = "bytes"
    return response
