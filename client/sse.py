"""Parse a text/event-stream body into its events' JSON data."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from typing import Any


def parse_event_stream(lines: Iterable[str]) -> Iterator[tuple[str, Any]]:
    """Yield (event name, decoded data) per event; comments and keep-alives are skipped.

    An event without an `event:` field is named "message", as in the HTML SSE specification.
    Data that is not JSON is yielded as text.
    """
    name, data = "message", []
    for line in lines:
        if line == "":
            if data:
                text = "\n".join(data)
                yield name, _decode(text)
            name, data = "message", []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "event":
            name = value
        elif field == "data":
            data.append(value)
    if data:
        yield name, _decode("\n".join(data))


def _decode(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text
