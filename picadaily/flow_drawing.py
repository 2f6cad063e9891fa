"""The choreography drawn from its declaration (``picadaily.choreography``): a Mermaid
flowchart of every publisher, reaction and event. ``docs/architecture.md`` holds its output
between two markers, and a test fails when they differ; ``make docs`` writes it there again.

    python -m picadaily.flow_drawing [FILE]   # print the drawing, or rewrite it inside FILE
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path

from picadaily import choreography
from picadaily.event_data import EventData

BEGIN = "<!-- drawn from picadaily/choreography.py by `make docs`: do not edit -->"
END = "<!-- end of the drawing -->"
log = logging.getLogger(__name__)


def _event(model: type[EventData]) -> str:
    return model.TYPE.replace(".", "_")


def _what(r: choreography.Reaction) -> str:
    """The steps a reaction does (and times), or else what it does in words."""
    steps = dict.fromkeys(((r.step,) if r.timed else ()) + r.also)
    return ", ".join(steps) if steps else r.does.split(":")[0]


def mermaid() -> str:
    """Events are rounded, the processes that react to or publish them square; an arrow into a
    reaction is labelled with its durable consumer."""
    lines = ["flowchart LR", '  storage[("storage event")]']
    lines += [f'  {_event(m)}(["{m.TYPE}"])' for m in choreography.event_types()]
    for publisher in choreography.PUBLISHERS:
        node = f"publisher_{publisher.service}"
        lines.append(f'  {node}["{publisher.service}"]')
        if publisher.service == "trigger":
            lines.append(f"  storage -->|{choreography.STORAGE_CONSUMER}| {node}")
        lines += [f"  {node} --> {_event(m)}" for m in publisher.publishes]
    for r in choreography.REACTIONS:
        node = r.durable.replace("-", "_")
        lines.append(f'  {node}["{r.service}: {_what(r)}"]')
        lines += [f"  {_event(m)} -->|{r.durable}| {node}" for m in r.on]
        lines += [f"  {node} --> {_event(m)}" for m in r.publishes]
    return "\n".join(lines) + "\n"


def block() -> str:
    return f"{BEGIN}\n```mermaid\n{mermaid()}```\n{END}"


def drawn_in(text: str) -> str | None:
    """The drawing a document holds between the markers (None: it holds none)."""
    if BEGIN not in text or END not in text:
        return None
    return BEGIN + text.split(BEGIN, 1)[1].split(END, 1)[0] + END


def rewrite(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    old = drawn_in(text)
    if old is None:
        raise SystemExit(f"{path} has no drawing markers ({BEGIN!r} … {END!r})")
    path.write_text(text.replace(old, block()), encoding="utf-8")
    log.info("drew the choreography into %s", path)


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if len(sys.argv) > 1:
        rewrite(Path(sys.argv[1]))
    else:
        sys.stdout.write(mermaid())
