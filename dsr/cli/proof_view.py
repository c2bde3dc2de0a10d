"""What a deletion proof leaves open, read back for the CLI: the items not erased yet.

The proof is the evidence, so the CLI and ``dsr status`` show what it says: items a processor
must still erase (GoToMeeting attendee history, Google items its API cannot delete) and
backups that still hold the person until they expire.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def pending_items(proof_path: str | Path | None) -> list[dict[str, Any]]:
    """Each open item: ``system``, ``what``, ``status`` and ``with`` / ``expires_at``."""
    if not proof_path:
        return []
    try:
        body = json.loads(Path(proof_path).read_text(encoding="utf-8"))["proof"]
    except (OSError, ValueError, KeyError, TypeError):
        return []  # a proof that cannot be read is reported by `dsr verify-proof`, not here
    items: list[dict[str, Any]] = []
    for section in body.get("systems", []):
        for item in section.get("pending", []):
            items.append(
                {
                    "system": f"{section.get('system')}:{section.get('region')}",
                    "what": item.get("what", ""),
                    "status": item.get("status", ""),
                    "with": item.get("with", ""),
                    "requested_at": item.get("requested_at"),
                }
            )
    for item in body.get("pending", []):
        items.append(
            {
                "system": item.get("system", ""),
                "what": item.get("what", ""),
                "status": item.get("status", ""),
                "expires_at": item.get("expires_at"),
            }
        )
    return items


def describe(item: dict[str, Any]) -> str:
    """One line per open item, in the proof's words."""
    head = f"{item['system']}: {item['what']}"
    if item.get("status") == "requested_from_processor":
        processor = item.get("with") or "the processor"
        return f"{head}: requested from {processor}, not yet confirmed erased"
    if item.get("expires_at"):
        return f"{head}: still holds the person until {str(item['expires_at'])[:10]}"
    return f"{head}: {item.get('status', '')}"
