"""The admin page in a real headless Chromium (Debian's, through Selenium), against the real bot
serving on 127.0.0.1: a reader's unanswered question is a gap; log in, see it, add a story
from a local news site, watch the reindex finish live, find the story listed and the gap
answered. The screenshot goes to artifacts/admin-page.png (ignored)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.bot.conftest import wait_until_handled
from tests.bot.test_web import ADMIN_TOKEN, running_bot
from tests.browser import ARTIFACTS, chromium
from tests.corpus_site import news_site

pytestmark = pytest.mark.slow

GAP_QUESTION = "How many families had to leave their homes in the Porto Nuevo floods?"
REINDEX_SECONDS = 300  # the reindex runs in a process of its own that loads the model


def by_id(driver: Any, element_id: str) -> Any:
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, element_id)


def wait_for(driver: Any, seconds: float, what: str, predicate: Any) -> Any:
    """Poll ``predicate(driver)`` until it is true (Selenium's wait), or fail saying ``what``."""
    from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
    from selenium.webdriver.support.ui import WebDriverWait

    wait = WebDriverWait(
        driver,
        seconds,
        poll_frequency=0.2,
        ignored_exceptions=(NoSuchElementException, StaleElementReferenceException),
    )
    return wait.until(predicate, f"timed out waiting for {what}")


def admin_scenario(driver: Any, url: str, story_url: str, screenshot: Path) -> dict[str, str]:
    """What an admin does, in the browser; returns what the page showed along the way."""
    seen: dict[str, str] = {}
    driver.get(f"{url}/admin")
    by_id(driver, "token").send_keys(ADMIN_TOKEN)
    by_id(driver, "login").click()
    wait_for(driver, 30, "the page after login", lambda d: by_id(d, "logout"))
    seen["health"] = by_id(driver, "health").text
    seen["gaps_before"] = by_id(driver, "gaps").text

    by_id(driver, "add-url").send_keys(story_url)
    by_id(driver, "add").click()
    seen["notice"] = wait_for(driver, 60, "the add notice", lambda d: by_id(d, "notice").text)
    seen["first_state"] = by_id(driver, "job-state").text
    # The page's script polls the job and reloads the page once it has finished: no reload here.
    wait_for(
        driver,
        REINDEX_SECONDS,
        "the reindex to finish on the page",
        lambda d: by_id(d, "job-state").text in ("done", "failed"),
    )
    seen["final_state"] = by_id(driver, "job-state").text
    seen["job_text"] = by_id(driver, "job-text").text
    seen["documents"] = by_id(driver, "documents").text
    seen["feedback_svg"] = str(len(driver.find_elements("css selector", "#feedback svg")))
    # After the reindex the open gap questions are asked again; the page lists the gap as
    # answered once that has run (reload until then, as an admin would).

    def gap_closed(d: Any) -> bool:
        d.refresh()
        closed = d.find_elements("css selector", "#closed-gaps")
        return bool(closed) and GAP_QUESTION in closed[0].text

    wait_for(driver, 120, "the gap to be listed as answered", gap_closed)
    seen["gaps_after"] = by_id(driver, "gaps").text
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(screenshot))
    seen["console"] = "\n".join(entry["message"] for entry in driver.get_log("browser"))
    return seen


async def test_an_admin_adds_a_story_and_watches_the_reindex_in_chromium(
    tmp_path: Path, story_index: Path, corpus_dir: Path
) -> None:
    with chromium() as driver:
        async with (
            running_bot(
                tmp_path,
                story_index,
                corpus_dir,
                webhook=False,
                settings={"fetch": {"allow_private_networks": True}},
            ) as bot,
            aiohttp.ClientSession() as http,
            news_site() as site,
        ):
            await bot.ready(http)
            # A reader asks what the corpus cannot answer yet: a gap.
            alice = bot.server.create_user("Alice")
            chat = bot.server.create_private_chat(alice)
            bot.server.send_text(chat, alice, GAP_QUESTION)
            (reply,) = await bot.server.wait_for_messages(chat, 1, timeout=60)
            await wait_until_handled(bot.server, bot.config.chat.state_path)
            screenshot = ARTIFACTS / "admin-page.png"
            seen = await asyncio.to_thread(
                admin_scenario, driver, bot.url, f"{site}/flood.html", screenshot
            )
    assert "Porto Nuevo" not in reply["text"]  # not found, or hedged: recorded as a gap
    assert GAP_QUESTION in seen["gaps_before"]
    assert "ok" in seen["health"]
    assert "Added “Floods in Porto Nuevo”" in seen["notice"]
    assert seen["first_state"] == "running"  # the reindex was live when the page came back
    assert seen["final_state"] == "done", seen["job_text"]
    assert "Reindex finished" in seen["job_text"]
    assert "Floods in Porto Nuevo" in seen["documents"]
    assert seen["feedback_svg"] == "1"
    open_part, _, answered_part = seen["gaps_after"].partition("Answered since")
    assert GAP_QUESTION not in open_part  # no longer open
    assert "Floods in Porto Nuevo" in answered_part  # closed by the new story
    assert "Content Security Policy" not in seen["console"], seen["console"]
    assert screenshot.stat().st_size > 10_000
