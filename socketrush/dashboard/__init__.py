"""The live dashboard's server side: who may use it (`access`), the debug console's feed of
what happens to each app (`feed`), the figures and charts (`stats`), and the actor that owns
them and shares them with other nodes (`hub`). The HTTP views are in
`socketrush/http/dashboard.py`, the page under `static/`."""
