"""The rewards routes and ``POST /api/purchases`` answer as ``/api/openapi.json`` says,
with data in the stores (the fuzzer mostly sees them empty): schemathesis checks each
answer's status, content type and body schema against the document of a real
``salon serve`` on a real Redis."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
import requests
import schemathesis
from schemathesis.core.transport import Response

from loadtest.spawn import SpawnedServer
from tests.fuzz.rest_fuzz import CHECKS

PURCHASE = {"member_id": "cora", "product_id": "bag-1", "amount": "20.00", "currency": "EUR"}


@pytest.mark.timeout(120)
def test_rewards_and_purchase_answers_match_the_document(spawned: SpawnedServer) -> None:
    with urllib.request.urlopen(f"{spawned.url}/api/openapi.json", timeout=10) as response:
        schema = schemathesis.openapi.from_dict(json.loads(response.read()))
    session = requests.Session()
    headers = {"Authorization": f"Bearer {spawned.admin_key}"}

    def send(
        method: str, path: str, params: dict[str, str] | None = None, body: Any = None
    ) -> Response:
        case = schema[path][method].Case(
            path_parameters=params or {}, **({"body": body} if body is not None else {})
        )
        answer: Response = case.call(
            base_url=spawned.url, session=session, headers=headers, timeout=10
        )
        case.validate_response(answer, checks=CHECKS, headers=headers)
        return answer

    spring = {"coupon_id": "spring"}
    coupon = {"title": "Spring", "value": "10.00", "count": 100, "tiers": "core,active"}
    assert send("PUT", "/api/coupons/{coupon_id}", spring, coupon).status_code == 200
    two = {"title": "Two", "value": 5, "count": 3, "tiers": ["core"], "per_member": 2}
    assert send("PUT", "/api/coupons/{coupon_id}", {"coupon_id": "two"}, two).status_code == 200
    short = {**coupon, "pattern": "AB-##"}
    assert send("PUT", "/api/coupons/{coupon_id}", spring, short).status_code == 400
    assert send("GET", "/api/coupons/{coupon_id}", spring).json()["coupon"]["value"] == "10.00"
    assert send("GET", "/api/coupons/{coupon_id}", {"coupon_id": "nope"}).status_code == 404
    assert len(send("GET", "/api/coupons").json()["coupons"]) == 2

    reward = {"title": "Bag", "cost": 500, "coupon": "spring"}
    assert (
        send("PUT", "/api/points/rewards/{reward_id}", {"reward_id": "bag"}, reward).status_code
        == 200
    )
    missing = {**reward, "coupon": "nope"}
    refused = send("PUT", "/api/points/rewards/{reward_id}", {"reward_id": "b2"}, missing)
    assert refused.status_code == 404
    assert [r["id"] for r in send("GET", "/api/points/rewards").json()["rewards"]] == ["bag"]

    with_code = {**PURCHASE, "order_id": "o-1", "coupon": " sp-abcdef "}
    first = send("POST", "/api/purchases", body=with_code).json()
    assert first["coupon"]["redeemed"] is False and first["coupon"]["code"] == "SP-ABCDEF"
    assert isinstance(first["points"], int)
    plain = send("POST", "/api/purchases", body={**PURCHASE, "order_id": "o-2"}).json()
    assert "coupon" not in plain
    again = send("POST", "/api/purchases", body={**PURCHASE, "order_id": "o-2"})
    assert again.status_code == 200 and again.json()["duplicate"] is True
    bad = send("POST", "/api/purchases", body={**PURCHASE, "order_id": "o-3", "coupon": "x"})
    assert bad.status_code == 400

    account = send("GET", "/api/members/{member_id}/points", {"member_id": "cora"}).json()
    assert account["balance"] == first["points"] + plain["points"]
    send("GET", "/api/rooms/{room_id}/rewards", {"room_id": "vip"})
    assert send("GET", "/api/metrics/rewards").json()["coupons"] == 2
    send("GET", "/api/metrics/sessions/{session}/rewards", {"session": "vip:s1"})
    assert "Traceback" not in spawned.log_path.read_text(errors="replace")
