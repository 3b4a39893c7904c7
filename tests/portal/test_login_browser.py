"""The login form and the API-key page in a real browser (Chromium via Playwright)."""
import json
import urllib.request

import pytest

from tests.fixtures.browser import log_in


def test_logging_in_through_the_form_shows_the_users_pages(logged_in_page, user):
    page = logged_in_page
    assert "/accounts/login/" not in page.url
    assert page.locator("header").inner_text().count(user.username) == 1
    # Staff-only admin is not offered to an ordinary user.
    assert page.locator("header a[href='/admin/']").count() == 0


def test_a_key_created_in_the_browser_works_as_bearer_on_the_api(logged_in_page, portal_url):
    page = logged_in_page
    page.goto("/account/api-keys/")
    page.fill("input[name=name]", "from the browser")
    page.click("text=Create key")
    raw_key = page.inner_text("#new-key").strip()
    assert raw_key.startswith("mop_")

    request = urllib.request.Request(f"{portal_url}/api/jobs/", headers={"Authorization": f"Bearer {raw_key}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
        assert json.loads(response.read()) == []


def test_wrong_password_stays_on_the_login_page(page, user):
    with pytest.raises(AssertionError, match="login as 'alice' failed"):
        log_in(page, user.username, "not-the-password")
    assert page.locator(".error").inner_text() == "Your username and password didn't match."
