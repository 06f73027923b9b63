"""The database of evaluations: runs, evaluations, metric values and reference results.

``store`` records and reads (:class:`Store`, :func:`record_result`), ``rows`` maps a run record
and a results file to rows (the one place that does), ``engine`` opens a database, ``views``
holds what the store hands back, ``schema`` the tables, ``migrate`` the migrations.
"""

from __future__ import annotations

from agent_eval.store.engine import CONNECT_TIMEOUT_S
from agent_eval.store.store import Store, record_result
from agent_eval.store.views import HistoryEntry, ReferenceRow, StoredReference

__all__ = [
    "CONNECT_TIMEOUT_S",
    "HistoryEntry",
    "ReferenceRow",
    "Store",
    "StoredReference",
    "record_result",
]
