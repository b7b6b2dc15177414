"""The pure rewards rules: the role table, coupon definitions and claims, codes, draws,
quizzes, reward point rules, the client messages and the refusal sentences."""

from __future__ import annotations

import itertools
import random
from collections import Counter

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.engagement.members import Tier
from server.engagement.reward_points import PointRules, day_number, day_text, parse_point_rules
from server.engagement.rules import RulesError, load_rules
from server.error_text import SENTENCES, render
from server.rooms import draws, quiz
from server.rooms.errors import Forbidden
from server.rooms.model import Role
from server.rooms.reward_errors import CODES, RewardError
from server.rooms.rewards import (
    ALLOWED,
    CODE_ALPHABET,
    Action,
    check,
    check_claim,
    eligibility,
    make_code,
    normal_code,
    parse_coupon,
)
from server.signaling import messages as m
from server.signaling import messages_rewards as mr
from server.text import TextError

STAFF = {Role.HOST, Role.COHOST}
MEMBERS = {Role.MEMBER, Role.SPEAKER}
EXPECTED: dict[Action, set[Role]] = {
    Action.DROP_COUPON: STAFF,
    Action.END_DROP: STAFF,
    Action.CLAIM_COUPON: MEMBERS,
    Action.RUN_DRAW: STAFF,
    Action.ASK_QUIZ: STAFF,
    Action.ANSWER_QUIZ: MEMBERS,
    Action.CHECK_IN: MEMBERS,
    Action.REDEEM_POINTS: MEMBERS,
}
NOW = 1_800_000_000_000


def test_check_follows_the_role_table_which_is_exactly_as_specified() -> None:
    assert set(ALLOWED) == set(Action)
    assert {action: set(ALLOWED[action]) for action in Action} == EXPECTED
    for action, role in itertools.product(Action, Role):
        refusal: Forbidden | None = None
        try:
            check(action, role)
        except Forbidden as exc:
            refusal = exc
        assert (refusal is None) == (role in EXPECTED[action]), (action, role)
        assert refusal is None or refusal.params["action"] == action.value


def spring(**fields: object) -> dict[str, object]:
    return {"title": "Spring", "value": "10", "count": 100, "tiers": "core,active", **fields}


def test_a_coupon_definition_is_checked_and_normalised() -> None:
    spec = parse_coupon("spring", spring())
    assert (spec.value, spec.value_minor, spec.tiers) == ("10.00", 1000, (Tier.CORE, Tier.ACTIVE))
    assert (spec.per_member, spec.expires_ms, spec.pattern) == (1, 0, "SALON-########")
    assert parse_coupon("x", spring(tiers=[])).tiers == ()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"value": "0"}, "value"),
        ({"value": "1.234"}, "value"),
        ({"value": True}, "value"),
        ({"count": 0}, "count"),
        ({"count": "5"}, "count"),
        ({"per_member": 0}, "per_member"),
        ({"tiers": ["gold"]}, "tiers"),
        ({"pattern": "SHORT-##"}, "pattern"),
        ({"pattern": "lower-######"}, "pattern"),
        ({"expires_ms": -1}, "expires_ms"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_coupon_fields_are_named(fields: dict[str, object], field: str) -> None:
    with pytest.raises(RewardError) as info:
        parse_coupon("spring", spring(**fields))
    assert info.value.code == "invalid" and info.value.params["field"] == field


def test_a_coupon_title_goes_through_the_text_rules() -> None:
    with pytest.raises(TextError):
        parse_coupon("spring", spring(title="\u202eevil"))
    with pytest.raises(RewardError):
        parse_coupon("bad id!", spring())


def test_claims_are_decided_by_role_tier_and_expiry() -> None:
    spec = parse_coupon("spring", spring(expires_ms=NOW + 1))
    check_claim(spec, Role.MEMBER, Tier.CORE, NOW)
    check_claim(spec, Role.SPEAKER, Tier.ACTIVE, NOW)
    codes = {}
    for role, tier, now in [
        (Role.HOST, Tier.CORE, NOW),
        (Role.COHOST, Tier.CORE, NOW),
        (Role.MEMBER, Tier.POTENTIAL, NOW),
        (Role.MEMBER, None, NOW),
        (Role.MEMBER, Tier.CORE, NOW + 1),
    ]:
        why = eligibility(spec, role, tier, now)
        assert why is not None
        codes[(role, tier, now)] = why.code
    assert list(codes.values()) == ["staff", "staff", "not_eligible", "not_eligible", "expired"]
    why = eligibility(spec, Role.MEMBER, Tier.SILENT, NOW)
    assert why is not None
    assert render(why.code, why.params) == (
        "This offer is for core and active members; your membership tier is silent."
    )


@given(st.randoms(use_true_random=False))
def test_codes_follow_their_pattern(rng: random.Random) -> None:
    code = make_code("VIP-####-####", rng)
    assert code[:4] == "VIP-" and code[8] == "-" and len(code) == 13
    assert all(c in CODE_ALPHABET for c in code[4:8] + code[9:])
    assert normal_code(f"  {code.lower()} ") == code


def test_a_typed_code_must_look_like_one() -> None:
    for bad in ("", "AB", "WITH SPACE", "<script>", 12):
        with pytest.raises(RewardError):
            normal_code(bad)


# --- draws -----------------------------------------------------------------------------


def activity() -> draws.SessionActivity:
    return draws.SessionActivity(
        present={"ada": "active", "cora": "core"},
        tiers={"ada": "active", "cora": "core", "ben": "potential", "sid": "silent"},
        chatted={"ben", "cora", "ghost"},
        asked={"sid"},
        voted=set(),
        watched_seconds={"ada": 600.0, "ben": 599.0, "cora": 30.0},
    )


def test_draw_conditions_pick_the_right_people_sorted() -> None:
    def who(condition: draws.Condition, minutes: int = 0) -> list[str]:
        return [e.member_id for e in draws.eligible(condition, minutes, activity())]

    assert who(draws.Condition.PRESENT) == ["ada", "cora"]
    assert who(draws.Condition.CHATTED) == ["ben", "cora"]  # "ghost" never attended
    assert who(draws.Condition.ASKED) == ["sid"]
    assert who(draws.Condition.VOTED) == []
    assert who(draws.Condition.WATCHED, 10) == ["ada"]


def test_a_draw_is_a_function_of_its_audit_record() -> None:
    entrants = [draws.Entrant(f"m{i:02d}", "core" if i % 2 else "silent") for i in range(30)]
    request = draws.DrawRequest(draws.Condition.PRESENT, 0, 5, True, None, "A bag")
    winners = draws.draw(entrants, 5, "seed-1", draws.TIER_WEIGHTS)
    assert winners == draws.draw(entrants, 5, "seed-1", draws.TIER_WEIGHTS)
    assert len(set(winners)) == 5
    record = draws.audit_record("w1", request, entrants, "seed-1", winners, NOW)
    assert draws.verify(record)
    assert not draws.verify({**record, "winners": list(reversed(winners))})
    assert draws.draw(entrants[:2], 5, "s", None) in (["m00", "m01"], ["m01", "m00"])


def test_tier_weighting_favours_heavier_tiers() -> None:
    entrants = [draws.Entrant("core1", "core"), draws.Entrant("silent1", "silent")]
    wins = Counter(draws.draw(entrants, 1, f"s{i}", draws.TIER_WEIGHTS)[0] for i in range(2000))
    # P(core wins) = 4 / (4 + 1) = 0.8 with Efraimidis-Spirakis.
    assert 0.75 < wins["core1"] / 2000 < 0.85
    even = Counter(draws.draw(entrants, 1, f"s{i}", None)[0] for i in range(2000))
    assert 0.45 < even["core1"] / 2000 < 0.55


def test_draw_requests_are_checked() -> None:
    for request in (
        draws.DrawRequest(draws.Condition.PRESENT, 0, 0, False, None, "x"),
        draws.DrawRequest(draws.Condition.WATCHED, 0, 1, False, None, "x"),
        draws.DrawRequest(draws.Condition.PRESENT, 0, 1, False, None, None),
    ):
        with pytest.raises(RewardError):
            draws.check_request(request)


# --- quizzes -------------------------------------------------------------------------------


def make(**overrides: object) -> quiz.Quiz:
    fields: dict[str, object] = {
        "quiz_id": "q1",
        "question": "Which?",
        "options": ("A", "B", "C"),
        "correct": 2,
        "seconds": 10,
        "now_ms": NOW,
        "coupon": None,
        "points": 100,
        **overrides,
    }
    return quiz.make_quiz(**fields)  # type: ignore[arg-type]


def test_a_quiz_is_open_until_its_deadline_only() -> None:
    q = make()
    q.check_answer(0, NOW + 9_999)
    with pytest.raises(RewardError, match="quiz_closed"):
        q.check_answer(0, NOW + 10_000)
    with pytest.raises(RewardError, match="bad_option"):
        q.check_answer(3, NOW)
    assert "correct" not in q.public_json(NOW)


@pytest.mark.parametrize(
    "overrides",
    [
        {"seconds": 4},
        {"seconds": 61},
        {"options": ("A",)},
        {"options": ("A", "A")},
        {"correct": 3},
        {"points": 0},
        {"coupon": "c", "points": 5},
    ],
)
def test_bad_quizzes_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(RewardError):
        make(**overrides)


def test_correct_answers_share_the_points_in_answer_order() -> None:
    q = make(points=100)
    answers = {
        "ada": (2, NOW + 500),
        "ben": (2, NOW + 100),
        "cy": (0, NOW + 50),
        "late": (2, NOW + 10_000),
    }
    result = quiz.results(q, answers)
    assert result.counts == (1, 0, 2) and result.answered == 3
    assert result.correct_members == ("ben", "ada") and result.share == 50
    assert quiz.results(make(coupon="c", points=0), answers).share == 0
    assert quiz.results(q, {}).share == 0


# --- reward points ---------------------------------------------------------------------------


def test_the_shipped_rules_file_has_both_sections_and_each_loader_reads_its_own() -> None:
    load_rules()  # the tier rules accept the new section
    rules = PointRules()
    assert rules.checkin_points(1) == rules.checkin
    assert rules.checkin_points(100) == rules.checkin + rules.streak_bonus_cap
    assert rules.purchase_points("129.90") == 129 * rules.purchase_per_unit
    with pytest.raises(RulesError, match="unknown key 'bonus'"):
        parse_point_rules({"reward_points": {"bonus": 1}})
    with pytest.raises(RulesError, match="whole number"):
        parse_point_rules({"reward_points": {"checkin": 1.5}})
    assert day_text(day_number(0)) == "1970-01-01"


# --- messages and sentences --------------------------------------------------------------------


def test_reward_messages_parse_and_round_trip() -> None:
    samples = [
        {"type": "coupon_drop", "coupon": "spring"},
        {"type": "coupon_end"},
        {"type": "coupon_claim", "drop": "d1"},
        {
            "type": "draw_run",
            "condition": "watched",
            "minutes": 5,
            "winners": 2,
            "weighted": True,
            "coupon": "c",
            "note": "Tea",
        },
        {
            "type": "quiz_ask",
            "question": "Q?",
            "options": ["A", "B"],
            "correct": 1,
            "seconds": 10,
            "points": 5,
        },
        {"type": "quiz_answer", "quiz": "q1", "option": 1},
        {"type": "checkin"},
        {"type": "points_redeem", "reward": "tote"},
        {"type": "rewards_me"},
    ]
    for sample in samples:
        parsed = m.parse(sample)
        assert isinstance(parsed, mr.MESSAGE_TYPES)
        assert m.parse(m.to_wire(parsed)) == parsed


@pytest.mark.parametrize(
    "bad",
    [
        {"type": "coupon_drop", "coupon": "a b"},
        {"type": "draw_run", "condition": "danced", "winners": 1},
        {"type": "draw_run", "condition": "present", "winners": 0},
        {"type": "draw_run", "condition": "present", "winners": 1, "note": "\ud800"},
        {"type": "quiz_ask", "question": "Q", "options": ["A"], "correct": 0, "seconds": 10},
        {"type": "quiz_ask", "question": "Q", "options": ["A", "B"], "correct": 2, "seconds": 10},
        {
            "type": "quiz_ask",
            "question": "Q",
            "options": ["A", "B\x00"],
            "correct": 0,
            "seconds": 10,
        },
        {"type": "quiz_ask", "question": "Q", "options": ["A", "B"], "correct": 0, "seconds": 61},
        {"type": "quiz_answer", "quiz": "q1", "option": -1},
    ],
)
def test_bad_reward_messages_are_protocol_errors(bad: dict[str, object]) -> None:
    with pytest.raises(m.ProtocolError) as info:
        m.parse(bad)
    assert info.value.code == "invalid_field" and info.value.detail


def test_every_refusal_code_has_a_sentence() -> None:
    assert set(SENTENCES) >= CODES
    for code in CODES:
        assert "?" not in render(code, {}) or "{" in SENTENCES[code]
    assert render("not_enough_points", {"balance": 3, "cost": 10}) == (
        "This reward costs 10 points; your balance is 3."
    )
