"""``/api/openapi.json`` against the routes the app really registers, both ways."""

from __future__ import annotations

from typing import Any

import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient

from server.app import NOT_REST


def _route_path(route: web.AbstractRoute) -> str:
    info = route.resource.get_info() if route.resource else {}
    return str(info.get("path") or info.get("formatter") or info.get("prefix"))


async def _document(client: TestClient[Any, Any]) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")  # no admin key: operators read it
    assert response.status == 200
    doc: dict[str, Any] = await response.json()
    return doc


async def test_every_registered_route_is_documented_and_nothing_else(
    client: TestClient[Any, Any],
) -> None:
    doc = await _document(client)
    documented = {(method.upper(), path) for path, ops in doc["paths"].items() for method in ops}
    registered, skipped = set(), set()
    for route in client.app.router.routes():
        path = _route_path(route)
        if route.method == "HEAD":  # aiohttp adds one to every GET
            continue
        if path in NOT_REST:
            skipped.add(path)
            continue
        registered.add((route.method, path))
    assert documented == registered
    assert skipped == set(NOT_REST), "NOT_REST names a route the app no longer has"


async def test_the_document_is_valid_openapi_with_errors_and_auth(
    client: TestClient[Any, Any],
) -> None:
    doc = await _document(client)
    schemathesis.openapi.from_dict(doc).validate()
    schemes = doc["components"]["securitySchemes"]
    for ops in doc["paths"].values():
        for op in ops.values():
            for requirement in op.get("security", doc["security"]):
                assert set(requirement) <= set(schemes), requirement
    assert doc["components"]["securitySchemes"]["adminKey"] == {
        "type": "http",
        "scheme": "bearer",
        "description": doc["components"]["securitySchemes"]["adminKey"]["description"],
    }
    for path, ops in doc["paths"].items():
        for method, op in ops.items():
            guarded = op.get("security") != []
            declared = set(op["responses"])
            if guarded:
                assert {"401", "503"} <= declared, (method, path)
            if "requestBody" in op:
                assert {"400", "413"} <= declared, (method, path)
            for status, answer in op["responses"].items():
                if int(status) >= 400:
                    assert answer == {"$ref": f"#/components/responses/{answer['$ref'][23:]}"}
    # A body field carries its limits: the text rules' lengths, enums, id patterns.
    member_body = doc["paths"]["/api/members/{member_id}"]["put"]["requestBody"]
    fields = member_body["content"]["application/json"]["schema"]["properties"]
    assert fields["name"]["maxLength"] == 80
    assert fields["tier"]["enum"] == ["core", "active", "potential", "silent"]


async def test_hook_links_document_their_coupon(client: TestClient[Any, Any]) -> None:
    doc = await _document(client)

    def schema(path: str, method: str, status: str | None = None) -> dict[str, Any]:
        op = doc["paths"][path][method]
        holder = op["responses"][status] if status else op["requestBody"]
        found: dict[str, Any] = holder["content"]["application/json"]["schema"]
        return found

    body = schema("/api/sessions/{session_id}/links", "post")
    assert (
        "coupon" in body["properties"]
        and "404" in doc["paths"]["/api/sessions/{session_id}/links"]["post"]["responses"]
    )
    assert "coupon" in schema("/api/sessions/{session_id}/links", "post", "201")["properties"]
    view = schema("/api/hooks/{code}", "get", "200")["properties"]
    assert set(view["coupon"]["properties"]) == {"title"}  # never a code before the RSVP
    assert "coupon" in view["member"]["properties"]
    rsvp = schema("/api/hooks/{code}/rsvp", "post", "200")
    assert "coupon" in rsvp["required"]
    assert {"code", "title", "value", "refused"} <= set(rsvp["properties"]["coupon"]["properties"])
