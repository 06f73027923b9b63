"""Shared starter files of the budget tasks: a runnable image baseline writing submission.csv."""
