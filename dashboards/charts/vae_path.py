"""The VAE path of the candidacies entered in the period (a cohort)."""

from __future__ import annotations

import pandas as pd

from cqp_metrics.formatting import fr_int

from ..i18n import say
from .step_bars import StepBarsFigure

#: The VAE path of the candidacies entered in the period (a cohort): each step a subset of
#: the one before, reached at any date up to the data cut.
FUNNEL = (("vae_enrolments", "Entrées en VAE"), ("vae_admissible", "Recevables"),
          ("vae_cohort_juried", "Présentés au jury"), ("vae_cohort_full", "Certifiés"))


def funnel_steps(table, language: str = "fr") -> pd.DataFrame | None:
    """The cohort's VAE path, last step first (a chart's bottom): each step's label with its
    count, the count (NaN under secret) and its French text (« secret » under secret). None
    when the cohort is empty."""
    published = table.published().iloc[0]
    counts = [published[n] for n, _ in FUNNEL]
    numeric = pd.to_numeric(pd.Series(counts), errors="coerce")
    if numeric.fillna(0).eq(0).all() and not any(isinstance(c, str) for c in counts):
        return None  # nobody: « aucune donnée »; a cohort under secret is still drawn
    # the count goes into the step's label (text labels on inverted bars break Bokeh)
    return pd.DataFrame({"étape": [f"{say(step, language)} ({fr_int(count) or count})"
                                   for (_, step), count in zip(FUNNEL, counts, strict=True)],
                         "effectif": numeric,
                         "texte": [fr_int(c) or str(c) for c in counts]})[::-1]


class PathFigure:
    """The cohort's VAE path as horizontal bars, first step on top
    (:class:`~dashboards.charts.step_bars.StepBarsFigure`), drawn from a table of the funnel's
    counts."""

    def __init__(self, language: str = "fr", title: str | None = None) -> None:
        self.language = language
        self.bars = StepBarsFigure(title or say("Parcours VAE des entrées de la période",
                                                language),
                                   say("Étape", language), say("Candidatures", language))
        self.figure = self.bars.figure

    def update(self, table) -> bool:
        """Show the path of ``table``'s cohort; False when the cohort is empty."""
        steps = funnel_steps(table, self.language)
        if steps is None:
            return False
        self.bars.update(steps)
        return True
