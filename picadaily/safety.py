"""The safety rule, the same in both modes (the ``check_safety`` step).

Three outcomes: unsafe (any judged category LIKELY or VERY_LIKELY: rejected), borderline (any
judged category POSSIBLE: a person decides, the picture waits in ``awaiting_review``), safe.
"""

from __future__ import annotations

from pydantic import BaseModel, Field

from picadaily.contracts import Safety


class SafetyVerdict(BaseModel):
    safe: bool
    judged: list[str] = Field(default_factory=list)
    reason: str = ""
    review: bool = False  # borderline: neither safe nor unsafe until a person decides


def check_safety(safety: Safety) -> SafetyVerdict:
    """Unsafe when any judged category is LIKELY or VERY_LIKELY (Cloud Vision's rule); waiting for
    a person when any is POSSIBLE. A picture no model judged passes, and the verdict says so."""
    if not safety.computed:
        return SafetyVerdict(safe=True, judged=[],
                             reason="not judged: no safety model is configured")
    unsafe = safety.unsafe_categories()
    if unsafe:
        detail = ", ".join(f"{c} {safety.likelihoods[c]}" for c in unsafe)
        return SafetyVerdict(safe=False, judged=safety.judged, reason=f"unsafe: {detail}")
    borderline = safety.borderline_categories()
    if borderline:
        detail = ", ".join(f"{c} POSSIBLE" for c in borderline)
        return SafetyVerdict(safe=False, review=True, judged=safety.judged,
                             reason=f"borderline: {detail}; a person decides")
    return SafetyVerdict(safe=True, judged=safety.judged, reason="safe")
