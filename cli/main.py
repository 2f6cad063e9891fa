"""The ``picadaily`` command: ``up`` (the whole local stack), ``run <component>``."""

from __future__ import annotations

import argparse
import logging
import sys

from cli.components import COMPONENTS, run_component
from picadaily.settings import CLUSTER, Settings


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="picadaily", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    start = sub.add_parser("up", help="start the whole local stack and print its URL")
    start.add_argument("--replicas", type=int, help="N copies of every consumer, the worker and "
                       "each service (PICADAILY_REPLICAS)")
    start.add_argument("--cluster", action="store_true", help="the clustered tiers, each node "
                       "on a loopback address of its own: NATS as 3 servers, every stream at 3 "
                       "replicas; SeaweedFS as 3 masters and 3 volume servers (replication "
                       "001), its filer and 2 S3 gateways; two of each of our processes "
                       "(PICADAILY_NATS_SERVERS=3, PICADAILY_STREAM_REPLICAS=3, "
                       "PICADAILY_STORAGE_NODES=3, PICADAILY_REPLICAS=2)")
    run = sub.add_parser("run", help="run one component (the stack runner uses this)")
    run.add_argument("component", choices=sorted(COMPONENTS))
    setup = sub.add_parser("provision", help="create what the processes expect to exist")
    setup.add_argument("--streams", action="store_true", help="JetStream streams and KV")
    setup.add_argument("--storage", action="store_true",
                           help="buckets, the SQS queue and the bucket notification (moto/S3)")
    health = sub.add_parser("healthz", help="exit 0 when a component's /healthz answers 200")
    health.add_argument("component")
    lab = sub.add_parser("lab", help="the failure lab: stop/start/kill a process, arm faults")
    lab.add_argument("action", choices=["status", "stop", "start", "kill", "fault", "clear",
                                        "scenario"])
    lab.add_argument("target", nargs="?", help="a process (stop/start/kill), a service (fault) "
                     "or a scenario (scenario; none: list them)")
    lab.add_argument("step", nargs="?", help="fault: the step to disturb")
    lab.add_argument("--times", type=int, default=-1, help="fault: how many calls (-1: all)")
    lab.add_argument("--probability", type=float, default=1.0, help="fault: share of calls")
    lab.add_argument("--delay", type=float, default=0.0, help="fault: seconds added per call")
    lab.add_argument("--slow-only", action="store_true", help="fault: slow down, do not fail")
    lab.add_argument("--uploads", type=int, help="scenario: instead of the canned number")
    lab.add_argument("--outage", type=float, help="scenario: seconds, instead of the canned")
    moderation = sub.add_parser("review", help="pictures waiting for a person: list, approve, "
                                               "reject")
    moderation.add_argument("action", choices=["list", "approve", "reject"])
    moderation.add_argument("picture_id", nargs="?", help="approve/reject: the picture")
    moderation.add_argument("--reason", help="approve/reject: why (shown with the picture)")
    dead = sub.add_parser("dead-letters", help="list dead letters, or redrive one")
    dead.add_argument("action", choices=["list", "redrive"])
    dead.add_argument("seq", nargs="?", type=int, help="the dead letter to redrive")
    args = parser.parse_args(argv)

    if args.command == "up":
        from cli.stack import up

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        for noisy in ("httpx", "httpcore", "botocore"):
            logging.getLogger(noisy).setLevel(logging.WARNING)
        settings = Settings(**CLUSTER) if args.cluster else Settings()  # type: ignore[arg-type]
        if args.replicas:
            settings.replicas = args.replicas
        return up(settings)
    if args.command == "provision":
        from infra.provision import provision

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        if not (args.streams or args.storage):
            parser.error("say what to provision: --streams, --storage or both")
        provision(Settings(), streams=args.streams, storage=args.storage)
        return 0
    if args.command == "lab":
        from cli.lab import lab as run_lab

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        return run_lab(Settings(), args)
    if args.command == "healthz":
        return healthz(Settings(), args.component)
    if args.command == "review":
        from cli.review import review

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        if args.action != "list" and not args.picture_id:
            parser.error(f"review {args.action} needs the picture's id (see: review list)")
        return review(Settings(), args)
    if args.command == "dead-letters":
        import asyncio

        from cli.dead_letters import dead_letters

        logging.basicConfig(level=logging.INFO, format="%(message)s", stream=sys.stdout)
        if args.action == "redrive" and args.seq is None:
            parser.error("redrive needs the dead letter's number (see: dead-letters list)")
        return asyncio.run(dead_letters(Settings(), args.action, args.seq))
    run_component(args.component)
    return 0


if __name__ == "__main__":
    sys.exit(main())


def healthz(settings: Settings, name: str) -> int:
    """For container health checks: the component's own /healthz, where it listens."""
    import httpx

    from cli.components import COMPONENTS

    port = COMPONENTS[name].port(settings)
    if port is None:
        logging.getLogger("picadaily").error("%s serves no HTTP", name)
        return 2
    try:
        ok = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=3).status_code == 200
    except httpx.HTTPError:
        ok = False
    return 0 if ok else 1
