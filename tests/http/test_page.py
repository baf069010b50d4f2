"""The web page at ``GET /`` and its static files, through the real ASGI application (DEBUG off)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from channels.testing import HttpCommunicator
from django.core.asgi import get_asgi_application
from django.test import override_settings

from kvapp.http.assets import load_asset
from kvapp.server.application import build_application
from tests.support.asgi import Answer

STATIC_DIR = Path(__file__).resolve().parents[2] / "kvapp" / "static" / "kvapp"
APPLICATION = build_application(get_asgi_application())


async def call(path: str, method: str = "GET", headers: dict[str, str] | None = None) -> Answer:
    """One request through the same ASGI application daphne and uvicorn serve."""
    raw_headers = [(b"host", b"127.0.0.1")] + [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    communicator = HttpCommunicator(APPLICATION, method, path, headers=raw_headers)
    response = await communicator.get_response(timeout=10)
    return Answer(
        response["status"],
        {name.decode().lower(): value.decode() for name, value in response["headers"]},
        response["body"],
    )


def asset_urls(html: str) -> list[str]:
    """Every same-origin script, stylesheet and icon the page links to."""
    return re.findall(r'(?:src|href)="(/static/[^"]+)"', html)


async def test_page_is_an_html_change_list_with_labelled_controls() -> None:
    page = await call("/")
    assert page.status == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    html = page.text
    assert '<table id="result_list">' in html
    for column in ("Key", "Value", "Revision", "Created"):
        assert f">{column}</th>" in html
    for control in ("searchbar", "prefix", "add-key", "add-value", "token-input"):
        assert f'<label for="{control}">' in html
        assert f'id="{control}"' in html
    assert 'aria-live="polite"' in html
    assert 'data-api="/api/v1/kv"' in html


async def test_page_has_a_strict_content_security_policy() -> None:
    policy = (await call("/")).headers["content-security-policy"]
    directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["connect-src"].split() == ["'self'", "ws://127.0.0.1", "wss://127.0.0.1"]
    assert "unsafe" not in policy


async def test_page_has_no_inline_script_or_style() -> None:
    html = (await call("/")).text
    scripts = re.findall(r"<script\b[^>]*>", html)
    assert scripts, "the page must load its script"
    assert all(" src=" in tag for tag in scripts)
    assert re.search(r"<script\b[^>]*>\s*[^<\s]", html) is None
    assert " style=" not in html
    assert "<style" not in html


@pytest.mark.parametrize("path", ["/", "/static/kvapp/page.js"])
async def test_head_answers_the_headers_without_a_body(path: str) -> None:
    get, head = await call(path), await call(path, method="HEAD")
    assert head.status == 200
    assert head.body == b""
    assert head.headers["content-type"] == get.headers["content-type"]


async def test_page_refuses_writes_with_json_405() -> None:
    answer = await call("/", method="POST")
    assert answer.status == 405
    assert answer.headers["content-type"].startswith("application/json")
    assert answer.headers["allow"] == "GET, HEAD"


async def test_every_linked_asset_is_served_with_its_content_type() -> None:
    expected = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
    urls = asset_urls((await call("/")).text)
    assert {Path(url).suffix for url in urls} == set(expected)
    for url in urls:
        answer = await call(url)
        assert answer.status == 200, url
        assert answer.headers["content-type"] == expected[Path(url).suffix]
        assert answer.body == (STATIC_DIR / Path(url).name).read_bytes()


async def test_every_module_the_script_imports_is_served() -> None:
    imported = {
        name for js in STATIC_DIR.glob("*.js") for name in re.findall(r'from "\./([\w-]+\.js)"', js.read_text())
    }
    assert {"api.js", "table.js", "watch.js", "token.js"} <= imported
    for name in imported:
        answer = await call(f"/static/kvapp/{name}")
        assert answer.status == 200, name
        assert answer.headers["content-type"] == "text/javascript; charset=utf-8"


async def test_static_file_answers_304_when_the_browser_copy_is_current() -> None:
    first = await call("/static/kvapp/page.css")
    again = await call("/static/kvapp/page.css", headers={"if-none-match": first.headers["etag"]})
    assert again.status == 304
    assert again.body == b""


@pytest.mark.parametrize(
    "path",
    [
        "/static/kvapp/../../urls.py",
        "/static//etc/passwd",
        "/static/kvapp/missing.js",
        "/static/kvapp",
        "/static/kvapp/",
    ],
)
async def test_static_refuses_anything_but_a_file_in_the_static_dirs(path: str) -> None:
    answer = await call(path)
    assert answer.status == 404
    assert answer.headers["content-type"].startswith("application/json")
    assert b"root:" not in answer.body


async def test_static_refuses_writes() -> None:
    assert (await call("/static/kvapp/page.js", method="DELETE")).status == 405


async def test_page_and_assets_need_no_token_but_the_api_does() -> None:
    with override_settings(KV_TOKEN="sesame"):
        assert (await call("/")).status == 200
        assert (await call("/static/kvapp/page.js")).status == 200
        assert (await call("/api/v1/kv")).status == 401


@pytest.mark.parametrize("name", sorted(p.name for p in STATIC_DIR.glob("*.js")))
def test_scripts_never_put_data_into_html(name: str) -> None:
    source = (STATIC_DIR / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("):
        assert sink not in source, f"{name} uses {sink}"


def test_a_static_file_is_read_once_per_version_of_it(tmp_path: Path) -> None:
    script = tmp_path / "x.js"
    script.write_text("one")
    with override_settings(STATICFILES_DIRS=[str(tmp_path)]):
        first = load_asset("x.js")
        assert load_asset("x.js") is first  # unchanged on disk: not read again
        script.write_text("two!")  # a redeploy
        second = load_asset("x.js")
    assert first is not None and second is not None
    assert (second.body, second.etag != first.etag) == (b"two!", True)
