"""Admin actions only for admins: every state-changing route refuses anonymous callers, takes the
bearer token, and takes a browser session only with its CSRF token and from this site; logins
are rate-limited. Uploading and viewing stay open."""

from __future__ import annotations

import httpx
import pytest

from harness.stack import RunningStack
from picadaily.drills import sample_jpeg

pytestmark = pytest.mark.e2e
STATE_CHANGING = [
    ("PUT", "/api/mode", {"mode": "orchestration"}),
    ("DELETE", "/api/pictures/01m8a7cgfvx0bk5zsyatj4h9bh", None),
    ("POST", "/api/dead-letters/999999/redrive", None),
    ("GET", "/api/dead-letters", None),
    ("GET", "/api/lab", None),
    ("POST", "/api/lab/processes/vision/kill", None),
    ("POST", "/api/lab/faults", {"service": "vision", "plan": {"step": "analyse_image"}}),
    ("POST", "/api/lab/scenarios/poison", None),
    ("POST", "/api/pictures/01m8a7cgfvx0bk5zsyatj4h9bh/review", {"decision": "approve"}),
]


def anonymous(stack: RunningStack, address: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(base_url=stack.url, timeout=30,
                        transport=httpx.HTTPTransport(local_address=address))


@pytest.mark.parametrize(("method", "path", "body"), STATE_CHANGING)
def test_every_admin_route_refuses_anonymous_callers_and_takes_the_token(
        stack: RunningStack, api: httpx.Client, method: str, path: str,
        body: dict[str, object] | None) -> None:
    with anonymous(stack) as client:
        refused = client.request(method, path, json=body)
        assert refused.status_code == 401, refused.text
        assert "admin" in refused.json()["error"]
        wrong = client.request(method, path, json=body,
                               headers={"Authorization": "Bearer not-the-token"})
        assert wrong.status_code == 401
    allowed = api.request(method, path, json=body)  # the token: past the check
    assert allowed.status_code not in (401, 403), allowed.text


def test_uploading_and_viewing_stay_open(stack: RunningStack) -> None:
    with anonymous(stack) as client:
        resp = client.post("/api/pictures", files=[("pictures", ("a.jpg", sample_jpeg(70),
                                                                 "image/jpeg"))])
        assert resp.status_code == 202
        assert client.get("/api/pictures").status_code == 200
        assert client.get("/api/mode").status_code == 200
        assert client.get("/api/session").json()["admin"] is False


def test_a_session_needs_its_csrf_token_and_this_site(stack: RunningStack) -> None:
    with anonymous(stack) as client:
        assert client.post("/api/session", json={"password": "nope"}).status_code == 401
        login = client.post("/api/session", json={"password": stack.admin_password})
        assert login.status_code == 200
        cookie = login.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        csrf = login.json()["csrf"]
        assert client.get("/api/session").json() == {"admin": True, "csrf": csrf,
                                                     "can_log_in": True}
        assert client.put("/api/mode", json={"mode": "orchestration"}).status_code == 403
        cross_site = client.put("/api/mode", json={"mode": "orchestration"}, headers={
            "X-CSRF-Token": csrf, "Origin": "https://evil.example"})
        assert cross_site.status_code == 403 and "another site" in cross_site.json()["error"]
        ok = client.put("/api/mode", json={"mode": "orchestration"},
                        headers={"X-CSRF-Token": csrf, "Origin": stack.url})
        assert ok.status_code == 200
        assert client.delete("/api/session").status_code == 204
        assert client.put("/api/mode", json={"mode": "orchestration"},
                          headers={"X-CSRF-Token": csrf}).status_code == 401


def test_guesses_from_elsewhere_never_lock_the_admin_out(stack: RunningStack) -> None:
    """Somebody guessing — from another address, claiming other addresses in
    X-Forwarded-For — slows the next logins down (``login_throttle``), and the admin's right
    password still gets in (it used to answer 429 for a minute after five wrong guesses)."""
    with anonymous(stack, "127.0.0.2") as guesser:
        answers = [guesser.post("/api/session", json={"password": f"guess-{i}"},
                                headers={"X-Forwarded-For": f"203.0.113.{i}"})
                   for i in range(6)]
        assert [a.status_code for a in answers] == [401] * 6
    with anonymous(stack) as admin:
        assert admin.post("/api/session",
                          json={"password": stack.admin_password}).status_code == 200
