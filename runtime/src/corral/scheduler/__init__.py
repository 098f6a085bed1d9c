"""Scheduler SDK: an asyncio client of the v1 scheduler API."""
from corral.scheduler.client import CALL_ERRORS, SchedulerClient, SchedulerError, scalar

__all__ = ["CALL_ERRORS", "SchedulerClient", "SchedulerError", "scalar"]
