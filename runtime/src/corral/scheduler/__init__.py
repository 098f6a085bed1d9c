"""Scheduler SDK: an asyncio client of the v1 scheduler API."""
from corral.scheduler.client import SchedulerClient, SchedulerError, scalar

__all__ = ["SchedulerClient", "SchedulerError", "scalar"]
