"""The demo's "Write an answer" card in Chromium: the answer streamed word by word,
read on after a reload from where the page was, and streamed with WebSockets blocked."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import pytest

from task_api.testing import run
from tests.test_demo import REPO_ROOT, UI_TIMEOUT_MS, _load, start_demo  # noqa: F401 - the fixture

if TYPE_CHECKING:
    from playwright.sync_api import Page

CARD = '.run[data-task="write-answer"]'
ANSWER = f"{CARD} .answer"
# A network that refuses WebSocket upgrades: every socket fails before it opens.
BLOCK_WEBSOCKETS = """
window.blockedSockets = 0
window.WebSocket = class {
  constructor(url) {
    window.blockedSockets++
    this.url = url
    this.readyState = 0
    setTimeout(() => {
      this.readyState = 3
      if (this.onerror) this.onerror(new Event('error'))
      if (this.onclose) this.onclose(new CloseEvent('close', { code: 1006 }))
    }, 20)
  }
  send() { throw new DOMException('WebSocket is not open', 'InvalidStateError') }
  close() { this.readyState = 3 }
}
"""


@pytest.mark.django_db
def test_write_answer_writes_the_answer_word_by_word() -> None:
    tasks = _load("_demo_tasks", REPO_ROOT / "demo" / "tasks.py")
    result = run(tasks.WriteAnswer, words_per_second=50).assert_succeeded()
    words = result.streams["answer"]
    assert "".join(words) == tasks._ANSWER
    assert result.outputs == {"words": len(words)}
    assert len(words) == len(tasks._ANSWER.split()) > 100
    assert result.progress[-1] == (len(words), len(words))


def _start_answer(page: Page, base: str, words_per_second: int) -> None:
    page.goto(base + "/")
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    form = page.locator('form[data-task="write-answer"]')
    form.locator('[name="words_per_second"]').fill(str(words_per_second))
    form.locator("button[type=submit]").click()


def _wait_for_words(page: Page, at_least: int) -> int:
    """Waits until the card shows ``at_least`` words; the position it shows then."""
    page.wait_for_function(
        f"n => Number(document.querySelector('{ANSWER}')?.dataset.next) >= n",
        arg=at_least,
        timeout=UI_TIMEOUT_MS,
    )
    return int(page.locator(ANSWER).get_attribute("data-next") or 0)


def _final_text(page: Page, base: str) -> tuple[str, list[str]]:
    """Once the task succeeded and the card has every word: its text, and the stream's chunks."""
    page.wait_for_selector(f'{CARD}[data-status="succeeded"]', timeout=2 * UI_TIMEOUT_MS)
    uuid = page.locator(CARD).get_attribute("data-uuid")
    stored = page.request.get(f"{base}/tasks/{uuid}/streams/answer/?offset=0").json()
    assert stored["done"], stored
    words = page.request.get(f"{base}/tasks/{uuid}/").json()["outputs"]["words"]
    assert (stored["next"], len(stored["chunks"])) == (words, words)
    _wait_for_words(page, words)
    return page.locator(ANSWER).text_content() or "", stored["chunks"]


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.timeout(180)
def test_demo_answer_reads_on_after_a_reload(start_demo: Any, page: Page) -> None:  # noqa: F811
    from playwright.sync_api import expect

    demo = start_demo()
    sent: list[dict[str, Any]] = []
    received: list[dict[str, Any]] = []

    def on_socket(socket: Any) -> None:
        socket.on("framesent", lambda payload: sent.append(json.loads(payload)))
        socket.on("framereceived", lambda payload: received.append(json.loads(payload)))

    page.on("websocket", on_socket)
    polls: list[str] = []
    page.on("request", lambda r: polls.append(r.url) if "/streams/" in r.url else None)
    _start_answer(page, demo.url, words_per_second=10)
    _wait_for_words(page, 20)
    expect(page.locator(f"{CARD} .answer-note")).to_be_hidden()

    page.reload()
    page.wait_for_selector("body[data-ready]", timeout=UI_TIMEOUT_MS)
    # At once, the words kept in this tab; then the rest, read on from there.
    note = page.locator(f"{CARD} .answer-note")
    expect(note).to_be_visible()
    resumed_at = int(note.text_content().split(" to ")[1].split(" ")[0])  # type: ignore[union-attr]
    assert resumed_at >= 20
    text, chunks = _final_text(page, demo.url)
    assert text == "".join(chunks), "a word lost or shown twice"
    assert resumed_at < len(chunks), "the reload came after the end"

    # Over the WebSocket: subscribed from 0, then after the reload from the position kept.
    offsets = [f["offset"] for f in sent if f.get("type") == "subscribe" and "stream" in f]
    assert offsets == [0, resumed_at], sent
    pushed = [f for f in received if f.get("type") == "chunks"]
    assert pushed, received
    assert pushed[-1]["done"], pushed[-3:]
    assert polls == []
    demo.stop()


@pytest.mark.browser
@pytest.mark.services
@pytest.mark.timeout(180)
def test_demo_answer_streams_with_websockets_blocked(start_demo: Any, page: Page) -> None:  # noqa: F811
    demo = start_demo()
    page.add_init_script(BLOCK_WEBSOCKETS)
    reads: list[tuple[str, int]] = []
    page.on(
        "response",
        lambda r: (
            reads.append((r.url, r.status)) if "/streams/" in r.url or "/events/" in r.url else None
        ),
    )
    _start_answer(page, demo.url, words_per_second=20)
    text, chunks = _final_text(page, demo.url)
    assert text == "".join(chunks), "a word lost or shown twice"
    assert page.evaluate("window.blockedSockets") >= 1
    # Server-Sent Events, from position 0, to the end: no polling.
    events = [status for url, status in reads if "/events/?streams=answer:0" in url]
    assert events[:1] == [200], reads
    assert not [url for url, _status in reads if "/streams/answer/" in url], reads
    demo.stop()
