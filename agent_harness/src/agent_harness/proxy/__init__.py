"""The model-API proxy: keeps provider keys on the host, meters usage and cost, holds budgets."""

from agent_harness.proxy.account import CALLS_FILE, Account, Budget
from agent_harness.proxy.prices import PriceTable, price_table
from agent_harness.proxy.session import ProxyPlan, ProxySession, plan_proxy
from agent_harness.proxy.usage import StreamMeter, Usage, usage_of_answer

__all__ = [
    "CALLS_FILE",
    "Account",
    "Budget",
    "PriceTable",
    "ProxyPlan",
    "ProxySession",
    "StreamMeter",
    "Usage",
    "plan_proxy",
    "price_table",
    "usage_of_answer",
]
