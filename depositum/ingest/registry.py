"""Extractors by SWORD packaging URI.

The protocol layer looks up here whether a packaging is accepted and which
extractor reads it. A new package format registers here and needs no change to
the SWORD views.
"""

EXTRACTORS = {}


def register(*packaging_uris):
    """Register the decorated extractor class for each of `packaging_uris`."""

    def decorator(cls):
        for uri in packaging_uris:
            EXTRACTORS[normalize(uri)] = cls
        cls.packaging_uris = packaging_uris
        return cls

    return decorator


def normalize(uri):
    return (uri or "").strip().rstrip("/")


def get_extractor(packaging):
    """Return the extractor class for `packaging`, or None if none reads it."""
    load_extractors()
    return EXTRACTORS.get(normalize(packaging))


def accepted_packagings():
    """Return the packaging URIs the service accepts, the preferred one first."""
    load_extractors()
    return list(EXTRACTORS)


def load_extractors():
    # Importing the module runs its @register decorators.
    from depositum.ingest import archivematica  # noqa: F401
