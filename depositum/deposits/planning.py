"""From a deposit row to an IngestPlan: find or unpack its package and read it.

The worker's child process uses this before writing, and a SWORD X-No-Op
request uses it to report what an ingest would do.
"""

import os
import shutil
from pathlib import Path

from django.conf import settings

from depositum.deposits.models import Source
from depositum.deposits.unpack import unpack_zip
from depositum.ingest.plan import IngestError
from depositum.ingest.registry import get_extractor


def plan_deposit(deposit, unpack_to):
    """Return the IngestPlan of `deposit`, unpacking uploads into `unpack_to`."""
    extractor_class = get_extractor(deposit.packaging)
    if extractor_class is None:
        raise IngestError(f"No extractor reads the packaging {deposit.packaging!r}")

    package_dir = package_folder(deposit, unpack_to)
    return extractor_class(extractor_class.locate(package_dir)).plan()


def package_folder(deposit, unpack_to):
    """Return the folder that contains the deposit's package."""
    if deposit.source == Source.REFERENCE:
        folder = Path(deposit.path)
        if not folder.is_dir():
            raise IngestError(
                f"The DIP folder {folder.name!r} is no longer in the deposit"
                " directory: it was moved or removed after the deposit was"
                " accepted. Copy it there again and deposit it again"
            )
        reject_symlinks(folder)
        return folder

    parts = deposit.upload_parts()
    if not parts:
        raise IngestError(
            f"Deposit {deposit.id} has no uploaded zip: its upload folder is empty"
            " or was removed. Deposit the DIP again"
        )
    if unpack_to.exists():
        # A dead attempt of the same deposit left it behind.
        shutil.rmtree(unpack_to)
    # Errors name each zip as it was uploaded, not by its stored name.
    filenames = {part.get("name"): part.get("filename") for part in deposit.parts}
    for part in parts:
        unpack_zip(part, unpack_to, filenames.get(part.name) or part.name)
    return unpack_to


def reject_symlinks(folder):
    """Raise IngestError if anything in `folder` is a symbolic link.

    rsync -l, which Archivematica uses, copies links as links; followed, one
    could publish any file the worker can read.
    """
    links = []
    for root, dirs, files in os.walk(folder):
        for name in dirs + files:
            if os.path.islink(os.path.join(root, name)):
                links.append(os.path.relpath(os.path.join(root, name), folder))
    if links:
        first_links = ", ".join(sorted(links)[:5])
        more = f" and {len(links) - 5} more" if len(links) > 5 else ""
        raise IngestError(
            f"The DIP folder {folder.name} contains symbolic links"
            f" ({first_links}{more}): a DIP must contain regular files only. Copy"
            " it without links (rsync -rtz --copy-links) and deposit it again"
        )


def unpacked_dir(deposit):
    return Path(settings.UPLOAD_DIR) / f"{deposit.uuid}.unpacked"


def remove_package(deposit):
    """Remove the deposited files once their ingest has completed."""
    if deposit.source == Source.UPLOAD or settings.DELETE_DEPOSITED_DIPS:
        shutil.rmtree(deposit.path, ignore_errors=True)
