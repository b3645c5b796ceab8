"""How long an unsaved result stays in the server's memory, and the page's way to keep it.

A scored visit is forgotten ``cache_ttl_s`` seconds after its last use (``serve
--keep-minutes``). The result page says so, and ``/result/<id>/lease`` tells the page how
long is left (GET, not a use) or keeps the result (POST, a use), so the page can warn
before the time runs out and keep it with one press (WCAG 2.2.1). The clock here is the
cache's own, moved by hand.
"""

from __future__ import annotations

import re

import pytest
from test_web import (  # noqa: F401
    csrf_token,
    make_app,
    model_dir,
    photos,
    pipeline,
    score_in_browser_form,
)

from alonet.errors import AloNetError
from alonet.web import WebConfig
from alonet.web.visits import VisitCache, keep_words


class Clock:
    def __init__(self, now: float = 1000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize("seconds, words", [(3600, "60 minutes"), (60, "1 minute"), (6, "6 seconds"),
                                            (1, "1 second"), (90, "90 seconds"), (0.2, "1 second")])
def test_keep_words(seconds, words):
    assert keep_words(seconds) == words


def test_asking_how_long_is_left_is_not_a_use():
    clock = Clock()
    cache = VisitCache(4, ttl_s=60, clock=clock)
    visit = cache.add({}, model="m")
    assert cache.expires_in(visit.id) == 60
    clock.now += 45
    assert cache.expires_in(visit.id) == 15
    assert cache.expires_in(visit.id) == 15  # asked twice: still 15
    assert cache.get(visit.id) is visit  # a use: the time starts again
    assert cache.expires_in(visit.id) == 60
    clock.now += 60.5
    assert cache.expires_in(visit.id) is None and cache.why_gone(visit.id) == "expired"
    assert cache.expires_in("never-was-here") is None


def lease_of(client, result_url: str, method: str = "GET", token: str | None = None):
    headers = {"Accept": "application/json"}
    if token is not None:
        headers["X-CSRFToken"] = token
    return client.open(result_url + "/lease", method=method, headers=headers)


def test_the_page_says_how_long_and_the_lease_keeps_it(make_app, photos):  # noqa: F811
    app = make_app(cache_ttl_s=600)
    clock = Clock()
    app.extensions["alonet"].cache.clock = clock
    client = app.test_client()
    url = score_in_browser_form(client, photos)

    page = client.get(url).get_data(as_text=True)
    assert 'data-ttl-s="600.0"' in page and f'data-lease-url="{url}/lease"' in page
    note = re.search(r'id="memory-note">(.*?)</p>', page, re.S).group(1)
    assert "forgets it 10 minutes after its last" in " ".join(note.split())
    assert 'id="lease-warning"' in page and 'id="lease-keep"' in page

    clock.now += 400
    asked = lease_of(client, url)
    assert asked.status_code == 200 and asked.get_json() == {"expires_in_s": 200.0, "ttl_s": 600.0}
    clock.now += 100
    assert lease_of(client, url).get_json()["expires_in_s"] == 100.0  # asking did not keep it

    refused = lease_of(client, url, "POST")  # keeping it changes state: the CSRF token is needed
    assert refused.status_code == 400
    assert lease_of(client, url).get_json()["expires_in_s"] == 100.0
    kept = lease_of(client, url, "POST", csrf_token(client))
    assert kept.status_code == 200 and kept.get_json()["expires_in_s"] == 600.0

    clock.now += 601
    gone = lease_of(client, url)
    assert gone.status_code == 404
    assert "not used for 10 minutes" in gone.get_json()["error"]
    again = lease_of(client, url, "POST", csrf_token(client))
    assert again.status_code == 404 and "no longer in memory" in again.get_json()["error"]


def test_a_keep_time_of_zero_is_refused(model_dir):  # noqa: F811
    with pytest.raises(AloNetError, match="cache_ttl_s must be more than 0"):
        WebConfig(models=str(model_dir), cache_ttl_s=0)
