"""The leaderboard: normalised scores over trials, imported reference results, three views."""

from agent_eval.leaderboard.importing import (
    ReferenceBatch,
    builtin_names,
    builtin_path,
    parse_reference_data,
    read_reference_file,
)
from agent_eval.leaderboard.page import render_page, write_page
from agent_eval.leaderboard.stats import (
    Estimate,
    capability_level,
    mean_interval,
    pass_at_k,
    t_quantile,
)
from agent_eval.leaderboard.table import (
    Board,
    RankedRow,
    ReferenceValue,
    Row,
    build_boards,
    rank_rows,
)
from agent_eval.leaderboard.views import page_data, render_board, view_json

__all__ = [
    "Board",
    "Estimate",
    "RankedRow",
    "ReferenceBatch",
    "ReferenceValue",
    "Row",
    "build_boards",
    "builtin_names",
    "builtin_path",
    "capability_level",
    "mean_interval",
    "page_data",
    "parse_reference_data",
    "pass_at_k",
    "rank_rows",
    "read_reference_file",
    "render_board",
    "render_page",
    "t_quantile",
    "view_json",
    "write_page",
]
