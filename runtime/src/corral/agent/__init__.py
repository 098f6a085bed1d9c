"""The agent: runs executors in sandboxes and reports their tasks to the master."""
