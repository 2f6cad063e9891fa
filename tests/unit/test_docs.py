"""The documents' figures name the results file they came from, and those files are kept: a
results file a document cites (by name, or by its time stamp as ``…155142…``) exists in
``bench/results/``."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "bench" / "results"
DOCS = [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]


def test_every_results_file_a_document_cites_is_kept() -> None:
    kept = {p.name for p in RESULTS.iterdir()}
    missing, checked = [], 0
    for doc in DOCS:
        text = doc.read_text(encoding="utf-8")
        for name in re.findall(r"bench/results/([\w.-]+\.(?:json|png))", text):
            checked += 1
            if name not in kept:
                missing.append(f"{doc.name}: {name}")
        for stamp in re.findall(r"…-?(\d{6})(?:-vm-2cpu)?…", text):
            checked += 1
            if not any(stamp in name for name in kept):
                missing.append(f"{doc.name}: …{stamp}…")
    assert checked >= 20, "the documents cite their results files"
    assert missing == []
