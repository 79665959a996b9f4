"""Demo service records for ``kebu demo --service``: contacts, tickets, feedback, preferences, surveys and
follow-ups for the demo customers and orders already in the database. Each area writes its own
(``demo/<area>.py``); this runs them in an order where later ones can use the earlier ones' rows."""

from __future__ import annotations

import importlib
import random
from collections.abc import Callable
from datetime import datetime

from django.utils import timezone

# (module, function): tickets before feedback and follow-ups, which may link to them.
AREAS = (
    ("contacts", "demo_contacts"),
    ("preferences", "demo_preferences"),
    ("tickets", "demo_tickets"),
    ("feedback", "demo_feedback"),
    ("surveys", "demo_surveys"),
    ("followups", "demo_followups"),
)


def demo_service_load(
    *, seed: int = 1, now: datetime | None = None, progress: Callable[[str, int], None] | None = None
) -> dict[str, int]:
    """Run every area's demo loader that exists; returns the rows each made."""
    now = now or timezone.now()
    made: dict[str, int] = {}
    for module_name, function_name in AREAS:
        try:
            module = importlib.import_module(f"kebu.engagement.demo.{module_name}")
        except ModuleNotFoundError:
            continue
        loader = getattr(module, function_name, None)
        if loader is None:
            continue
        made[module_name] = loader(rng=random.Random(f"{seed}-{module_name}"), now=now)
        if progress:
            progress(module_name, made[module_name])
    return made
