"""Tests of the pure analysis functions."""

import pytest

from mangetamain import analysis
from mangetamain.analysis import Recipe

CSV = """name,month,minutes,rating,ingredients
Soupe,10,45,4.0,Pumpkin; onion
Crêpes,2,30,5.0,flour;egg;milk
Salade,7,10,3.0,tomato;onion;
"""


def test_parse_recipes_reads_every_field():
    recipes = analysis.parse_recipes(CSV)
    assert [r.name for r in recipes] == ["Soupe", "Crêpes", "Salade"]
    assert recipes[0] == Recipe("Soupe", 10, 45, 4.0, ("pumpkin", "onion"))
    assert recipes[2].ingredients == ("tomato", "onion")


@pytest.mark.parametrize(
    "row, message",
    [
        ("X,13,10,4.0,a", "line 2: month 13"),
        ("X,1,10,5.5,a", "line 2: rating 5.5"),
        ("X,one,10,4.0,a", "line 2: malformed recipe"),
        ("X,1,10", "line 2: malformed recipe"),
    ],
)
def test_parse_recipes_names_the_bad_line(row, message):
    with pytest.raises(ValueError, match=message):
        analysis.parse_recipes("name,month,minutes,rating,ingredients\n" + row + "\n")


def test_the_sample_data_set_loads():
    recipes = analysis.load_sample()
    assert len(recipes) == 12
    assert all(1 <= r.month <= 12 for r in recipes)


@pytest.mark.parametrize(
    "month, season",
    [(12, "winter"), (1, "winter"), (2, "winter"), (3, "spring"), (6, "summer")]
    + [(8, "summer"), (9, "autumn"), (11, "autumn")],
)
def test_season_of(month, season):
    assert analysis.season_of(month) == season


@pytest.mark.parametrize("month", [0, 13, -1])
def test_season_of_refuses_bad_months(month):
    with pytest.raises(ValueError, match="between 1 and 12"):
        analysis.season_of(month)


def test_mean_rating():
    assert analysis.mean_rating(analysis.parse_recipes(CSV)) == 4.0
    assert analysis.mean_rating([]) is None


def test_recipes_per_season_lists_every_season_in_order():
    counts = analysis.recipes_per_season(analysis.parse_recipes(CSV))
    assert list(counts) == list(analysis.SEASONS)
    assert counts == {"winter": 1, "spring": 0, "summer": 1, "autumn": 1}


def test_top_ingredients_by_count_then_name():
    recipes = analysis.parse_recipes(CSV)
    assert analysis.top_ingredients(recipes, 2) == [("onion", 2), ("egg", 1)]
    assert analysis.top_ingredients(recipes, 0) == []
    with pytest.raises(ValueError):
        analysis.top_ingredients(recipes, -1)


def test_quick_recipes_best_rated_first():
    recipes = analysis.parse_recipes(CSV)
    assert [r.name for r in analysis.quick_recipes(recipes, 30)] == ["Crêpes", "Salade"]
    assert analysis.quick_recipes(recipes, 5) == []
