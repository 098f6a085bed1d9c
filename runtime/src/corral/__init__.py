"""Corral: a Mesos-style cluster manager."""

__version__ = "0.1.0"
# The Mesos release whose v1 HTTP API Corral speaks; /version reports it so
# that clients such as pymesos pick the right protocol behaviour.
MESOS_API_VERSION = "1.11.0"
