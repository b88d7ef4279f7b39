"""A person's visits to the bot's web pages over real HTTP, without JavaScript, signing in
through the emulator's Sign in with Slack (its authorize page is a form: the visitor submits
it as that person would). Used by ``releasebot demo`` and the web tests."""

from __future__ import annotations

import http.cookiejar
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from html.parser import HTMLParser

from werkzeug.datastructures import Headers


@dataclass
class Page:
    status: int
    url: str
    headers: Headers  # case-insensitive, as HTTP's are
    body: str

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


class Visitor:
    """Keeps cookies like a browser; follows no redirect on its own, so tests see each hop."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.cookies = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(self.cookies), _NoRedirects()
        )

    def get(self, path_or_url: str, headers: dict[str, str] | None = None) -> Page:
        return self._send(urllib.request.Request(self._url(path_or_url), headers=headers or {}))

    def post(self, path_or_url: str, form: dict[str, str]) -> Page:
        data = urllib.parse.urlencode(form).encode()
        return self._send(urllib.request.Request(self._url(path_or_url), data=data))

    def follow(self, page: Page, hops: int = 10) -> Page:
        while page.status in (301, 302, 303, 307) and hops:
            page, hops = self.get(urllib.parse.urljoin(page.url, page.location)), hops - 1
        return page

    def sign_in(self, user_id: str, start: str = "/trail") -> Page:
        """From a page to Slack's sign-in, as ``user_id``, and back: the page finally shown."""
        to_sign_in = self.get(start)
        _expect(to_sign_in, 302)
        sign_in_page = self.follow(to_sign_in)
        start_url = form_link(sign_in_page.body, "Sign in with Slack")
        to_slack = _expect(self.get(urllib.parse.urljoin(sign_in_page.url, start_url)), 302)
        chooser = _expect(self.get(to_slack.location), 200)
        fields = hidden_fields(chooser.body)
        back = _expect(self.post(to_slack.location.split("?")[0], {**fields, "user": user_id}), 302)
        return self.follow(self.get(back.location))

    def csrf_token(self, body: str) -> str:
        return hidden_fields(body)["csrf_token"]

    def _url(self, path_or_url: str) -> str:
        return path_or_url if "://" in path_or_url else self.base_url + path_or_url

    def _send(self, request: urllib.request.Request) -> Page:
        try:
            with self.opener.open(request, timeout=30) as response:
                return Page(response.status, response.url, Headers(list(response.headers.items())),
                            response.read().decode())  # fmt: skip
        except urllib.error.HTTPError as error:
            headers = Headers(list(error.headers.items()))
            return Page(error.code, request.full_url, headers, error.read().decode())


def _expect(page: Page, status: int) -> Page:
    if page.status != status:
        raise RuntimeError(f"{page.url} answered {page.status}, not {status}: {page.body[:200]}")
    return page


class _Fields(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, str] = {}
        self.links: list[tuple[str, str]] = []
        self._href: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "input" and found.get("type") == "hidden" and found.get("name"):
            self.fields[str(found["name"])] = found.get("value") or ""
        if tag == "a":
            self._href = found.get("href")

    def handle_data(self, data: str) -> None:
        if self._href is not None and data.strip():
            self.links.append((data.strip(), self._href))
            self._href = None


def hidden_fields(body: str) -> dict[str, str]:
    parser = _Fields()
    parser.feed(body)
    return parser.fields


def form_link(body: str, label: str) -> str:
    parser = _Fields()
    parser.feed(body)
    return next(href for text, href in parser.links if text == label)
