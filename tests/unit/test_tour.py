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


def test_the_drawn_flows_name_every_declared_event_and_every_service_that_reacts() -> None:
    """The side-by-side drawing is hand-made: it is checked against the declaration
    (``picadaily.choreography``) — a new event or a new reacting service shows up there, or
    this fails."""
    from picadaily import choreography

    text = (ROOT / "docs" / "architecture.md").read_text()
    drawing = text.split("## The two flows, side by side", 1)[1].split("\n## ", 1)[0]
    missing = [m.TYPE for m in choreography.event_types() if m.TYPE not in drawing]
    missing += [r.service for r in choreography.REACTIONS if r.service not in drawing]
    assert missing == []


def test_the_drawn_choreography_is_the_declaration() -> None:
    from picadaily import flow_drawing

    text = (ROOT / "docs" / "architecture.md").read_text()
    assert flow_drawing.drawn_in(text) == flow_drawing.block(), (
        "the declaration changed: `make docs` draws it again into docs/architecture.md")


def test_the_drawing_has_every_durable_consumer_and_event() -> None:
    from picadaily import choreography, flow_drawing

    drawing = flow_drawing.mermaid()
    missing = [name for name in choreography.durable_consumers() if f"|{name}|" not in drawing]
    missing += [m.TYPE for m in choreography.event_types() if f'"{m.TYPE}"' not in drawing]
    assert missing == []
