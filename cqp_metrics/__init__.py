"""CQP indicators for branch observatories and CPNE members, computed in SQL.

>>> from cqp_metrics import make_engine, indicators
>>> indicators(make_engine(), by=["year"])  # doctest: +SKIP
"""

from .api import IndicatorTable, compute, indicators
from .config import SecretRule
from .db import make_engine
from .registry import REGISTRY

__all__ = ["REGISTRY", "IndicatorTable", "SecretRule", "compute", "indicators", "make_engine"]
