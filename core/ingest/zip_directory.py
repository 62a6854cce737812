"""Counting the records of a zip file's central directory without trusting its totals.

`zipfile.ZipFile` parses the whole central directory into memory before anything can be
checked, and the entry count in the end record is only a claim. This module walks the
directory record by record and stops once the count passes a limit, so a zip with millions
of tiny entries costs a bounded amount of memory. The directory's size is returned too, because
zipfile reads all of it into memory at once.
"""

from __future__ import annotations

import struct
from pathlib import Path
from typing import BinaryIO

_END_RECORD = struct.Struct("<4s4H2LH")
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_END_RECORD = struct.Struct("<4sQ2H2L4Q")
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_CENTRAL_RECORD = struct.Struct("<4s4B4HL2L5H2L")
_CENTRAL_SIGNATURE = b"PK\x01\x02"
_MAX_COMMENT = 65535


def scan_central_directory(path: Path, *, stop_after: int) -> tuple[int, int]:
    """Return (record count, size in bytes) of the central directory.

    Counting stops at `stop_after + 1` records. Raises ValueError when no end record is found.
    """
    with path.open("rb") as handle:
        start, size = _locate_central_directory(handle)
        handle.seek(start)
        count = 0
        consumed = 0
        while consumed < size:
            record = handle.read(_CENTRAL_RECORD.size)
            if len(record) < _CENTRAL_RECORD.size or record[:4] != _CENTRAL_SIGNATURE:
                break  # a damaged directory; zipfile raises BadZipFile for it afterwards
            fields = _CENTRAL_RECORD.unpack(record)
            name_length, extra_length, comment_length = fields[12], fields[13], fields[14]
            variable = name_length + extra_length + comment_length
            handle.seek(variable, 1)
            consumed += _CENTRAL_RECORD.size + variable
            count += 1
            if count > stop_after:
                break
        return count, size


def _locate_central_directory(handle: BinaryIO) -> tuple[int, int]:
    """Return (offset, size) of the central directory, measured back from the end record.

    Measuring back from the end record, as zipfile does, also finds the directory of a zip
    with data prepended (a self-extracting archive), whose stored offsets are all shifted.
    """
    handle.seek(0, 2)
    file_size = handle.tell()
    tail_size = min(file_size, _END_RECORD.size + _MAX_COMMENT)
    handle.seek(file_size - tail_size)
    tail = handle.read(tail_size)
    position = tail.rfind(_END_SIGNATURE)
    if position < 0 or position + _END_RECORD.size > len(tail):
        raise ValueError("no zip end of central directory record")
    end_offset = file_size - tail_size + position
    fields = _END_RECORD.unpack(tail[position : position + _END_RECORD.size])
    directory_size = fields[5]

    locator_offset = end_offset - _ZIP64_LOCATOR.size
    if locator_offset >= 0:
        handle.seek(locator_offset)
        locator = handle.read(_ZIP64_LOCATOR.size)
        if locator[:4] == _ZIP64_LOCATOR_SIGNATURE:
            zip64_offset = locator_offset - _ZIP64_END_RECORD.size
            handle.seek(zip64_offset)
            record = handle.read(_ZIP64_END_RECORD.size)
            if len(record) == _ZIP64_END_RECORD.size and record[:4] == _ZIP64_END_SIGNATURE:
                directory_size = _ZIP64_END_RECORD.unpack(record)[8]
                return zip64_offset - directory_size, directory_size
    return end_offset - directory_size, directory_size
