"""The streams' and the KV bucket's replicas follow the settings (3 on a cluster of three)."""

from __future__ import annotations

from picadaily.settings import Settings
from picadaily.streams import stream_configs


def test_every_stream_has_the_replicas_the_settings_say() -> None:
    assert {c.num_replicas for c in stream_configs(Settings())} == {1}
    assert {c.num_replicas for c in stream_configs(Settings(stream_replicas=3))} == {3}
