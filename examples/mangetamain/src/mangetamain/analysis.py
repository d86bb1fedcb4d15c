"""Pure analysis functions over recipes: no Streamlit, no I/O beyond parsing text."""

from __future__ import annotations

import csv
import io
from collections import Counter
from dataclasses import dataclass
from importlib import resources

SEASONS = ("winter", "spring", "summer", "autumn")
"""The seasons, in calendar order starting with winter."""


@dataclass(frozen=True)
class Recipe:
    """One recipe of the data set.

    Attributes:
        name: The recipe's name.
        month: The month it is usually cooked in (1-12).
        minutes: Preparation and cooking time.
        rating: Average rating, from 0 to 5.
        ingredients: Its ingredients, lower case.
    """

    name: str
    month: int
    minutes: int
    rating: float
    ingredients: tuple[str, ...]


def parse_recipes(text: str) -> list[Recipe]:
    """Parses recipes from CSV text.

    The header is ``name,month,minutes,rating,ingredients``; ingredients are
    separated by ``;``.

    Args:
        text: The CSV document.

    Returns:
        The recipes, in the order of the file.

    Raises:
        ValueError: A row has a missing or malformed field, named with its line.
    """
    recipes = []
    reader = csv.DictReader(io.StringIO(text))
    for line, row in enumerate(reader, start=2):
        try:
            month = int(row["month"])
            rating = float(row["rating"])
            recipe = Recipe(
                name=row["name"].strip(),
                month=month,
                minutes=int(row["minutes"]),
                rating=rating,
                ingredients=tuple(
                    i.strip().lower()
                    for i in row["ingredients"].split(";")
                    if i.strip()
                ),
            )
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise ValueError(f"line {line}: malformed recipe ({e})") from e
        if not 1 <= month <= 12:
            raise ValueError(f"line {line}: month {month} is not between 1 and 12")
        if not 0 <= rating <= 5:
            raise ValueError(f"line {line}: rating {rating} is not between 0 and 5")
        recipes.append(recipe)
    return recipes


def load_sample() -> list[Recipe]:
    """Loads the sample data set shipped with the package.

    Returns:
        The sample recipes.
    """
    text = (
        resources.files("mangetamain").joinpath("data/recipes.csv").read_text("utf-8")
    )
    return parse_recipes(text)


def season_of(month: int) -> str:
    """Names the season of a month (meteorological seasons, northern hemisphere).

    Args:
        month: 1 to 12.

    Returns:
        One of :data:`SEASONS`.

    Raises:
        ValueError: The month is not between 1 and 12.
    """
    if not 1 <= month <= 12:
        raise ValueError(f"month {month} is not between 1 and 12")
    return SEASONS[(month % 12) // 3]


def mean_rating(recipes: list[Recipe]) -> float | None:
    """Averages the ratings.

    Args:
        recipes: The recipes.

    Returns:
        The mean rating rounded to 2 decimals, or None when there is no recipe.
    """
    if not recipes:
        return None
    return round(sum(r.rating for r in recipes) / len(recipes), 2)


def recipes_per_season(recipes: list[Recipe]) -> dict[str, int]:
    """Counts recipes per season.

    Args:
        recipes: The recipes.

    Returns:
        Every season of :data:`SEASONS`, in order, with its count (0 included).
    """
    counts = Counter(season_of(r.month) for r in recipes)
    return {s: counts.get(s, 0) for s in SEASONS}


def top_ingredients(recipes: list[Recipe], n: int = 5) -> list[tuple[str, int]]:
    """Finds the most used ingredients.

    Args:
        recipes: The recipes.
        n: How many to return.

    Returns:
        Up to ``n`` (ingredient, count) pairs, most used first, ties by name.

    Raises:
        ValueError: ``n`` is negative.
    """
    if n < 0:
        raise ValueError("n must not be negative")
    counts = Counter(i for r in recipes for i in r.ingredients)
    return sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:n]


def quick_recipes(recipes: list[Recipe], max_minutes: int) -> list[Recipe]:
    """Keeps the recipes ready within a time, best rated first.

    Args:
        recipes: The recipes.
        max_minutes: The longest time allowed.

    Returns:
        The matching recipes, by rating (highest first), then name.
    """
    quick = [r for r in recipes if r.minutes <= max_minutes]
    return sorted(quick, key=lambda r: (-r.rating, r.name))
