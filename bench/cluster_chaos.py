"""The cluster drill (``make cluster-chaos``): on ``picadaily up --cluster``, per mode, a burst of
uploads with deletions while one server of a tier is taken away — killed -9 (the runner
restarts it), and separately cut off for 20 s and let back (``harness.netcut``) — in turn: the
NATS server leading the events stream, the SeaweedFS master leader, a volume server, the filer,
an S3 gateway, the PostgreSQL primary (the whole node: Patroni with its server). After each, the
chaos run's checks (``bench.chaos``: every 202 final exactly once, done with image, thumbnail
and labels, nothing stuck, no orphan, deletions done) and the figures one node cannot give:
uploads refused while the server was away (the goal: 0), the longest wait for a final status,
and how long the tier took to have a leader again.

Results in ``bench/results/cluster-chaos-<date>.json``; ``tests/e2e/test_cluster.py`` runs a
short form inside ``make test``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import sys
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from bench.chaos import CHAOS_ENV, RESULTS, Chaos, ChaosResult
from harness.cluster import (
    CUT_S,
    Outage,
    database_primary,
    master_leader,
    stream_states,
    take_away,
)
from harness.netcut import unavailable
from harness.stack import RunningStack
from picadaily.settings import CLUSTER

log = logging.getLogger("bench.cluster_chaos")
CLUSTER_ENV = {**{f"PICADAILY_{k.upper()}": str(v) for k, v in CLUSTER.items()}, **CHAOS_ENV}
# The servers taken away, by tier: a role resolved when its turn comes, or a process name.
VICTIMS = (("nats", "the events stream's leader"), ("storage", "the master leader"),
           ("storage", "storage-volume-2"), ("storage", "storage-filer"),
           ("storage", "storage"), ("database", "the PostgreSQL primary"))
HOWS = ("kill", "cut")


@dataclass
class Drill:
    tier: str
    victim: str  # the runner's name for the server taken away
    role: str
    how: str
    outage: Outage
    run: ChaosResult

    def row(self) -> dict[str, Any]:
        return {"mode": self.run.mode, "tier": self.tier, "server": f"{self.victim} "
                f"({self.role})" if self.role != self.victim else self.victim,
                "how": self.how, "accepted": self.run.accepted, "refused": self.run.refused,
                "done": self.run.done, "failed": self.run.failed, "stuck": self.run.stuck,
                "orphans": self.run.orphan_thumbnails,
                "longest_answer_s": self.run.longest_answer_s,
                "longest_wait_s": self.run.longest_wait_s,
                "collage_s": self.run.seconds_until_collage_current,
                "new_leader_s": self.outage.new_leader_s, "back_s": self.outage.back_s,
                "violations": len(self.run.violations)}


def resolve(stack: RunningStack, role: str) -> str:
    if role == "the events stream's leader":
        settings = stack.settings()
        return str(stream_states(settings)[settings.events_stream]["leader"])
    if role == "the master leader":
        return master_leader(stack)[0]
    if role == "the PostgreSQL primary":
        primary = database_primary(stack.settings())
        if primary is None:
            raise LookupError("no PostgreSQL node is primary")
        return primary
    return role


def drill(stack: RunningStack, chaos: Chaos, mode: str, tier: str, role: str, how: str,
          uploads: int, seconds: float, cut_s: float = CUT_S) -> Drill:
    """One burst of ``uploads`` over ``seconds``; the server taken away a fifth of the way in
    (a cut lasting ``cut_s``)."""
    victim = resolve(stack, role)
    outages: list[Outage] = []

    def away() -> float:
        outages.append(take_away(stack, victim, how, cut_s))
        return outages[-1].back_s

    run = chaos.run(mode, uploads, victims=(), seconds=seconds, flips=False,
                    disturbances=((seconds / 5, f"{how} {victim}", away),))
    result = Drill(tier, victim, role, how, outages[0] if outages else Outage(victim, how), run)
    log.info("%s", result.row())
    if run.refusals:
        log.warning("%s %s %s: refused %s", mode, how, victim, run.refusals)
    for violation in run.violations:
        log.error("%s %s %s: %s", mode, how, victim, violation)
    return result


def table(drills: list[Drill]) -> str:
    rows = [d.row() for d in drills]
    names = list(rows[0])
    lines = ["| " + " | ".join(n.replace("_", " ") for n in names) + " |",
             "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(str(r[n]) for n in names) + " |" for r in rows]
    return "\n".join(lines)


def every_row() -> list[tuple[str, str, str, str]]:
    """(mode, tier, role, how) of the whole drill, in its order."""
    return [(mode, tier, role, how) for mode in ("choreography", "orchestration")
            for tier, role in VICTIMS for how in HOWS]


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--row", action="append", default=[], metavar="MODE:TIER:ROLE:HOW",
                        help="run only this row, e.g. 'choreography:storage:the master "
                             "leader:cut' (repeat it; a row twice runs twice)")
    args = parser.parse_args(argv)
    rows = [tuple(r.split(":")) for r in args.row] or every_row()
    if bad := [r for r in rows if len(r) != 4 or r[0] not in ("choreography", "orchestration")
               or (r[1], r[2]) not in VICTIMS or r[3] not in HOWS]:
        parser.error(f"not a row of the drill: {bad[0]} (rows are MODE:TIER:ROLE:HOW of "
                     f"{[':'.join(v) for v in VICTIMS]}, HOW one of {HOWS})")
    logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
    logging.getLogger("httpx").setLevel(logging.WARNING)
    if why := unavailable():
        log.error("the cluster drill cuts servers off: %s", why)
        return 2
    drills: list[Drill] = []
    with tempfile.TemporaryDirectory(prefix="picadaily-cluster-chaos-") as home:
        stack = RunningStack(Path(home) / "home", CLUSTER_ENV).start()
        try:
            chaos = Chaos(stack)
            for mode, tier, role, how in rows:
                drills.append(drill(stack, chaos, mode, tier, role, how,
                                    uploads=60, seconds=CUT_S + 10))
        finally:
            stack.stop()
    text = table(drills)
    log.info("\n%s", text)
    RESULTS.mkdir(exist_ok=True)
    part = "" if not args.row else "-rows"
    out = RESULTS / f"cluster-chaos{part}-{dt.datetime.now(dt.UTC):%Y%m%d-%H%M%S}.json"
    out.write_text(json.dumps([{**d.row(), "refusals": d.run.refusals,
                                "outage": asdict(d.outage),
                                "violation_list": d.run.violations[:20]} for d in drills],
                              indent=2))
    log.info("saved %s", out)
    return 1 if any(d.run.violations or d.run.stuck for d in drills) else 0


if __name__ == "__main__":
    sys.exit(main())
