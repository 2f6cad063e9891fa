"""What a live page is told of a change (``frontend.routes.live.change_event``)."""

from __future__ import annotations

from frontend.routes.live import change_event


def test_a_change_notice_is_passed_on_only_as_one_line_of_known_fields() -> None:
    ok = change_event(b'{"id": "01m8sqttaa7q0cvebdvaekw4ra", "status": "done", "x": 1}')
    assert ok == b'{"id": "01m8sqttaa7q0cvebdvaekw4ra", "status": "done"}'
    for hostile in (b'{"id": "a\\n\\nevent: mode\\ndata: x", "status": "done"}',
                    b'{"id": "01m8sqttaa7q0cvebdvaekw4ra", "status": "pwned\\n\\n"}',
                    b"\n\nevent: picture\ndata: {}", b"[]", b"{}", b"null"):
        assert change_event(hostile) is None, hostile
