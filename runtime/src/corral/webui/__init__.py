"""The dashboard, served by the master at `/`: its routes are `dashboard.py`, its page and
assets `static/` (shipped inside the package: clusters are often offline)."""
