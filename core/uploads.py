"""Streaming an upload to disk with a size cap, so that no process keeps a whole upload in memory."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path

from core.errors import PayloadTooLargeError

logger = logging.getLogger(__name__)

MIB = 1024**2


async def save_upload_stream(chunks: AsyncIterator[bytes], destination_dir: Path, *, max_bytes: int) -> tuple[Path, int, str]:
    """Write `chunks` to a new temporary file in `destination_dir`; return (path, size, sha256).

    Memory use is one chunk at a time. File writes run in a worker thread so the event loop
    keeps serving other requests. Raises PayloadTooLargeError ("upload_too_large") at the
    first chunk that takes the total past `max_bytes`. On that error, on any other error and
    on cancellation (a client that disconnects), the partial file is removed.
    """
    destination_dir.mkdir(parents=True, exist_ok=True)
    descriptor, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=destination_dir)
    path = Path(name)
    digest = hashlib.sha256()
    size = 0
    try:
        with os.fdopen(descriptor, "wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise _too_large(max_bytes)
                digest.update(chunk)
                await asyncio.to_thread(handle.write, chunk)
    except BaseException:
        path.unlink(missing_ok=True)
        logger.info("upload.discarded path=%s received_bytes=%d", path, size)
        raise
    return path, size, digest.hexdigest()


def _too_large(max_bytes: int) -> PayloadTooLargeError:
    message = (
        f"the upload is larger than the limit of {max_bytes} bytes ({max_bytes / MIB:.1f} MiB); "
        "upload a smaller archive or ask the operator to raise FLYP_MAX_UPLOAD_BYTES"
    )
    return PayloadTooLargeError("upload_too_large", message, param="file", details={"max_bytes": max_bytes})
