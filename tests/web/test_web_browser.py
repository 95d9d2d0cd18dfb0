"""The web app in a real browser: Debian's Chromium, headless, driven by Playwright against the served app.

Screenshots of the main pages go to <pytest basetemp>/screenshots/ (printed at the end of each test), for a
person to look at. Without Chromium (or the playwright package) these tests skip, and fail in CI.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import pytest

from conftest import FORMULA_NAME, PASSWORD, SCRIPT_NAME, hold_a_run, missing_service

ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--no-first-run"]


def _chromium(request) -> str:
    for candidate in ("chromium", "chromium-browser"):
        found = shutil.which(candidate)
        if found:
            return found
    if Path("/usr/bin/chromium").exists():
        return "/usr/bin/chromium"
    missing_service(request, "Chromium not found (apt-get install chromium)")


@pytest.fixture(scope="module")
def browser(request):
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing_service(request, "the playwright package is not installed")
    executable = _chromium(request)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=executable, headless=True, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def shots(tmp_path_factory, request) -> Path:
    folder = tmp_path_factory.getbasetemp() / "screenshots"
    folder.mkdir(exist_ok=True)
    yield folder
    print(f"\nscreenshots: {folder}")


@pytest.fixture
def page(browser, web):
    context = browser.new_context(base_url=web.url, accept_downloads=True, viewport={"width": 1280, "height": 900})
    p = context.new_page()
    yield p
    context.close()


def sign_in(page, email: str) -> None:
    page.goto("/login")
    page.fill("#email", email)
    page.fill("#password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def shot(page, folder: Path, name: str, db: str, full_page: bool = True) -> None:
    page.screenshot(path=str(folder / f"{db}-{name}.png"), full_page=full_page)


def _db(request) -> str:
    return request.node.callspec.params.get("db_url", "db")


def test_a_school_leader_reviews_their_schools_run_and_downloads_the_csv(page, synced, shots, request, tmp_path):
    db = _db(request)
    page.goto("/login")
    shot(page, shots, "01-login", db)
    sign_in(page, "lead@maple.example.org")
    shot(page, shots, "02-districts-leader", db)
    page.click("text=Maple Valley")
    page.wait_for_url("**/districts/maple")
    assert page.locator("text=Schools you see").is_visible()
    assert page.locator(f"a:text-is('{synced['other']['name']}')").count() == 0
    shot(page, shots, "03-district-leader", db)
    page.click("a:text-is('Run 1')")
    page.wait_for_url("**/runs/1")
    sections = page.locator("#changes section.school h3").all_inner_texts()
    assert len(sections) == 1 and sections[0].startswith(synced["school"]["name"])
    assert page.locator("text=This report shows only your schools.").is_visible()
    # The hostile name is on the page as text, and no script ran (the page has none at all).
    assert page.locator(f"li:has-text('{SCRIPT_NAME}')").count() >= 1
    assert page.evaluate("document.scripts.length") == 0
    shot(page, shots, "04-run-leader", db)
    page.fill("#q", "Tester")
    page.click("text=Apply")
    page.wait_for_url("**/runs/1?q=Tester*")
    names = page.locator("#changes ul.names li").all_inner_texts()
    assert len(names) == 1 and SCRIPT_NAME in names[0]
    shot(page, shots, "05-run-search", db)
    with page.expect_download() as info:
        page.click("text=Download CSV")
    target = tmp_path / "report.csv"
    info.value.save_as(target)
    rows = list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))
    assert {r["school"] for r in rows if r["school"]} == {synced["school"]["name"]}
    assert "'" + FORMULA_NAME + " Formula" in [r["name"] for r in rows]
    page.goto(f"/schools/{synced['school']['id']}")
    assert page.locator("th:text-is('Enroll student')").is_visible()
    assert page.locator("span.lock.locked").count() > 1
    shot(page, shots, "06-school-directory", db, full_page=False)
    page.fill("#q", "Tester")
    page.click("button:text-is('Search')")
    page.wait_for_url("**q=Tester*")
    assert SCRIPT_NAME in page.locator("#students tbody th").first.inner_text()
    shot(page, shots, "06b-school-search", db)


def test_a_leader_opening_another_schools_address_gets_403(page, synced, shots, request):
    sign_in(page, "lead@maple.example.org")
    response = page.goto(f"/schools/{synced['other']['id']}")
    assert response.status == 403
    assert page.locator("h1").inner_text() == "Not allowed"
    shot(page, shots, "07-forbidden", _db(request))


def test_support_forces_a_resync_and_approves_a_held_run(page, synced, shots, cli, roster, request, web):
    db = _db(request)
    sign_in(page, "support@rostersync.example.org")
    page.goto("/districts/maple")
    page.click("text=Resync now")  # the reason is required: the browser refuses the empty form
    assert page.url.endswith("/districts/maple") and page.locator(".flash").count() == 0
    page.fill("#reason", "ticket 311: SIS export fixed")
    page.click("text=Resync now")
    page.wait_for_url("**/districts/maple")
    assert "Resync of maple started" in page.locator(".flash").inner_text()
    web.app.state.runs.wait(120)
    page.reload()
    row = page.locator("tbody tr", has_text="Run 2")
    assert "Resync (support)" in row.inner_text() and "ticket 311" in row.inner_text()
    assert "Succeeded" in row.inner_text()
    shot(page, shots, "08-district-support", db)

    held = hold_a_run(cli, roster, synced["folder"])
    page.goto("/")
    assert page.locator("text=Waiting for approval (1)").is_visible()
    shot(page, shots, "09-districts-support-held", db)
    page.goto("/held")
    shot(page, shots, "10-held", db)
    page.goto(f"/runs/{held['run_id']}")
    assert page.locator("#held h2").inner_text() == "Held for approval"
    shot(page, shots, "11-run-held", db)
    page.fill("#approve-reason", "confirmed with the district: a school closed")
    page.click("text=Approve: archive them")
    page.wait_for_url(f"**/runs/{held['run_id']}")
    assert f"Run {held['run_id']} approved" in page.locator(".flash").inner_text()
    assert "then approved" in page.locator("#held h2").inner_text()
    shot(page, shots, "12-run-approved", db)
    page.goto("/account")
    page.click("text=Make a token")
    assert page.locator(".token").inner_text().startswith("rst_")
    shot(page, shots, "13-account-token", db)
