"""Evaluate what an agent produced, record the results, rank agents."""
