"""The reader's tour in docs/architecture.md gives each file's line count: they stay true."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_tour_s_line_counts_are_the_files() -> None:
    text = (ROOT / "docs" / "architecture.md").read_text()
    tour = text.split("## A reader's tour", 1)[1].split("\n## ", 1)[0]
    counted = re.findall(r"`([\w/.]+\.py)` \((\d+) lines\)", tour)
    assert len(counted) >= 10
    wrong = {path: (int(said), len((ROOT / path).read_text().splitlines()))
             for path, said in counted
             if int(said) != len((ROOT / path).read_text().splitlines())}
    assert wrong == {}, "said, actual"
