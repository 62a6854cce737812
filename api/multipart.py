"""Stream a multipart/form-data upload straight to disk, with a size cap.

Starlette's own form parsing reads the whole body before a handler runs, so a cap could only
be enforced after the bytes had arrived. This parser reads `request.stream()` chunk by chunk,
writes the file part to the data directory and stops with a 413 as soon as the cap is crossed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path
from typing import BinaryIO

from fastapi import Request
from python_multipart.multipart import MultipartParser, parse_options_header

from core.errors import InvalidRequestError, PayloadTooLargeError, ServiceError

logger = logging.getLogger(__name__)

MAX_FIELD_BYTES = 64 * 1024
MAX_PARTS = 16


class UnsupportedMediaTypeError(ServiceError):
    http_status = 415


@dataclass
class UploadedFile:
    path: Path
    filename: str | None
    size: int
    sha256: str


@dataclass
class ParsedForm:
    fields: dict[str, str] = field(default_factory=dict)
    files: dict[str, UploadedFile] = field(default_factory=dict)

    def remove_files(self) -> None:
        for upload in self.files.values():
            upload.path.unlink(missing_ok=True)


def too_large(max_bytes: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(
        "upload_too_large",
        f"The upload is larger than the limit of {max_bytes} bytes ({max_bytes / 2**20:.0f} MiB); "
        "split the dataset or ask the operator to raise FLYP_MAX_UPLOAD_BYTES.",
        param="file",
    )


class _PartSink:
    """Collect one multipart part: headers, then data into a file or a small buffer."""

    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.header_field = b""
        self.header_value = b""
        self.headers: dict[str, str] = {}
        self.name: str | None = None
        self.filename: str | None = None
        self.buffer = bytearray()
        self.handle: BinaryIO | None = None
        self.path: Path | None = None
        self.size = 0
        self.digest = hashlib.sha256()

    def start_body(self) -> None:
        disposition = Message()
        disposition["content-disposition"] = self.headers.get("content-disposition", "")
        self.name = disposition.get_param("name", header="content-disposition")
        self.filename = disposition.get_param("filename", header="content-disposition")
        if self.name is None:
            raise InvalidRequestError("invalid_multipart", "A multipart part has no name in its Content-Disposition header.")
        if self.filename is not None:
            self.path = self.directory / f"upload-{uuid.uuid4().hex}.part"
            self.handle = open(self.path, "wb")

    def write(self, data: bytes) -> None:
        self.size += len(data)
        if self.handle is None:
            if self.size > MAX_FIELD_BYTES:
                raise InvalidRequestError("field_too_large", f"Form field {self.name!r} is larger than {MAX_FIELD_BYTES} bytes.", param=self.name)
            self.buffer.extend(data)
            return
        if self.size > self.max_bytes:
            raise too_large(self.max_bytes)
        self.digest.update(data)
        self.handle.write(data)

    def close(self) -> None:
        if self.handle is not None and not self.handle.closed:
            self.handle.flush()
            os.fsync(self.handle.fileno())
            self.handle.close()

    def discard(self) -> None:
        if self.handle is not None:
            self.handle.close()
        if self.path is not None:
            self.path.unlink(missing_ok=True)


class _FormCollector:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self.form = ParsedForm()
        self.current: _PartSink | None = None
        self.parts = 0

    def callbacks(self) -> dict:
        return {
            "on_part_begin": self._part_begin,
            "on_header_field": lambda data, start, end: self._header(data[start:end], is_value=False),
            "on_header_value": lambda data, start, end: self._header(data[start:end], is_value=True),
            "on_header_end": self._header_end,
            "on_headers_finished": lambda: self.current.start_body(),
            "on_part_data": lambda data, start, end: self.current.write(data[start:end]),
            "on_part_end": self._part_end,
        }

    def _part_begin(self) -> None:
        self.parts += 1
        if self.parts > MAX_PARTS:
            raise InvalidRequestError("too_many_parts", f"The form has more than {MAX_PARTS} parts.")
        self.current = _PartSink(self.directory, self.max_bytes)

    def _header(self, data: bytes, *, is_value: bool) -> None:
        if is_value:
            self.current.header_value += data
        else:
            self.current.header_field += data

    def _header_end(self) -> None:
        sink = self.current
        sink.headers[sink.header_field.decode("latin-1").lower()] = sink.header_value.decode("utf-8", "replace")
        sink.header_field, sink.header_value = b"", b""

    def _part_end(self) -> None:
        sink = self.current
        sink.close()
        if sink.path is not None:
            if sink.name in self.form.files:
                sink.discard()
                raise InvalidRequestError("duplicate_file", f"The form has more than one {sink.name!r} file.", param=sink.name)
            self.form.files[sink.name] = UploadedFile(sink.path, sink.filename, sink.size, sink.digest.hexdigest())
        else:
            if sink.name in self.form.fields:
                raise InvalidRequestError("duplicate_field", f"The form has more than one {sink.name!r} field; send it once.", param=sink.name)
            self.form.fields[sink.name] = sink.buffer.decode("utf-8", "replace")
        self.current = None

    def abort(self) -> None:
        if self.current is not None:
            self.current.discard()
        self.form.remove_files()


async def parse_upload_form(request: Request, directory: Path, *, max_bytes: int) -> ParsedForm:
    """Parse a multipart/form-data request, writing file parts to `directory`.

    On any error every file written so far is removed before the error propagates.
    """
    content_type, options = parse_options_header(request.headers.get("content-type", ""))
    boundary = options.get(b"boundary")
    if content_type != b"multipart/form-data" or not boundary:
        raise UnsupportedMediaTypeError(
            "unsupported_media_type", "Send the upload as multipart/form-data with the archive in the 'file' field.", param="file"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes + MAX_PARTS * MAX_FIELD_BYTES:
        raise too_large(max_bytes)

    directory.mkdir(parents=True, exist_ok=True)
    collector = _FormCollector(directory, max_bytes)
    parser = MultipartParser(boundary, collector.callbacks())
    try:
        async for chunk in request.stream():
            parser.write(chunk)
        parser.finalize()
        if collector.current is not None:
            raise InvalidRequestError("invalid_multipart", "The multipart body ended before its closing boundary.", param="file")
    except ServiceError:
        collector.abort()
        raise
    except BaseException as error:
        collector.abort()
        if isinstance(error, Exception) and type(error).__module__.startswith("python_multipart"):
            raise InvalidRequestError("invalid_multipart", f"The multipart body is malformed: {error}", param="file") from None
        raise
    return collector.form
