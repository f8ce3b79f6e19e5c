"""Fit (../shared/CONTRACT.md §8): every condition form, must-haves, weights, quadrants,
the ideal partner file's mistakes (one test each), and the same rule in SQL on chDB."""

from __future__ import annotations

import random

import pytest
import yaml

from streams.errors import FitError
from streams.rules.fit import (
    DEFAULT_IDEAL,
    FIT_FIELDS,
    assess_fit,
    fit_sql,
    gaps_sql,
    load_ideal,
    parse_ideal,
    priority,
    quadrant,
)  # fmt: skip
from tests import oracle

IDEAL = parse_ideal(
    """
must_have:
  - {field: business_model, in: [reseller, var]}
  - {field: employees, at_least: 10}
nice_to_have:
  - {field: customer_segments, overlaps: [midmarket, enterprise], weight: 3}
  - {field: certifications, includes: storage-expert, weight: 2}
  - {field: employees, at_most: 500}
""",
    "test.yaml",
)
GOOD = {"business_model": "var", "employees": 40, "customer_segments": ["smb", "enterprise"],
        "certifications": ["storage-expert"]}  # fmt: skip


def test_every_condition_form():
    assert assess_fit(GOOD, IDEAL).fit == 100.0
    assert assess_fit({**GOOD, "employees": 10}, IDEAL).fit == 100.0  # at_least is inclusive
    assert assess_fit({**GOOD, "employees": 501}, IDEAL).fit == pytest.approx(83.3)  # at_most fails: 5 of 6
    assert assess_fit({**GOOD, "customer_segments": ["smb"]}, IDEAL).fit == 50.0  # overlaps fails: 3 of 6
    assert assess_fit({**GOOD, "certifications": ["backup"]}, IDEAL).fit == pytest.approx(66.7)  # includes fails
    assert assess_fit({**GOOD, "business_model": "distributor"}, IDEAL).fit == 0.0  # in fails (a must-have)


def test_missing_fields_fail_their_conditions_and_say_so():
    found = assess_fit({"business_model": "var", "employees": 12}, IDEAL)
    assert found.fit == pytest.approx(16.7)  # only at_most 500 holds: 1 of 6
    assert found.fit_gaps == ["customer_segments unknown (wanted one of midmarket, enterprise)",
                              "certifications unknown (wanted storage-expert)"]  # fmt: skip
    assert assess_fit({**GOOD, "certifications": []}, IDEAL).fit_gaps == ["no certifications (wanted storage-expert)"]


def test_a_failed_must_have_is_zero_and_comes_first_in_the_gaps():
    found = assess_fit({**GOOD, "business_model": "distributor", "employees": 4, "certifications": []}, IDEAL)
    assert found.fit == 0.0
    assert found.fit_gaps == [
        "must: business_model is distributor, not one of reseller, var",
        "must: employees is 4, wanted at least 10",
        "no certifications (wanted storage-expert)",
    ]


def test_no_profile_no_fit_and_no_nice_to_haves_is_100():
    assert assess_fit(None, IDEAL).fit is None and assess_fit({}, IDEAL).fit is None
    only_musts = parse_ideal("must_have:\n  - {field: employees, at_least: 1}\n", "x")
    assert assess_fit({"employees": 3}, only_musts).fit == 100.0
    assert assess_fit({"employees": 0}, only_musts).fit == 0.0


@pytest.mark.parametrize(("fit", "score", "want"), [
    (60.0, 65.0, "core"), (60.0, 64.9, "invest"), (59.9, 65.0, "review"), (59.9, 64.9, "deprioritise"),
    (100.0, 0.0, "invest"), (0.0, 100.0, "review"), (None, 80.0, None),
])  # fmt: skip
def test_quadrants_at_the_boundaries(fit, score, want):
    assert quadrant(fit, score) == want


def test_priority_is_high_from_fit_60():
    assert [priority(f) for f in (None, 0.0, 59.9, 60.0, 100.0)] == ["normal", "normal", "normal", "high", "high"]


def test_the_shipped_ideal_is_plausible_and_the_oracle_agrees():
    ideal = load_ideal(DEFAULT_IDEAL)
    assert ideal.must_have and ideal.nice_to_have
    data = yaml.safe_load(DEFAULT_IDEAL.read_text())
    for profile in profiles(300):
        assert assess_fit(profile, ideal).fit == oracle.fit(profile, data), profile


def profiles(n: int, seed: int = 3) -> list[dict]:
    rng = random.Random(seed)
    values = {
        "employees": lambda: rng.choice([0, 5, 10, 11, 49, 50, 51, 499, 500, 501, 5000]),
        "business_model": lambda: rng.choice(["reseller", "var", "msp", "si", "distributor", "isv", "other"]),
        "customer_segments": lambda: rng.sample(["smb", "midmarket", "enterprise", "public"], rng.randint(0, 3)),
        "regions": lambda: rng.sample(["emea", "dach", "na", "apac"], rng.randint(0, 2)),
        "certifications": lambda: rng.sample(["storage-expert", "backup", "cloud"], rng.randint(0, 2)),
        "specializations": lambda: rng.sample(["data-protection", "cloud-migration", "security"], rng.randint(0, 2)),
    }
    return [{f: values[f]() for f in FIT_FIELDS if rng.random() < 0.8} for _ in range(n)]


def test_the_sql_rule_is_the_python_rule(client):
    import orjson

    for ideal in (load_ideal(DEFAULT_IDEAL), IDEAL):
        sample = [*profiles(200, seed=9), {}]
        texts = [orjson.dumps(p).decode() for p in sample]
        rows = client.query(
            f"SELECT {fit_sql(ideal, 'p')}, {gaps_sql(ideal, 'p')} FROM (SELECT arrayJoin({{texts:Array(String)}}) AS p)",
            parameters={"texts": texts},
        ).result_rows
        for profile, (fit, gaps) in zip(sample, rows, strict=True):
            want = assess_fit(profile, ideal)
            assert fit == want.fit, profile
            assert len([g for g in gaps.split("; ") if g]) == len(want.fit_gaps), (profile, gaps)


# --- the file: each kind of mistake is refused whole, with its line and the reason -----

MISTAKES = {
    "not YAML": ("must_have:\n  - {field: employees, at_least: 10\n", ":3: not valid YAML"),
    "not a mapping": ("- employees\n", ":1: the ideal partner is a mapping"),
    "unknown top key": ("must_have: []\nshould_have: []\n", ":2: unknown key 'should_have'"),
    "list expected": ("nice_to_have: {field: regions}\n", ":1: nice_to_have is a list of conditions"),
    "condition not a mapping": ("must_have:\n  - employees\n", ":2: a condition is a mapping"),
    "no field": ("must_have:\n  - {at_least: 10}\n", ":2: the condition names no field"),
    "unknown field": ("must_have:\n  - {field: staff, at_least: 10}\n", ":2: unknown field 'staff'"),
    "unknown key": ("nice_to_have:\n  - {field: regions, overlaps: [emea], wieght: 2}\n", ":2: unknown key 'wieght'"),
    "weight on a must-have": ("must_have:\n  - {field: employees, at_least: 10, weight: 2}\n",
                              ":2: unknown key 'weight' (must-haves have no weight"),
    "two operators": ("must_have:\n  - {field: employees, at_least: 10, at_most: 5}\n", ":2: a condition has exactly one"),
    "no operator": ("must_have:\n  - {field: employees}\n", ":2: a condition has exactly one"),
    "operator for another field": ("must_have:\n  - {field: regions, at_least: 2}\n",
                                   ":2: at_least does not apply to regions"),
    "wrong value type": ("must_have:\n  - {field: employees,\n     at_least: ten}\n", ":3: at_least takes a number"),
    "a list where one value": ("nice_to_have:\n  - {field: certifications, includes: [a, b]}\n",
                               ":2: includes takes one value"),
    "unknown business model": ("must_have:\n  - {field: business_model, in: [resellr, var]}\n",
                               ":2: unknown business_model resellr"),
    "weight not positive": ("nice_to_have:\n  - {field: regions, overlaps: [emea], weight: 0}\n",
                            ":2: weight must be a number above 0"),
}  # fmt: skip


@pytest.mark.parametrize("kind", MISTAKES)
def test_each_kind_of_mistake_is_refused_with_its_line(kind, tmp_path):
    text, message = MISTAKES[kind]
    path = tmp_path / "ideal.yaml"
    path.write_text(text)
    with pytest.raises(FitError) as caught:
        load_ideal(path)
    assert str(caught.value).startswith(str(path)) and message in str(caught.value), str(caught.value)


def test_an_unreadable_file_is_a_sentence(tmp_path):
    with pytest.raises(FitError, match=r"cannot read the ideal partner file .*missing\.yaml"):
        load_ideal(tmp_path / "missing.yaml")
