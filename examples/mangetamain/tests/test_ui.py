"""The pages, run by Streamlit's own test harness (the script runs as in a session)."""

from streamlit.testing.v1 import AppTest

from mangetamain import revision as rev
from mangetamain import ui
from tests.conftest import APP


def test_the_home_page_shows_the_title_and_the_figures():
    at = AppTest.from_file(str(APP / "app.py"), default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Mangetamain"]
    assert [m.value for m in at.metric] == ["12", "4.4", "29"]


def test_the_seasons_page_filters_by_time():
    script = "from mangetamain.ui import seasons\nseasons()\n"
    at = AppTest.from_string(script, default_timeout=60).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Saisons"]
    at.slider[0].set_value(20).run()
    lines = [m.value for m in at.markdown]
    assert "2 recette(s) prête(s) en 20 minutes ou moins" in lines
    assert lines[1:] == [
        "- Salade niçoise (20 min, 4.1/5)",
        "- Gaspacho (15 min, 3.8/5)",
    ]


def test_the_sidebar_names_the_running_revision(tmp_path, monkeypatch):
    monkeypatch.setattr(ui, "APP_DIR", tmp_path)
    assert ui.running_revision() == "unknown"
    rev.write_revision(tmp_path, rev.Revision("c" * 40, "2026-12-01T08:00:00Z", 1, "h"))
    assert ui.running_revision() == "ccccccc (started 2026-12-01T08:00:00Z)"
