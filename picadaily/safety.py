"""The safety rule, the same in both modes (the ``check_safety`` step)."""

from __future__ import annotations

from pydantic import BaseModel, Field

from picadaily.contracts import Safety


class SafetyVerdict(BaseModel):
    safe: bool
    judged: list[str] = Field(default_factory=list)
    reason: str = ""


def check_safety(safety: Safety) -> SafetyVerdict:
    """Unsafe when any judged category is LIKELY or VERY_LIKELY (Cloud Vision's rule). A picture
    no model judged passes, and the verdict says so."""
    if not safety.computed:
        return SafetyVerdict(safe=True, judged=[],
                             reason="not judged: no safety model is configured")
    unsafe = safety.unsafe_categories()
    if unsafe:
        detail = ", ".join(f"{c} {safety.likelihoods[c]}" for c in unsafe)
        return SafetyVerdict(safe=False, judged=safety.judged, reason=f"unsafe: {detail}")
    return SafetyVerdict(safe=True, judged=safety.judged, reason="safe")
