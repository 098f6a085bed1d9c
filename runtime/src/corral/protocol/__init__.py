"""Wire formats shared by the master, the agent, executors and clients."""
