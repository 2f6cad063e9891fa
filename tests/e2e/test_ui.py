"""The web UI in a real browser (Debian's Chromium driven by Playwright) against the running
stack. Screenshots of every page go to test-artifacts/screenshots/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.stack import RunningStack
from tests.conftest import photos
from tests.e2e.conftest import SHOTS, TIMEOUT_MS

pytestmark = pytest.mark.e2e
@pytest.fixture
def page(browser: Any, stack: RunningStack) -> Iterator[Any]:
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    log_in(context, stack)
    tab = context.new_page()
    yield tab
    context.close()


def log_in(context: Any, stack: RunningStack) -> None:
    """As the login page does: the session cookie lands in the browser context."""
    resp = context.request.post(f"{stack.url}/api/session",
                                data={"password": stack.admin_password})
    assert resp.ok, resp.text()


def shot(page: Any, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def upload_from_page(page: Any, paths: list[Path]) -> None:
    page.goto("/upload")
    page.set_input_files("#files", [str(p) for p in paths])
    for _ in paths:
        page.locator(".uploads .result a").nth(len(paths) - 1).wait_for()
    shot(page, "upload")


def test_uploads_appear_in_an_open_gallery_without_reload(browser: Any, stack: RunningStack,
                                                          page: Any) -> None:
    page.goto("/")
    page.locator("#gallery").wait_for(state="attached")
    page.evaluate("window.__noReload = true")
    uploader = page.context.new_page()
    two = [p for p in photos("good") if p.name in {"chelsea.png", "rocket.jpg"}]
    upload_from_page(uploader, two)
    for photo in two:
        card = page.locator(f".card:has(.name a:text-is('{photo.name}'))").first
        card.wait_for()
        page.wait_for_function(
            "name => [...document.querySelectorAll('.card')].some(c => "
            "c.querySelector('.name a').textContent === name && c.dataset.status === 'done')",
            arg=photo.name)
    assert page.evaluate("window.__noReload") is True, "the gallery reloaded"
    # one card per picture, however fast its changes came
    ids = page.evaluate("[...document.querySelectorAll('.card')].map(c => c.id)")
    assert len(ids) == len(set(ids)), ids
    shot(page, "gallery")
    # a label link filters the gallery
    page.locator(".card .tags a:text-is('cat')").first.click()
    page.wait_for_url("**/?label=cat")
    page.locator(".card").first.wait_for()
    names = page.locator(".card .name a").all_text_contents()
    assert names and all("chelsea" in n for n in names)


def test_refused_files_show_their_reason(page: Any, tmp_path: Path) -> None:
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    script = tmp_path / "script.png"
    script.write_text("#!/bin/sh\necho not a picture\n")
    page.goto("/upload")
    page.set_input_files("#files", [str(empty), str(script)])
    refused = page.locator(".uploads .result.refused")
    refused.nth(1).wait_for()
    reasons = sorted(refused.all_text_contents())
    assert reasons == ["Refused: the file is empty",
                       "Refused: the file is not an image we can read"]


def test_a_picture_shows_its_timeline(page: Any) -> None:
    page.goto("/?status=done")
    page.locator(".card .name a").first.click()
    page.locator("#timeline svg rect").nth(4).wait_for()
    steps = page.locator("#timeline-rows tr td:first-child").all_text_contents()
    # (choreography runs the EXIF step beside analyse image: either may start first)
    assert set(steps[:3]) == {"analyse image", "EXIF and place", "check safety"}
    assert "collage" in steps
    assert page.locator("#labels li").count() > 0
    assert page.locator("#image").get_attribute("alt")
    page.locator("#trace .trace-row").nth(5).wait_for()  # the trace's waterfall
    assert page.locator("#trace .trace-name").first.inner_text() == "frontend · accept picture"
    assert "processes" in page.locator("#trace-summary").inner_text()
    shot(page, "picture")


def test_flipping_the_mode_in_the_ui_is_recorded_on_the_next_upload(page: Any) -> None:
    page.goto("/upload")
    page.locator(".mode-switch button[aria-pressed=true]").wait_for()  # the switch is live
    page.locator(".mode-switch button[data-mode='choreography']").click()
    page.locator(".mode-switch button[data-mode='choreography'][aria-pressed='true']").wait_for()
    upload_from_page(page, [p for p in photos("good") if p.name == "coffee.png"])
    page.locator(".uploads .result a").first.click()
    page.locator("#status.done").wait_for()
    assert page.locator("#mode").text_content() == "choreography"
    assert page.locator("#workflow").is_hidden()
    page.locator(".mode-switch button[data-mode='orchestration']").click()
    page.locator(".mode-switch button[data-mode='orchestration'][aria-pressed='true']").wait_for()


def test_the_flows_page_draws_both_flows_from_the_declarations_with_live_figures(
        page: Any) -> None:
    import re

    from picadaily import choreography
    from picadaily.steps import PIPELINE

    page.goto("/flows")
    for step in PIPELINE:
        live = page.locator(f"#step-{step.value} .live")
        live.filter(has_text=re.compile(r"^\d+ running / \d+ retrying$")).wait_for()
    for reaction in choreography.REACTIONS:
        live = page.locator(f"#consumer-{reaction.durable} .live")
        live.filter(has_text=re.compile(r"^\d+ / \d+ / \d+$")).wait_for()
    assert page.locator("#reactions tbody tr").count() == len(choreography.REACTIONS)
    assert page.locator("a[href='/asyncapi']").count() >= 1
    assert page.locator("#temporal-ui-link").get_attribute("href").startswith("http")
    shot(page, "flows")


def test_the_compare_page_shows_both_modes(page: Any) -> None:
    page.goto("/compare")
    table = page.locator(".compare-table").first
    table.wait_for()
    pictures_row = table.locator("tbody tr").first.locator("td").all_text_contents()
    assert len(pictures_row) == 2 and all(v not in {"", "\u2013", "0"} for v in pictures_row)
    kept = page.locator("#review tbody tr").first.locator("td").all_text_contents()
    assert "Temporal" in kept[0] and "scheduled message" in kept[1], kept
    assert page.locator("svg.chart").count() == 2
    # the lines each style needs, counted from the files the flows are stated in
    flow, handlers = (page.locator("#code-counts tbody tr").nth(i).locator("td")
                      for i in (0, 1))
    from frontend.routes.flows import code_counts

    counted = code_counts()
    assert flow.all_text_contents() == [str(counted[m]["flow_lines"])
                                        for m in ("orchestration", "choreography")]
    assert handlers.all_text_contents() == [str(counted[m]["handler_lines"])
                                            for m in ("orchestration", "choreography")]
    critical = table.locator("tr:has-text('Critical path') td").all_text_contents()
    assert all(" / " in v for v in critical), critical
    shot(page, "compare")
    page.goto("/collage")
    page.locator("#collage[src]").wait_for()
    shot(page, "collage")


def test_deleting_a_picture_makes_it_disappear(page: Any) -> None:
    page.goto("/?status=done")
    first = page.locator(".card").first
    card_id = first.get_attribute("id")
    first.locator(".name a").click()
    page.locator("#status.done").wait_for()
    page.on("dialog", lambda dialog: dialog.accept())
    page.locator("#delete").click()
    page.wait_for_url("**/?deleted=*")
    page.locator(".notice").wait_for()
    page.wait_for_function("id => !document.getElementById(id)", arg=card_id)
    picture_id = card_id.removeprefix("card-")
    page.wait_for_function(  # garbage collection has run: the document is gone
        "id => fetch('/api/pictures/' + id).then(r => r.status === 404)", arg=picture_id,
        polling=200)
    page.goto("/")
    page.locator(".card").first.wait_for()
    assert page.locator(f"#{card_id}").count() == 0


def test_the_gallery_works_at_phone_width_and_by_keyboard(browser: Any,
                                                          stack: RunningStack) -> None:
    context = browser.new_context(base_url=stack.url, viewport={"width": 390, "height": 844})
    phone = context.new_page()
    phone.goto("/")
    phone.locator(".card").first.wait_for()
    width = phone.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, "the page scrolls sideways at phone width"
    phone.keyboard.press("Tab")
    assert phone.evaluate("document.activeElement.textContent") == "Skip to content"
    shot(phone, "gallery-phone")
    context.close()


def test_an_anonymous_visitor_is_told_to_log_in_and_the_login_page_works(
        browser: Any, stack: RunningStack) -> None:
    context = browser.new_context(base_url=stack.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.goto("/")
    tab.locator("#session-link[href^='/login?next=']").wait_for()  # the session is known
    tab.locator(".mode-switch button[aria-pressed=true]").wait_for()  # the switch is live
    tab.locator(".mode-switch button[data-mode=choreography]").click()
    tab.locator(".notice:has-text('log in')").wait_for()  # the flip was refused, and why
    tab.locator("#session-link").click()
    tab.wait_for_url("**/login?next=*")
    tab.fill("input[name=password]", "not the password")
    tab.locator("#login button").click()
    tab.locator(".notice:has-text('not the admin password')").wait_for()
    tab.fill("input[name=password]", stack.admin_password)
    tab.locator("#login button").click()
    tab.wait_for_url(f"{stack.url}/")
    tab.locator("#session-link:text-is('Log out')").wait_for()
    shot(tab, "logged-in")
    context.close()


@pytest.mark.parametrize("hostile", ["/%5Cexample.org/x", "/%09/example.org/y", "/%0a/example.org",
                                     "https://example.org/"])
def test_the_login_page_sends_the_browser_nowhere_but_this_site(
        browser: Any, stack: RunningStack, hostile: str) -> None:
    """``/login?next=/%5Cexample.org/x`` went to example.org: the next page is parsed as the
    browser parses it, and only a path of this site is followed."""
    context = browser.new_context(base_url=stack.url)
    context.set_default_timeout(TIMEOUT_MS)
    tab = context.new_page()
    tab.goto(f"/login?next={hostile}")
    tab.fill("input[name=password]", stack.admin_password)
    tab.locator("#login button").click()
    tab.wait_for_url(f"{stack.url}/**")
    assert tab.url.startswith(stack.url + "/"), tab.url
    context.close()
