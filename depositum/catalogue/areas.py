"""The ISAD(G) areas of a description page, with the fields that have values."""

from django.utils.text import capfirst

from depositum.catalogue.models import Description

# Description fields under their ISAD(G) area headings, in display order.
# Contributors, publishers and the Dublin Core type are not ISAD(G) elements,
# so each is placed in the area closest to its meaning.
ISAD_AREAS = [
    (
        "Identity statement",
        [
            "identifier",
            "title",
            "date_display",
            "level_of_description",
            "extent_and_medium",
        ],
    ),
    (
        "Context",
        ["creators", "contributors", "publishers", "archival_history", "acquisition"],
    ),
    ("Content and structure", ["scope_and_content", "dc_type"]),
    ("Conditions of access and use", ["access_conditions", "languages"]),
    ("Allied materials", ["location_of_originals"]),
    ("Notes", ["notes"]),
    ("Access points", ["subject_access_points", "place_access_points"]),
]


def isad_areas(description):
    """Return the ISAD(G) areas that have values, each with its rows of values.

    Every row has a `label` and a list of `values`, so text fields and the
    lists of names or access points render the same way.
    """
    areas = []
    for heading, names in ISAD_AREAS:
        rows = []
        for name in names:
            values = display_values(description, name)
            if values:
                label = capfirst(Description._meta.get_field(name).verbose_name)
                rows.append({"name": name, "label": label, "values": values})
        if rows:
            areas.append({"heading": heading, "rows": rows})
    return areas


def display_values(description, name):
    value = getattr(description, name)
    if name == "date_display" and not value:
        value = date_range(description.start_date, description.end_date)
    if isinstance(value, list):
        return [item for item in value if item]
    return [value] if value else []


def date_range(start, end):
    if start and end and start != end:
        return f"{start.isoformat()} – {end.isoformat()}"
    date = start or end
    return date.isoformat() if date else ""
