"""Sphinx configuration of Mangetamain's documentation."""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

project = "Mangetamain"
author = "Mangetamain"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.napoleon"]
napoleon_google_docstring = True
autodoc_mock_imports = ["streamlit"]
html_theme = "sphinx_rtd_theme"
language = "fr"
