"""The holders' insertion as the pages, the report and the renewal file read it: which
indicators each view asks for, and which rows are fragile (DOMAIN.md, « Insertion of
holders »: the pages say when the response rate is under 30 % or the respondents under 20).
"""

from __future__ import annotations

from .api import IndicatorTable

#: Below these, a row's rates are to be read with care.
LOW_RESPONSE, FEW_RESPONDENTS = 0.30, 20
#: The horizons a survey looks at, in months; raking corrects the 6-month rates only.
HORIZONS = (6, 24)


def promotion_names(h: int) -> list[str]:
    """What a view by promotion shows at ``h`` months (the rates bring their terms)."""
    adjusted = [f"employment_rate_{h}m_adjusted", f"target_job_rate_{h}m_adjusted"] \
        if h == 6 else []
    return ["holders", f"insertion_response_rate_{h}m", f"insertion_neutralised_{h}m",
            f"employment_rate_{h}m", f"target_job_rate_{h}m", *adjusted,
            f"return_to_work_rate_{h}m", f"pay_median_{h}m"]


def cqp_names(h: int) -> list[str]:
    """What a view by CQP shows at ``h`` months."""
    adjusted = [f"employment_rate_{h}m_adjusted"] if h == 6 else []
    return [f"insertion_response_rate_{h}m", f"employment_rate_{h}m", *adjusted,
            f"target_job_rate_{h}m", f"pay_median_{h}m"]


def fragile(table: IndicatorTable, h: int) -> list[int]:
    """The rows (index labels) of ``table`` whose published response rate at ``h`` months is
    under 30 %, or whose published respondents are under 20 or « secret »: their rates are
    to be read with care. Rows where nobody was surveyed are not counted."""
    values, hidden = table.values, table.hidden
    respondents, rate = f"insertion_respondents_{h}m", f"insertion_response_rate_{h}m"
    out = []
    for i in values.index:
        if not values.at[i, f"insertion_surveyed_{h}m"]:
            continue
        few = bool(hidden.at[i, respondents]) or values.at[i, respondents] < FEW_RESPONDENTS
        low = not hidden.at[i, rate] and values.at[i, rate] == values.at[i, rate] \
            and values.at[i, rate] < LOW_RESPONSE
        if few or low:
            out.append(i)
    return out
