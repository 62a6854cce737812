"""Builders of small test images and archives, including archives no honest tool writes."""

from __future__ import annotations

import io
import struct
import tarfile
import zipfile
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from core.ingest import IngestLimits

MIB = 1024**2
GIB = 1024**3

TEST_LIMITS = IngestLimits(max_members=10_000, max_expanded_bytes=256 * MIB, max_image_pixels=50_000_000)


def photo_bytes(seed: int, *, format: str = "JPEG", size: tuple[int, int] = (40, 30)) -> bytes:
    """Return a small image with random pixels, so that every seed gives distinct content."""
    generator = np.random.default_rng(seed)
    pixels = generator.integers(0, 256, size=(size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format)
    return buffer.getvalue()


def class_files(classes: dict[str, int], *, prefix: str = "", seed: int = 0) -> dict[str, bytes]:
    """Return {path: JPEG bytes} with the given number of distinct images per class folder."""
    files = {}
    for class_index, (name, count) in enumerate(sorted(classes.items())):
        for index in range(count):
            files[f"{prefix}{name}/{index:03d}.jpg"] = photo_bytes(seed * 100_000 + class_index * 1000 + index)
    return files


def write_zip(path: Path, files: dict[str, bytes], *, directories: tuple[str, ...] = ()) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in directories:
            archive.writestr(zipfile.ZipInfo(name), b"")
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def write_tar(path: Path, files: dict[str, bytes], *, mode: str = "w:gz") -> Path:
    with tarfile.open(path, mode) as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def zero_deflate_stream(size: int) -> bytes:
    """Return a raw Deflate stream that inflates to `size` zero bytes, built without inflating them.

    One MiB of zeros is compressed once and ended with a full flush, which makes its output
    independent of earlier data, so the block can be repeated to describe any multiple of it.
    """
    assert size % MIB == 0
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(MIB)) + compressor.flush(zlib.Z_FULL_FLUSH)
    return block * (size // MIB) + compressor.flush()


def write_zip_bomb(path: Path, name: str, size: int) -> Path:
    """Write a zip with one Deflate entry of `size` zeros whose headers state `size` honestly.

    The CRC is left as 0, so reading the entry to its end would fail; ingest must stop first.
    """
    data = zero_deflate_stream(size)
    encoded = name.encode()
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 8, 0, 0, 0, len(data), size, len(encoded), 0)
    central = struct.pack(
        "<4s4B4HL2L5H2L", b"PK\x01\x02", 20, 3, 20, 0, 0, 8, 0, 0, 0, len(data), size, len(encoded), 0, 0, 0, 0, 0o100644 << 16, 0
    )
    directory = central + encoded
    directory_offset = len(local) + len(encoded) + len(data)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 1, 1, len(directory), directory_offset, 0)
    path.write_bytes(local + encoded + data + directory + end)
    return path


def gzip_tar_bomb(path: Path, name: str, size: int, *, extra_files: dict[str, bytes] | None = None) -> Path:
    """Write a .tar.gz whose entry `name` contains `size` zeros, compressing them without materialising them."""
    header = tarfile.TarInfo(name)
    header.size = size
    prefix = b"".join(_tar_member_bytes(member, data) for member, data in (extra_files or {}).items())
    prefix += header.tobuf(format=tarfile.GNU_FORMAT)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    body = compressor.compress(prefix) + compressor.flush(zlib.Z_FULL_FLUSH)
    zero_block = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = zero_block.compress(bytes(MIB)) + zero_block.flush(zlib.Z_FULL_FLUSH)
    # A valid gzip header with no trailer: the stream is cut off, which ingest must not reach.
    gzip_header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"
    path.write_bytes(gzip_header + body + block * (size // MIB))
    return path


def _tar_member_bytes(name: str, data: bytes) -> bytes:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    padding = (-len(data)) % tarfile.BLOCKSIZE
    return info.tobuf(format=tarfile.GNU_FORMAT) + data + bytes(padding)
