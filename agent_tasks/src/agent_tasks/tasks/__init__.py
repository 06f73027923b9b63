"""The built-in tasks, one folder each: ``task.py`` (the spec), ``prompt.md``, ``starter/``.

The registry (``agent_tasks.registry``) finds every folder here that holds a ``task.py``; a folder
without one (``budget_starter``, ``gpt2_xs_starter``) only holds starter files other tasks share.
"""
