"""Prefixed random identifiers for stored resources (`ds_...`, `job_...`, `model_...`)."""

import secrets


def new_id(prefix: str) -> str:
    """Return `prefix_` followed by 24 random hex digits (96 bits)."""
    return f"{prefix}_{secrets.token_hex(12)}"
