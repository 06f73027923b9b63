"""Where lm-eval's installed task files are, and what they list.

Read by the dataset layer (which BLiMP phenomena to fetch) and by the lm-eval adapter (which task
files to generate); it imports neither, so the two do not import each other.
"""

from __future__ import annotations

from pathlib import Path


def lm_eval_tasks_dir() -> Path:
    """Folder of lm-eval's installed task files."""
    import lm_eval

    return Path(lm_eval.__file__).parent / "tasks"


def blimp_phenomena() -> list[str]:
    """BLiMP configurations, read from lm-eval's installed task files."""
    folder = lm_eval_tasks_dir() / "blimp"
    return sorted(p.stem for p in folder.glob("*.yaml") if not p.name.startswith("_"))
