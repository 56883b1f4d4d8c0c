"""Build a whole Archivematica DIP folder around a real METS file, for tests and demos.

The folder has the layout that Archivematica gives a DIP:

    <SIPName>-<SIPUUID>/
      METS.<SIPUUID>.xml                 the METS, copied byte for byte
      processingMCP.xml
      objects/<file-uuid>-<name>.<ext>   one access copy per original file
      thumbnails/<file-uuid>.jpg         for images
      OCRfiles/<name>-<file-uuid>.txt    for images and documents

The access copies are small stand-ins whose format depends on the original's file
extension: images become JPEG, audio MP3, video MP4, text stays text and anything
else becomes PDF. NOTE: this only approximates Archivematica, whose format policy
chooses the access format for each PRONOM format.

This module reads the METS with lxml alone, not with depositum's extractor, so that
tests of the extractor do not check it against itself.

Usage: python -m tests.dips METS_PATH DEST_DIR
"""

import argparse
import hashlib
import io
import re
import shutil
import struct
import unicodedata
import uuid
import zlib
from pathlib import Path

from lxml import etree

try:
    from PIL import Image, ImageDraw
except ImportError:  # Pillow is a project dependency, but a bare venv may lack it.
    Image = None

NAMESPACES = {"mets": "http://www.loc.gov/METS/"}
XLINK_HREF = "{http://www.w3.org/1999/xlink}href"
PREMIS_UUID = (
    "mets:techMD/mets:mdWrap[@MDTYPE='PREMIS:OBJECT']/mets:xmlData"
    "//*[local-name()='objectIdentifier']"
    "[*[local-name()='objectIdentifierType']='UUID']"
    "/*[local-name()='objectIdentifierValue']"
)
UUID_PATTERN = (
    r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
)
SIP_LABEL = re.compile(rf"^(.*)-({UUID_PATTERN})$")
FILE_ID = re.compile(rf"^file-({UUID_PATTERN})$")

IMAGE_EXTENSIONS = set(
    "ai bmp cr2 dng eps gif heic ico j2k jp2 jpeg jpg nef pcx pct png psd svg tga "
    "tif tiff webp".split()
)
AUDIO_EXTENSIONS = set("aac aif aiff au flac m4a mp3 ogg wav wma".split())
VIDEO_EXTENSIONS = set("avi dv flv m4v mkv mov mp4 mpeg mpg ogv vob webm wmv".split())
TEXT_EXTENSIONS = set("csv htm html json log md tsv txt xml".split())

PROCESSING_MCP = b"""<?xml version="1.0" encoding="UTF-8"?>
<processingMCP>
  <preconfiguredChoices/>
</processingMCP>
"""


def build_dip(
    mets_path,
    dest_dir,
    *,
    name=None,
    access_copies=True,
    thumbnails=True,
    ocr=True,
    ocr_text=None,
    skip_uuids=(),
):
    """Write a DIP folder for `mets_path` under `dest_dir` and return its path.

    The SIP name and UUID come from the LABEL of the physical structMap's root div
    (<name>-<uuid>), else from the METS OBJID, else from a UUID derived from the
    file's bytes. `name` replaces the SIP name. Originals whose UUID is in
    `skip_uuids` get no access copy, thumbnail or OCR file, and with
    `access_copies=False` objects/ stays empty. `ocr_text` replaces the
    stand-in sentence written to every OCR file.
    """
    mets_path = Path(mets_path)
    root = etree.parse(
        str(mets_path), etree.XMLParser(resolve_entities=False)
    ).getroot()
    sip_name, sip_uuid = sip_identity(root, mets_path)
    dip = Path(dest_dir) / f"{name or sip_name}-{sip_uuid}"
    for folder in ("objects", "thumbnails", "OCRfiles"):
        (dip / folder).mkdir(parents=True)
    shutil.copyfile(mets_path, dip / f"METS.{sip_uuid}.xml")
    (dip / "processingMCP.xml").write_bytes(PROCESSING_MCP)

    skipped = {value.lower() for value in skip_uuids}
    for file_uuid, href in original_files(root):
        if access_copies and file_uuid not in skipped:
            write_access_files(
                dip,
                file_uuid,
                href,
                thumbnails=thumbnails,
                ocr=ocr,
                ocr_text=ocr_text,
            )
    return dip


def sip_identity(root, mets_path):
    """Return the SIP name and UUID of a METS file."""
    label = root.xpath(
        "mets:structMap[@TYPE='physical']/mets:div/@LABEL", namespaces=NAMESPACES
    )
    match = SIP_LABEL.match(label[0]) if label else None
    if match:
        return match[1], match[2].lower()
    objid = root.get("OBJID", "")
    if re.fullmatch(UUID_PATTERN, objid):
        return mets_path.stem, objid.lower()
    digest = hashlib.sha256(mets_path.read_bytes()).hexdigest()
    return mets_path.stem, str(uuid.uuid5(uuid.NAMESPACE_URL, f"sha256:{digest}"))


def original_files(root):
    """Yield (object UUID, FLocat href) for each original file of the METS."""
    amd_sections = {
        section.get("ID"): section
        for section in root.iterfind("mets:amdSec", NAMESPACES)
    }
    for entry in root.iterfind(
        "mets:fileSec//mets:fileGrp[@USE='original']/mets:file", NAMESPACES
    ):
        file_uuid = ""
        for amd_id in (entry.get("ADMID") or "").split():
            if amd_id in amd_sections:
                values = amd_sections[amd_id].xpath(PREMIS_UUID, namespaces=NAMESPACES)
                file_uuid = values[0].text.strip() if values else file_uuid
        if not file_uuid:
            match = FILE_ID.match(entry.get("ID", ""))
            file_uuid = match[1] if match else ""
        location = entry.find("mets:FLocat", NAMESPACES)
        if file_uuid and location is not None:
            yield file_uuid.lower(), location.get(XLINK_HREF, "")


def write_access_files(dip, file_uuid, href, *, thumbnails, ocr, ocr_text=None):
    """Write the access copy of one original, and its thumbnail and OCR text."""
    original_name = href.rsplit("/", 1)[-1]
    stem, _, extension = original_name.rpartition(".")
    if not stem:
        stem, extension = original_name, ""
    stem = sanitize_name(stem)
    kind = file_kind(extension.lower())

    access_name = f"{file_uuid}-{stem}.{ACCESS_EXTENSIONS[kind]}"
    (dip / "objects" / access_name).write_bytes(access_copy_bytes(kind, original_name))
    if thumbnails and kind == "image":
        thumbnail = jpeg_bytes(original_name, size=(100, 75))
        (dip / "thumbnails" / f"{file_uuid}.jpg").write_bytes(thumbnail)
    if ocr and kind in ("image", "document"):
        text = ocr_text or (
            f"OCR text recognised in {original_name}: lorem ipsum dolor sit amet\n"
        )
        (dip / "OCRfiles" / f"{stem}-{file_uuid}.txt").write_text(text, "utf-8")


ACCESS_EXTENSIONS = {
    "image": "jpg",
    "audio": "mp3",
    "video": "mp4",
    "text": "txt",
    "document": "pdf",
}


def file_kind(extension):
    if extension in IMAGE_EXTENSIONS:
        return "image"
    if extension in AUDIO_EXTENSIONS:
        return "audio"
    if extension in VIDEO_EXTENSIONS:
        return "video"
    if extension in TEXT_EXTENSIONS:
        return "text"
    return "document"


def access_copy_bytes(kind, original_name):
    if kind == "image":
        return jpeg_bytes(original_name, size=(320, 240))
    if kind == "audio":
        return silent_mp3_bytes()
    if kind == "video":
        return mp4_placeholder_bytes()
    if kind == "text":
        return f"Access copy of {original_name}\n".encode()
    return pdf_bytes(f"Access copy of {original_name}")


def sanitize_name(name):
    """Return `name` without accents and with every character outside A-Z, a-z,
    0-9 and -_.() replaced by "_", approximating Archivematica's name cleanup."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return re.sub(r"[^A-Za-z0-9\-_.()]", "_", ascii_name) or "file"


# File contents ----------------------------------------------------------------


def jpeg_bytes(label, size):
    """Return a JPEG image of `size` that shows `label` (the label needs Pillow)."""
    shade = zlib.crc32(label.encode()) % 96 + 128
    if Image is None:
        return plain_jpeg_bytes(size, shade)
    image = Image.new("RGB", size, (shade, shade, 255 - shade // 2))
    draw = ImageDraw.Draw(image)
    draw.rectangle((4, 4, size[0] - 5, size[1] - 5), outline=(40, 40, 40))
    draw.text((10, size[1] // 2 - 6), label[:48], fill=(0, 0, 0))
    output = io.BytesIO()
    image.save(output, "JPEG", quality=70)
    return output.getvalue()


# The DC Huffman table of baseline JPEG (ITU-T T.81, Table K.3): the number of
# codes of each length 1-16, then the symbols (DC size categories) in code order.
DC_COUNTS = (0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0)
DC_SYMBOLS = tuple(range(12))
# Every block has only a DC coefficient, so the AC table needs one symbol, the
# end of block (0x00), coded as the single bit 0.
AC_COUNTS = (1,) + (0,) * 15
AC_SYMBOLS = (0x00,)
AC_END_OF_BLOCK = (0b0, 1)


def plain_jpeg_bytes(size, shade):
    """Return a greyscale baseline JPEG made without Pillow.

    Each 8x8 block is one flat grey, so only DC coefficients are coded. The image
    shows a frame and diagonal stripes in place of text.
    """
    width, height = size
    blocks_x, blocks_y = (width + 7) // 8, (height + 7) // 8
    codes = huffman_codes(DC_COUNTS, DC_SYMBOLS)
    bits = BitWriter()
    previous = 0
    for y in range(blocks_y):
        for x in range(blocks_x):
            if x in (0, blocks_x - 1) or y in (0, blocks_y - 1):
                grey = 40
            elif (x + y) % 4 < 2:
                grey = shade
            else:
                grey = 255 - shade // 2
            # With all quantization steps 1, a flat block's DC is 8 * (grey - 128).
            dc = 8 * (grey - 128)
            write_dc(bits, codes, dc - previous)
            previous = dc
            bits.write(*AC_END_OF_BLOCK)
    return b"".join(
        [
            b"\xff\xd8",
            segment(0xE0, b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"),
            segment(0xDB, b"\x00" + b"\x01" * 64),
            segment(0xC0, struct.pack(">BHHB3B", 8, height, width, 1, 1, 0x11, 0)),
            segment(0xC4, b"\x00" + bytes(DC_COUNTS) + bytes(DC_SYMBOLS)),
            segment(0xC4, b"\x10" + bytes(AC_COUNTS) + bytes(AC_SYMBOLS)),
            segment(0xDA, b"\x01\x01\x00\x00\x3f\x00"),
            bits.flush(),
            b"\xff\xd9",
        ]
    )


def huffman_codes(counts, symbols):
    """Return {symbol: (code, length)} for a canonical JPEG Huffman table."""
    codes, code, index = {}, 0, 0
    for length, number in enumerate(counts, start=1):
        for _ in range(number):
            codes[symbols[index]] = (code, length)
            code += 1
            index += 1
        code <<= 1
    return codes


def write_dc(bits, codes, difference):
    category = abs(difference).bit_length()
    bits.write(*codes[category])
    if category:
        extra = difference if difference > 0 else difference + (1 << category) - 1
        bits.write(extra, category)


class BitWriter:
    """Pack bits most significant first, stuffing a zero byte after each 0xFF."""

    def __init__(self):
        self.output = bytearray()
        self.buffer = 0
        self.length = 0

    def write(self, value, length):
        self.buffer = (self.buffer << length) | value
        self.length += length
        while self.length >= 8:
            self.length -= 8
            self.append((self.buffer >> self.length) & 0xFF)

    def append(self, byte):
        self.output.append(byte)
        if byte == 0xFF:
            self.output.append(0)

    def flush(self):
        if self.length:
            # Pad the last byte with one bits, as the standard requires.
            padding = 8 - self.length
            self.write((1 << padding) - 1, padding)
        return bytes(self.output)


def segment(marker, payload):
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def silent_mp3_bytes(seconds=3):
    """Return `seconds` of silence as an MP3 file that browsers play.

    Each frame is MPEG-1 Layer III at 128 kbit/s, 48 kHz, mono, without CRC:
    1152 samples in 144 * 128000 / 48000 = 384 bytes, so no frame needs a
    padding byte. Side information and main data that are all zero decode
    as silence.
    """
    header = b"\xff\xfb\x94\xc0"
    frames = round(seconds * 48000 / 1152)
    return (header + bytes(384 - len(header))) * frames


def mp4_placeholder_bytes():
    # An ISO base media "ftyp" box alone: the file is typed as MP4 but has no track.
    return struct.pack(">I", 24) + b"ftypisom" + struct.pack(">I", 512) + b"isomiso2"


def pdf_bytes(text):
    """Return a one-page PDF 1.4 document that shows `text` in Helvetica."""
    text = text.encode("ascii", "replace").decode()
    escaped = text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
    content = f"BT /F1 14 Tf 72 720 Td ({escaped}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        (
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
            b"/Resources << /Font << /F1 5 0 R >> >> >>"
        ),
        b"<< /Length %d >>\nstream\n%s\nendstream" % (len(content), content),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    output = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(output))
        output += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref_offset = len(output)
    output += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        output += b"%010d 00000 n \n" % offset
    output += b"trailer\n<< /Size %d /Root 1 0 R >>\n" % (len(objects) + 1)
    output += b"startxref\n%d\n%%%%EOF\n" % xref_offset
    return bytes(output)


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m tests.dips",
        description="Build an Archivematica DIP folder around a METS file and "
        "print its path.",
    )
    parser.add_argument("mets_path", type=Path, help="the METS file to build around")
    parser.add_argument("dest_dir", type=Path, help="folder to create the DIP in")
    parser.add_argument("--name", help="SIP name to use in the DIP folder name")
    parser.add_argument(
        "--no-access-copies", action="store_true", help="leave objects/ empty"
    )
    parser.add_argument(
        "--skip-uuid",
        action="append",
        default=[],
        metavar="UUID",
        help="write no access copy for this original file UUID (repeatable)",
    )
    parser.add_argument(
        "--ocr-text",
        metavar="TEXT",
        help="text to write to every OCR file in place of the stand-in sentence",
    )
    args = parser.parse_args(argv)
    dip = build_dip(
        args.mets_path,
        args.dest_dir,
        name=args.name,
        access_copies=not args.no_access_copies,
        ocr_text=args.ocr_text,
        skip_uuids=args.skip_uuid,
    )
    print(dip)


if __name__ == "__main__":
    main()
