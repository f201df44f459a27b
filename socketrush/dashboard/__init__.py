"""The live dashboard's server side: who may use it (`access`), the debug console's feed of
what happens to each app (`feed`), the figures and charts (`stats`) and how nodes share them
(`peers`). The HTTP views are in `socketrush/http/dashboard.py`, the page under `static/`."""
