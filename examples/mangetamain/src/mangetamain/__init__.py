"""Mangetamain: a small Streamlit app about recipes, deployed by lastgood."""

__version__ = "0.1.0"
