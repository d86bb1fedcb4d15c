"""Mangetamain's Streamlit script.

Run it with ``streamlit run app.py``; in service, ``python serve.py run`` does.
"""

from mangetamain.ui import main

main()
