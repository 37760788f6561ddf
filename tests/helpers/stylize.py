"""What the stylizer's tests share: settings small enough to optimise in a blink on one CPU thread."""
from __future__ import annotations


def tiny(steps: int = 2) -> dict:
    """StylizeSettings fields for a tiny run: 48 px, two pyramid levels, ``steps`` at full size, on the CPU."""
    return {"size": 48, "steps": steps, "levels": 2, "device": "cpu"}
