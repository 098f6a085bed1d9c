"""The master: pure state machine (state.py), HTTP shell (http.py), daemon (daemon.py)."""
