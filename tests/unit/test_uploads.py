"""Tests of streaming uploads to disk under a size cap."""

from __future__ import annotations

import asyncio
import hashlib
import tracemalloc
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import PayloadTooLargeError
from core.uploads import save_upload_stream

MIB = 1024**2


async def generated_chunks(total: int, chunk_size: int = 64 * 1024) -> AsyncIterator[bytes]:
    """Yield `total` bytes of a repeating pattern, like a request body arriving in pieces."""
    sent = 0
    while sent < total:
        size = min(chunk_size, total - sent)
        yield bytes((sent + offset) % 251 for offset in range(min(size, 251))) * (size // 251) + bytes(size % 251)
        sent += size


async def collected(chunks: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in chunks])


def test_save_upload_writes_file_and_hash(tmp_path: Path) -> None:
    expected = asyncio.run(collected(generated_chunks(300_000)))
    path, size, sha256 = asyncio.run(save_upload_stream(generated_chunks(300_000), tmp_path, max_bytes=MIB))

    assert path.parent == tmp_path
    assert path.read_bytes() == expected
    assert size == 300_000
    assert sha256 == hashlib.sha256(expected).hexdigest()


def test_save_upload_exactly_at_limit_accepted(tmp_path: Path) -> None:
    _, size, _ = asyncio.run(save_upload_stream(generated_chunks(MIB), tmp_path, max_bytes=MIB))
    assert size == MIB


def test_save_upload_over_limit_rejected(tmp_path: Path) -> None:
    with pytest.raises(PayloadTooLargeError) as caught:
        asyncio.run(save_upload_stream(generated_chunks(MIB + 1), tmp_path, max_bytes=MIB))

    assert caught.value.code == "upload_too_large"
    assert caught.value.http_status == 413
    assert str(MIB) in caught.value.message
    assert "1.0 MiB" in caught.value.message
    assert list(tmp_path.iterdir()) == []


def test_save_upload_stops_reading_at_limit(tmp_path: Path) -> None:
    pulled: list[int] = []

    async def endless() -> AsyncIterator[bytes]:
        while True:
            pulled.append(1)
            yield bytes(MIB)

    with pytest.raises(PayloadTooLargeError):
        asyncio.run(save_upload_stream(endless(), tmp_path, max_bytes=3 * MIB))
    assert len(pulled) == 4


def test_save_upload_stream_error_removes_file(tmp_path: Path) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"partial data"
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        asyncio.run(save_upload_stream(broken(), tmp_path, max_bytes=MIB))
    assert list(tmp_path.iterdir()) == []


def test_save_upload_cancelled_removes_file(tmp_path: Path) -> None:
    async def stalled() -> AsyncIterator[bytes]:
        yield b"first chunk"
        await asyncio.sleep(3600)
        yield b"never sent"

    async def cancel_midway() -> None:
        task = asyncio.create_task(save_upload_stream(stalled(), tmp_path, max_bytes=MIB))
        while not list(tmp_path.iterdir()):
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(cancel_midway())
    assert list(tmp_path.iterdir()) == []


def test_save_upload_memory_bounded(tmp_path: Path) -> None:
    # 64 MiB streamed in 1 MiB chunks: Python allocations peak near a few chunks, not the total.
    tracemalloc.start()
    try:
        asyncio.run(save_upload_stream(generated_chunks(64 * MIB, chunk_size=MIB), tmp_path, max_bytes=128 * MIB))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 8 * MIB, f"peak Python allocation {peak / MIB:.1f} MiB"
