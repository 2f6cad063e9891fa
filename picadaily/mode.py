"""The mode switch: one global setting every process can read, stored in NATS KV.

Only the trigger function acts on it; the frontend reads and writes it for people.
"""

from __future__ import annotations

from typing import Any, cast

from picadaily.settings import MODES, Mode, Settings

MODE_KEY = "mode"


class UnknownMode(ValueError):
    pass


def parse_mode(value: str) -> Mode:
    value = value.strip().lower()
    if value not in MODES:
        raise UnknownMode(f"mode must be one of {', '.join(MODES)}, not {value!r}")
    return cast(Mode, value)


class ModeSwitch:
    def __init__(self, kv: Any, default: Mode) -> None:
        self._kv = kv
        self._default = default

    @classmethod
    async def open(cls, js: Any, settings: Settings) -> ModeSwitch:
        from picadaily.streams import open_kv

        return cls(await open_kv(js, settings), settings.default_mode)

    async def get(self) -> Mode:
        from nats.js.errors import KeyNotFoundError

        try:
            entry = await self._kv.get(MODE_KEY)
        except KeyNotFoundError:
            return self._default
        return parse_mode(bytes(entry.value or b"").decode())

    async def set(self, mode: Mode) -> None:
        await self._kv.put(MODE_KEY, mode.encode())

