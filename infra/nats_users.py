"""NATS users per component, for the local stack as for compose: the same file,
``infra/nats/picadaily.conf`` (who may publish what), with passwords the stack runner makes for
each run and hands each child in its own ``PICADAILY_NATS_URL``. No anonymous client gets in;
a process of ours holds only its own user's password."""

from __future__ import annotations

import secrets
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from picadaily.settings import address_list

CONFIG = Path(__file__).resolve().parent / "nats" / "picadaily.conf"
# The roles the file's passwords are named by (NATS_<ROLE>_PASSWORD).
ROLES = ("PROVISION", "FRONTEND", "LAB", "TRIGGER", "RECONCILER", "METADATA", "SERVICE", "SOURCE",
         "MINIO")
# Each component's user (the file's ``authorization.users``); the worker and the trace store
# do not use NATS and get none. The frontend connects as ``lab`` while the failure lab is on:
# its poison scenario publishes on every subject, deletions included.
USERS = {"provision": "provision", "frontend": "frontend", "trigger": "trigger",
         "reconciler": "reconciler", "metadata": "metadata", "vision": "vision",
         "thumbnails": "thumbnails", "collage": "collage", "exif": "exif", "source": "source",
         "bridge": "source"}
SERVICE_USERS = frozenset({"vision", "thumbnails", "collage", "exif"})


def role_of(user: str) -> str:
    return "SERVICE" if user in SERVICE_USERS else user.upper()


def make_passwords() -> dict[str, str]:
    """A password per role for this run (letters and digits: they travel inside URLs)."""
    return {role: secrets.token_hex(24) for role in ROLES}


def server_env(passwords: dict[str, str]) -> dict[str, str]:
    return {f"NATS_{role}_PASSWORD": pw for role, pw in passwords.items()}


def user_url(nats_url: str, user: str | None, passwords: dict[str, str]) -> str:
    """``nats_url`` with ``user``'s credentials (none: the address alone, which the server
    refuses); a cluster's list of addresses (comma-separated) gets them on each."""
    if "," in nats_url:
        return ",".join(user_url(url, user, passwords) for url in address_list(nats_url))
    where = urlsplit(nats_url if "://" in nats_url else f"nats://{nats_url}")
    host = where.hostname or "127.0.0.1"
    netloc = f"{host}:{where.port}" if where.port else host
    if user is not None:
        netloc = f"{user}:{passwords[role_of(user)]}@{netloc}"
    return urlunsplit((where.scheme, netloc, where.path, "", ""))
