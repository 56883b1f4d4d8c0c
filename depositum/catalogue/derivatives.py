"""Thumbnails and reference images made from master access copies on request.

A derivative is a JPEG made the first time it is requested and kept in a
`.derivatives` folder beside its master under MEDIA_ROOT, so it goes away with
the media folder of its AIP. Its name contains the start of the master's
checksum, so a replaced master does not get the derivative of the file it
replaced. A master without a checksum is named by its size instead, so a
replacement of the same size would get the old derivative.

Images are read with Pillow, and an image above its decompression-bomb limit
(Image.MAX_IMAGE_PIXELS) is an error here, not a warning.
PDFs are rendered with PDFium through pypdfium2, first page only.
"""

import logging
import os
import threading
import uuid
import warnings
from pathlib import Path

from django.conf import settings
from PIL import Image, ImageOps

logger = logging.getLogger(__name__)

# Maximum width and height, in pixels, of a thumbnail and of a reference image.
THUMBNAIL_SIZE = 256
REFERENCE_SIZE = 1200
JPEG_QUALITY = 85

# Image types that browsers display in an <img>.
WEB_IMAGE_TYPES = {
    "image/avif",
    "image/gif",
    "image/jpeg",
    "image/png",
    "image/webp",
}
PDF_TYPES = {"application/pdf"}
# SVG is an image type, but Pillow does not read it, and the media view sends it
# as a download because it can contain script.
UNREADABLE_IMAGE_TYPES = {"image/svg+xml"}

# PDFium is not thread-safe, and a web server may run requests in threads.
PDFIUM_LOCK = threading.Lock()


class DerivativeError(Exception):
    """A derivative could not be made from a master access copy."""


def is_image(master):
    return (
        master.mime_type.startswith("image/")
        and master.mime_type not in UNREADABLE_IMAGE_TYPES
    )


def is_pdf(master):
    return master.mime_type in PDF_TYPES


def can_make_thumbnail(master):
    return is_image(master) or is_pdf(master)


def master_path(master):
    """Return the resolved path of the file of `master` inside MEDIA_ROOT.

    Raise DerivativeError if it is missing or lies outside MEDIA_ROOT.
    """
    root = Path(settings.MEDIA_ROOT).resolve()
    try:
        path = (root / master.file.name).resolve()
    except (OSError, ValueError) as e:
        raise DerivativeError(f"invalid media path {master.file.name!r}: {e}") from e
    if not path.is_relative_to(root) or not path.is_file():
        raise DerivativeError(f"media file not found: {master.file.name}")
    return path


def needs_reference(master):
    """Return True if browsers should get a reference image instead of `master`.

    That is an image in a type that browsers do not display (TIFF, BMP, JPEG
    2000...), or one wider or taller than REFERENCE_SIZE. Pillow reads only the
    header to find the size. A file that cannot be read needs a reference too,
    whose request then returns the placeholder.
    """
    if master.mime_type not in WEB_IMAGE_TYPES:
        return True
    try:
        with Image.open(master_path(master)) as image:
            width, height = image.size
    except (DerivativeError, OSError, Image.DecompressionBombError) as e:
        logger.warning("Failed to read the size of %s: %s", master.file.name, e)
        return True
    return max(width, height) > REFERENCE_SIZE


def thumbnail(master):
    """Return the path of the thumbnail of `master`, making it if needed."""
    return derivative(master, "thumbnail", THUMBNAIL_SIZE)


def reference(master):
    """Return the path of the reference image of `master`, making it if needed."""
    return derivative(master, "reference", REFERENCE_SIZE)


def derivative(master, kind, max_size):
    """Return the path of the `kind` JPEG of `master`, making it if needed.

    Raise DerivativeError if the master is missing, of a type that cannot be
    rendered, too large for Pillow's limit, or damaged.
    """
    source = master_path(master)
    version = (master.checksum or str(master.size))[:16]
    path = source.parent / ".derivatives" / f"{source.name}.{version}.{kind}.jpg"
    if path.is_file():
        return path

    if is_pdf(master):
        image = render_pdf_page(source, max_size)
    elif is_image(master):
        image = render_image(source, max_size)
    else:
        raise DerivativeError(f"no {kind} for media type {master.mime_type!r}")

    save_jpeg(image, path)
    logger.info("Made the %s of %s", kind, master.file.name)
    return path


def render_image(source, max_size):
    """Return the first frame of the image `source`, scaled to fit `max_size`."""
    try:
        with warnings.catch_warnings():
            # Pillow only warns above MAX_IMAGE_PIXELS and raises above twice
            # that, so the warning is turned into an error.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                # JPEG decoders scale down while reading, which saves memory.
                image.draft("RGB", (max_size, max_size))
                image.thumbnail((max_size, max_size))
                return flatten(ImageOps.exif_transpose(image))
    except (
        OSError,
        ValueError,
        SyntaxError,
        Image.DecompressionBombError,
        Image.DecompressionBombWarning,
    ) as e:
        # Pillow raises SyntaxError for some damaged headers (PSD, PCX).
        raise DerivativeError(f"failed to read image {source.name}: {e}") from e


def render_pdf_page(source, max_size):
    """Return the first page of the PDF `source`, rendered to fit `max_size`."""
    # Imported here because PDFium adds about 8 MB to every web process that
    # loads it, and most requests never render a PDF.
    import pypdfium2

    with PDFIUM_LOCK:
        try:
            document = pypdfium2.PdfDocument(str(source))
        except pypdfium2.PdfiumError as e:
            raise DerivativeError(f"failed to read PDF {source.name}: {e}") from e
        try:
            if len(document) == 0:
                raise DerivativeError(f"PDF {source.name} has no pages")
            page = document[0]
            width, height = page.get_size()
            if width <= 0 or height <= 0:
                raise DerivativeError(f"PDF {source.name} has an empty first page")
            bitmap = page.render(scale=max_size / max(width, height))
            return flatten(bitmap.to_pil())
        except pypdfium2.PdfiumError as e:
            raise DerivativeError(f"failed to render PDF {source.name}: {e}") from e
        finally:
            document.close()


def flatten(image):
    """Return `image` in RGB, with any transparency laid on white."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        background = Image.new("RGB", rgba.size, "white")
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    if image.mode.startswith("I;16") or image.mode in ("I", "F"):
        # Greyscale of more than 8 bits is divided by 256 before the RGB
        # conversion. NOTE: this assumes a 16-bit range, so 32-bit integer or
        # float images with another range come out too dark or white.
        image = image.convert("I").point(lambda value: value * (1 / 256)).convert("L")
    return image.convert("RGB")


def save_jpeg(image, path):
    """Write `image` to `path` through a temporary file and an atomic rename.

    A concurrent request therefore reads either no file or a complete one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.{uuid.uuid4().hex}.part")
    try:
        image.save(partial, "JPEG", quality=JPEG_QUALITY, optimize=True)
        os.replace(partial, path)
    except OSError as e:
        partial.unlink(missing_ok=True)
        raise DerivativeError(f"failed to write {path}: {e}") from e
