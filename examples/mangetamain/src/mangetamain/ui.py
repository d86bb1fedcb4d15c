"""The Streamlit pages: thin, every computation is in :mod:`mangetamain.analysis`."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from mangetamain import __version__, analysis
from mangetamain import revision as rev

APP_DIR = Path(__file__).resolve().parents[2]
"""The app's directory (the checkout): ``src/mangetamain`` is two levels below it."""


def running_revision() -> str:
    """Says which commit this process serves, as recorded when it started.

    Returns:
        ``abc1234 (started …)``, or ``unknown`` when ``serve.py`` did not start it.
    """
    record = rev.read_revision(APP_DIR)
    if record is None:
        return "unknown"
    return f"{record.sha[:7]} (started {record.started})"


def home() -> None:
    """The home page: the data set at a glance."""
    recipes = analysis.load_sample()
    st.title("Mangetamain")
    st.caption("Des recettes, des saisons et des notes.")
    col1, col2, col3 = st.columns(3)
    col1.metric("Recettes", len(recipes))
    col2.metric("Note moyenne", analysis.mean_rating(recipes))
    col3.metric("Ingrédients", len({i for r in recipes for i in r.ingredients}))
    st.subheader("Ingrédients les plus utilisés")
    top = analysis.top_ingredients(recipes, 5)
    st.table({"ingrédient": [i for i, _ in top], "recettes": [n for _, n in top]})


def seasons() -> None:
    """The seasons page: recipes per season, and quick recipes."""
    recipes = analysis.load_sample()
    st.title("Saisons")
    per_season = analysis.recipes_per_season(recipes)
    st.bar_chart(per_season)
    minutes = st.slider("Prêt en (minutes)", 10, 240, 60, step=5)
    quick = analysis.quick_recipes(recipes, minutes)
    st.write(f"{len(quick)} recette(s) prête(s) en {minutes} minutes ou moins")
    for r in quick:
        st.write(f"- {r.name} ({r.minutes} min, {r.rating}/5)")


def main() -> None:
    """Builds the navigation and runs the selected page."""
    st.set_page_config(page_title="Mangetamain", page_icon="🍲")
    page = st.navigation(
        [
            st.Page(home, title="Accueil", url_path="accueil", default=True),
            st.Page(seasons, title="Saisons", url_path="saisons"),
        ]
    )
    st.sidebar.caption(f"Mangetamain {__version__} · révision {running_revision()}")
    page.run()
