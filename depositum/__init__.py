"""depositum: receive Archivematica DIPs over SWORD and publish them for access."""

__version__ = "0.1.0"
