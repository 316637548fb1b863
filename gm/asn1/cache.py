"""A cache keyed by DER bytes, for what documents from outside carry again and again (one
signer's certificate in every document it signs, one seal in every document it seals)."""
from __future__ import annotations

from typing import Any


class ByBytes(dict):
    """Bounded in entries and in key bytes held: documents come from outside, and a stream of
    giant seals or certificates must not fill memory (an outsized key is simply not kept;
    the budget spent, everything is forgotten)."""

    def __init__(self, entries: int, budget: int) -> None:
        super().__init__()
        self.entries, self.budget, self.held = entries, budget, 0

    def keep(self, key: bytes, value: Any) -> None:
        if len(key) > self.budget // 64:
            return
        if len(self) >= self.entries or self.held + len(key) > self.budget:
            self.clear()
        self[key] = value
        self.held += len(key)

    def clear(self) -> None:
        super().clear()
        self.held = 0
