"""The built-in catalogue: one module per benchmark, one ``@task`` function per task."""
