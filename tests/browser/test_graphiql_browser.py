"""GraphiQL works with no network: every asset comes from the app itself."""

from __future__ import annotations

from urllib.parse import urlparse

from tests.browser.conftest import screenshot

QUERY = "{ economy { minimumPayoutDiamonds creatorShare } }"


def test_graphiql_runs_a_query_with_the_network_blocked(page, live_server: str) -> None:
    blocked: list[str] = []
    loaded: list[str] = []

    def only_this_server(route) -> None:
        url = route.request.url
        if urlparse(url).hostname in ("127.0.0.1", "localhost"):
            loaded.append(url)
            route.continue_()
        else:
            blocked.append(url)
            route.abort()

    page.route("**/*", only_this_server)
    page.goto("/graphql")
    editor = page.locator(".graphiql-query-editor .CodeMirror")
    editor.wait_for()
    editor.evaluate("(node, query) => node.CodeMirror.setValue(query)", QUERY)
    page.locator(".graphiql-execute-button").click()
    result = page.locator(".graphiql-response")
    result.get_by_text("minimumPayoutDiamonds").wait_for()
    screenshot(page, "graphiql")

    assert '"minimumPayoutDiamonds": 2000' in result.inner_text()
    assert blocked == []
    assert any(url.endswith("/graphiql/graphiql.min.js") for url in loaded)
