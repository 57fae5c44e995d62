"""The filters shared by every page, kept in the URL so that a copied link reopens the view."""

from __future__ import annotations

import html
import json

import panel as pn
import param

from cqp_metrics.codes import REGIONS

from .data import MetricsSource
from .i18n import HELP_EN, say

#: Filter parameter -> dimension of cqp_metrics.
DIMENSION_OF = {
    "branch": "branch_code", "cqp": "cqp_code", "region": "region_code", "pathway": "pathway",
    "funding": "funding", "status": "status", "sex": "sex", "age_band": "age_band",
    "provider": "provider_id",
}
LABELS = {
    "pathway": {"formation": "Formation", "vae": "VAE"},
    "funding": {"contrat_pro": "Contrat pro", "pro_a": "Pro-A", "cpf": "CPF", "plan": "Plan",
                "autre": "Autre"},
    "status": {"salarie": "Salarié", "demandeur_emploi": "Demandeur d'emploi",
               "alternant": "Alternant", "autre": "Autre"},
    "sex": {"F": "Femmes", "M": "Hommes"},
}
#: The filters shown as button groups (their labels are text), the others as choices lists.
BUTTONS = ("pathway", "sex", "age_band")


def checked_values(text: str, allowed) -> tuple[list, list]:
    """A link's value for a multiple choice (a JSON list, or one value): the items among
    ``allowed``, and those refused."""
    try:
        values = json.loads(text)
    except ValueError:
        values = [text]
    if not isinstance(values, list):
        values = [values]
    kept = [v for v in values if isinstance(v, str | int) and v in allowed]
    return kept, [v for v in values if v not in kept]


#: The help of each filter, for people (the widgets' tooltips; the params' docs are for
#: developers).
HELP_FR = {
    "branch": "Branches professionnelles (code IDCC). Aucune choisie : toutes celles de votre "
              "périmètre.",
    "cqp": "Certificats de qualification professionnelle. Aucun choisi : tous.",
    "year_from": "Première année de la période (chaque indicateur est daté par son propre "
                 "événement : voir ses définitions).",
    "year_to": "Dernière année de la période.",
    "region": "Région de la candidature (code INSEE). Aucune choisie : toutes.",
    "funding": "Financement du parcours. Aucun choisi : tous.",
    "status": "Statut du candidat à l'entrée. Aucun choisi : tous.",
    "provider": "Organisme de formation habilité. Aucun choisi : tous.",
}

#: The filters a link carries, by their query parameter.
URL_PARAMETERS = (*DIMENSION_OF, "year_from", "year_to")


class Filters(param.Parameterized):
    """What the user looks at: branches, CQPs, years and the attributes of candidacies."""

    branch = param.ListSelector(default=[], objects=[], label="Branche", doc="""
        Branches (IDCC); none selected means all the branches in scope.""")
    cqp = param.ListSelector(default=[], objects=[], label="CQP", doc="CQPs; none means all.")
    year_from = param.Selector(default=None, objects=[], label="De", doc="First year.")
    year_to = param.Selector(default=None, objects=[], label="À", doc="Last year.")
    region = param.ListSelector(default=[], objects=[], label="Région", doc="INSEE regions.")
    pathway = param.ListSelector(default=[], objects=[], label="Voie d'accès",
                                 doc="Training or VAE.")
    funding = param.ListSelector(default=[], objects=[], label="Financement", doc="Funding.")
    status = param.ListSelector(default=[], objects=[], label="Statut", doc="Status at entry.")
    sex = param.ListSelector(default=[], objects=[], label="Sexe", doc="Sex.")
    age_band = param.ListSelector(default=[], objects=[], label="Âge", doc="Age at entry.")
    provider = param.ListSelector(default=[], objects=[], label="Organisme",
                                  doc="Accredited training providers.")

    def __init__(self, source: MetricsSource, **params):
        super().__init__(**params)
        self.source = source
        #: value -> label as text, per filter (the widgets get the labels escaped: the
        #: choices list renders labels as HTML, and titles come from data).
        self.labels: dict[str, dict] = {}
        branches = source.catalogue("branches")
        self._choices("branch", {r.branch_code: f"{r.branch_code} — {r.name}"
                                 for r in branches.itertuples()})
        cqps = source.certifications()
        self._choices("cqp", {r.cqp_code: f"{r.cqp_code} — {r.title}" for r in cqps.itertuples()})
        years = source.catalogue("year")
        for name in ("year_from", "year_to"):
            self.param[name].objects = list(years)  # this session's own list
            self.param[name].check_on_set = True
        if years:
            self.year_from, self.year_to = years[0], years[-1]
        self._choices("region", {code: f"{code} — {REGIONS.get(code, code)}"
                                 for code in source.catalogue("region_code")})
        for name in ("pathway", "funding", "status", "sex"):
            labels = LABELS[name]
            self._choices(name, {v: labels.get(v, v)
                                 for v in source.catalogue(DIMENSION_OF[name])})
        self._choices("age_band", {v: v for v in ("<26", "26-44", "45+")})
        self._choices("provider", {v: str(v) for v in source.catalogue("provider_id")})

    def _choices(self, name: str, labels: dict) -> None:
        """This session's choices of one filter: its own objects, values checked on set."""
        self.labels[name] = dict(labels)
        # Bokeh's choices list renders labels as HTML; its button groups show them as text.
        shown = (lambda text: str(text)) if name in BUTTONS else (
            lambda text: html.escape(str(text)))
        self.param[name].objects = {shown(text): value for value, text in labels.items()}
        self.param[name].check_on_set = True

    def apply_url(self, arguments: dict[str, str]) -> list[str]:
        """Set the filters from a link's query values, each checked against this session's
        choices; a bad value is dropped alone. Returns what was ignored, in words."""
        ignored = []
        for name in URL_PARAMETERS:
            if name not in arguments:
                continue
            text = arguments[name]
            label = self.param[name].label
            if name in ("year_from", "year_to"):
                try:
                    year = int(text)
                except ValueError:
                    year = None
                if year in self.param[name].objects:
                    setattr(self, name, year)
                else:
                    ignored.append(f"{label} « {text} »")
                continue
            kept, refused = checked_values(text, self.labels[name])
            ignored += [f"{label} « {v} »" for v in refused]
            setattr(self, name, kept)
        if self.year_from is not None and self.year_to is not None \
                and self.year_from > self.year_to:
            ignored.append(f"période « {self.year_from} à {self.year_to} »")
            self.year_from, self.year_to = self.param.year_from.objects[0], \
                self.param.year_to.objects[-1]
        return ignored

    def refs(self) -> list:
        """The parameters a view must follow."""
        return [self.param[name] for name in (*DIMENSION_OF, "year_from", "year_to")]

    def state(self) -> dict:
        """The filters as ``cqp_metrics`` takes them: ``where`` and ``years``."""
        where = {DIMENSION_OF[name]: list(getattr(self, name)) for name in DIMENSION_OF
                 if getattr(self, name)}
        return {"where": where, "years": (self.year_from, self.year_to)}

    def description(self, language: str = "fr") -> dict[str, str]:
        """The filters in words, for the notes of downloads."""
        words = {say(self.param[name].label, language): ", ".join(
                     str(say(self.labels.get(name, {}).get(value, value), language))
                     for value in getattr(self, name))
                 for name in DIMENSION_OF if getattr(self, name)}
        if language == "en":
            words["Years"] = f"{self.year_from} to {self.year_to}"
        else:
            words["Années"] = f"{self.year_from} à {self.year_to}"
        return words

    def widgets(self, language: str = "fr") -> pn.Column:
        """The filter panel of the sidebar, in ``language``."""
        help_texts = HELP_EN if language == "en" else HELP_FR

        def named(name: str) -> str:
            return say(self.param[name].label, language)

        def choice(name: str, placeholder: str, **kwargs):
            return pn.widgets.MultiChoice.from_param(
                self.param[name], name=named(name), sizing_mode="stretch_width",
                description=help_texts[name], placeholder=say(placeholder, language), **kwargs)

        def buttons(name: str):
            names = self.param[name].names or {}
            translated = {"options": {say(text, language): value for text, value
                                      in names.items()}} if language == "en" and names else {}
            return pn.Column(pn.pane.Markdown(f"**{named(name)}**", margin=(0, 5)),
                             pn.widgets.CheckButtonGroup.from_param(
                                 self.param[name], name="", color="primary",
                                 variant="outline", sizing_mode="stretch_width",
                                 **translated))

        def year(name: str):
            return pn.widgets.Select.from_param(self.param[name], name=named(name), width=110,
                                                description=help_texts[name])

        return pn.Column(
            choice("branch", "Toutes"),
            choice("cqp", "Tous", search_option_limit=50),
            pn.Row(year("year_from"), year("year_to")),
            choice("region", "Toutes"),
            *(buttons(name) for name in BUTTONS),
            choice("funding", "Tous"), choice("status", "Tous"),
            choice("provider", "Tous"),
            sizing_mode="stretch_width",
        )
