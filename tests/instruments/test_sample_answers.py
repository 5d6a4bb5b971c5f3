"""One sample's answers to a service's sample form (``answer_problems``, pure; for the orders to come)."""

from __future__ import annotations

import pytest

from instruments.services import answer_problems, clean_sample_fields, sample_field_problems

FIELDS = [
    {"key": "material", "label": "材料", "type": "text", "required": True},
    {"key": "mass_mg", "label": "质量 (mg)", "type": "number", "required": False},
    {"key": "coating", "label": "镀膜", "type": "choice", "required": True, "choices": ["金", "碳"]},
]


def test_good_answers_have_no_problems():
    assert answer_problems(FIELDS, {"material": "石墨烯", "mass_mg": 2.5, "coating": "金"}) == {}
    assert answer_problems(FIELDS, {"material": "x", "mass_mg": "12", "coating": "碳"}) == {}
    assert answer_problems(FIELDS, {"material": "x", "coating": "碳"}) == {}  # optional left out
    assert answer_problems(FIELDS, {"material": "x", "mass_mg": "", "coating": "碳"}) == {}
    assert answer_problems([], {}) == {}


@pytest.mark.parametrize(
    ("answers", "key"),
    [
        ({"coating": "金"}, "material"),  # required missing
        ({"material": "  ", "coating": "金"}, "material"),  # required blank
        ({"material": "x"}, "coating"),
        ({"material": "x", "coating": "金", "mass_mg": "two"}, "mass_mg"),
        ({"material": "x", "coating": "金", "mass_mg": True}, "mass_mg"),
        ({"material": "x", "coating": "金", "mass_mg": float("nan")}, "mass_mg"),
        ({"material": "x", "coating": "银"}, "coating"),
        ({"material": "x", "coating": 1}, "coating"),
        ({"material": "x", "coating": "金", "colour": "red"}, "colour"),  # unknown key
        ({"material": "x" * 1001, "coating": "金"}, "material"),
        ({"material": 12, "coating": "金"}, "material"),
    ],
)
def test_each_problem_is_named_by_its_key(answers, key):
    problems = answer_problems(FIELDS, answers)
    assert list(problems) == [key], problems
    assert problems[key] and all(isinstance(m, str) for m in problems[key])


def test_text_of_exactly_1000_characters_is_fine():
    assert answer_problems(FIELDS, {"material": "x" * 1000, "coating": "金"}) == {}


def test_answers_must_be_an_object():
    assert "answers" in answer_problems(FIELDS, ["金"])


def test_a_clean_form_is_trimmed_and_choices_only_on_choice_fields():
    cleaned = clean_sample_fields(
        [
            {"key": "a", "label": " A ", "type": "text", "required": True, "choices": None},
            {"key": "b", "label": "B", "type": "choice", "required": False, "choices": [" x ", "y"]},
        ]
    )
    assert cleaned == [
        {"key": "a", "label": "A", "type": "text", "required": True},
        {"key": "b", "label": "B", "type": "choice", "required": False, "choices": ["x", "y"]},
    ]
    assert sample_field_problems([{"key": "a", "label": "A", "type": "text", "required": True}] * 30)
    assert not sample_field_problems(
        [{"key": f"k{n}", "label": "A", "type": "text", "required": True} for n in range(30)]
    )
