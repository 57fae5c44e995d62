"""The dashboards' own words in English, for ``?lang=en``: words and labels (:func:`say`, a
word missing here stays French rather than breaking) and composed messages, keyed by what
they say, each a template per language (:func:`message`). Indicator and dimension labels
come from the registry (``label(name, language)``)."""

from __future__ import annotations

ENGLISH: dict[str, str] = {
    # sidebar
    "Filtres": "Filters", "Toutes": "All", "Tous": "All",
    "Branche": "Branch", "CQP": "CQP", "De": "From", "À": "To", "Région": "Region",
    "Voie d'accès": "Pathway", "Financement": "Funding", "Statut": "Status", "Sexe": "Sex",
    "Âge": "Age", "Organisme": "Training provider",
    "Formation": "Training", "VAE": "VAE", "Femmes": "Women", "Hommes": "Men",
    "Contrat pro": "Professionalisation contract", "Plan": "Employer's plan", "Autre": "Other",
    "Salarié": "Employee", "Demandeur d'emploi": "Jobseeker", "Alternant": "Work-study",
    # banner
    "Données au": "Data as of", "Données : aucune": "Data: none",
    # charts
    "Volumes par année": "Counts by year", "Effectif": "Count",
    "Données du graphique": "Chart data",
    "(en mois)": "(months)", "mois": "months", "par": "by",
    "Télécharger CSV": "Download CSV", "Télécharger Excel": "Download Excel",
    "Définitions des colonnes": "Column definitions",
    # pages
    "Découpage": "Breakdown", "Lignes de total": "Total rows",
    "Rapport (HTML, pour ces filtres)": "Report (HTML, for these filters)",
    "**Découpage** (une ligne par combinaison des dimensions cochées)":
        "**Breakdown** (one row per combination of the ticked dimensions)",
    "Complétion (Kaplan–Meier, IC 95 %)": "Completion (Kaplan–Meier, 95% CI)",
    "mois depuis la première validation partielle": "months since the first partial validation",
    "% complétées": "% completed",
    "Une courbe par année de cohorte": "One curve per cohort year",
    "Les blocs les moins acquis (taux d'acquisition, IC 95 %)":
        "The least acquired blocks (pass rate, 95% CI)",
    "CQP par registre aujourd'hui": "CQPs by register today",
    "Organismes : validation totale selon le volume": "Providers: full validation by volume",
    "Blocs : taux d'acquisition par version (IC 95 %)":
        "Blocks: pass rate by version (95% CI)",
    "CQP examiné": "CQP under review",
    "par région (Outre-mer en bas)": "by region (overseas at the bottom)",
    "Indicateur": "Indicator",
    "Ce que la carte montre par région.": "What the map shows by region.",
    "Parcours VAE des entrées de la période": "VAE path of the period's entrants",
    "Candidatures": "Candidacies", "Étape": "Step",
    "Entrées en VAE": "VAE entrants", "Recevables": "Admissible",
    "Présentés au jury": "Before the jury", "Certifiés": "Certified",
    # definitions, notes and messages
    "Définition": "Definition", "colonnes du tableau": "the table's columns",
    "Aucune donnée": "No data", "pour cette sélection": "for this selection",
    "non estimable": "not estimable",
    "courbe de complétion": "completion curve", "blocs": "blocks", "parcours VAE": "VAE path",
    "la voie VAE n'est pas sélectionnée": "the VAE pathway is not selected",
    "Les candidats entrés récemment en validation partielle n'ont pas encore eu le temps de la "
    "compléter : l'estimateur de Kaplan–Meier tient compte de ce temps d'observation, ce sont "
    "ses chiffres qu'on compare d'une année à l'autre.":
        "Candidates who recently obtained a partial validation have not yet had the time to "
        "complete it: the Kaplan–Meier estimator takes this observation time into account, and "
        "its figures are the ones to compare from one year to the next.",
    # table headings
    "Mois": "Months", "Complétées": "Completed", "Borne basse": "Lower bound",
    "Borne haute": "Upper bound", "Cohorte": "Cohort", "Intitulé": "Title",
    "Branches": "Branches", "Reconnaissance": "Recognition", "Code": "Code", "Fin": "End",
    "Mois restants": "Months left", "Code Certif Info": "Certif Info code", "Niveau": "Level",
    "Valideur": "Awarding body", "Registre": "Register", "Début": "Start",
    "Bloc": "Block", "Version avant": "Version before", "Taux avant (IC 95 %)":
        "Rate before (95% CI)", "Version après": "Version after",
    "Taux après (IC 95 %)": "Rate after (95% CI)",
    "Écart (IC 95 %, Newcombe)": "Difference (95% CI, Newcombe)",
    "Taux de validation totale": "Full validation rate", "Position": "Position",
    "au-dessus des limites": "above the limits", "en dessous des limites": "below the limits",
    "Taux d'acquisition": "Pass rate", "IC 95 %": "95% CI",
    # recognition
    "Enregistrements qui prennent fin d'ici {months} mois":
        "Registrations ending within {months} months",
    "aucun enregistrement ne prend fin": "no registration ends",
    "Enregistrements expirés, non renouvelés": "Lapsed registrations, not renewed",
    ("Le parcours suit les candidatures entrées en VAE dans la période (une cohorte : chaque "
     "étape est comptée quelle que soit sa date, jusqu'à la date d'arrêt des données ; les "
     "entrées récentes n'ont pas encore eu le temps d'aller au jury). Le taux de réussite "
     "rapporte les validations totales aux décisions de jury prononcées dans la période, "
     "quelle que soit l'année d'entrée. Les deux ne portent donc pas sur les mêmes candidats : "
     "« Certifiés » / « Présentés au jury » du parcours n'est pas le taux de réussite de la "
     "période."):
        ("The path follows the candidacies that entered VAE in the period (a cohort: each step "
         "is counted whatever its date, up to the data cut; recent entries have not had the "
         "time to reach a jury yet). The success rate relates full validations to the jury "
         "decisions made in the period, whatever the year of entry. They are not about the "
         "same candidates: the path's « Certified » / « Presented to a jury » is not the "
         "period's success rate."),
    "aucun enregistrement expiré sans renouvellement": "no registration lapsed unrenewed",
    "État": "State",
    "Catalogue national des CQP (Certif Info)": "National catalogue of CQPs (Certif Info)",
    "La liste nomme les CQP de toutes les branches : elle est réservée aux administrateurs.":
        "The list names the CQPs of every branch: it is for administrators only.",
    "Catalogue national non importé (« cqp-metrics import-certifinfo »).":
        "National catalogue not imported (« cqp-metrics import-certifinfo »).",
    "CQP jamais enregistrés": "CQPs never registered", "registre": "register",
    # referential
    "% validation totale": "% full validation", "limites à 95 %": "95% limits",
    "limites à 99,8 %": "99.8% limits", "ensemble": "all", "organismes": "providers",
    "Validation totale": "Full validation",
    "Tapez un code ou un mot de l'intitulé": "Type a code or a word of the title",
    "Le CQP dont la fiche est présentée (les filtres de gauche s'y appliquent aussi).":
        "The CQP whose sheet is shown (the filters on the left apply to it too).",
    "Blocs : évolution entre versions": "Blocks: change between versions",
    "Blocs : évolution entre versions du référentiel":
        "Blocks: change between versions of the referential",
    "Organismes hors des limites à 95 %": "Providers outside the 95% limits",
    "Aucun organisme hors des limites à 95 %.": "No provider outside the 95% limits.",
    "Enregistrements RNCP / RS": "RNCP / RS registrations", "sans fin": "no end",
    "Jamais enregistré au RNCP ni au RS.": "Never registered in the RNCP or the RS.",
    "une seule version du référentiel": "a single version of the referential",
    "organismes de plus de 20 présentés": "providers with more than 20 before the jury",
    # holders' outcomes
    "Horizon": "Horizon", "6 mois": "6 months", "24 mois": "24 months",
    "Taux d'emploi par promotion": "Employment rate by promotion",
    "Taux d'emploi dans le métier visé par promotion":
        "Targeted-occupation rate by promotion",
    "Répondants": "Respondents", "Corrigé de la non-réponse": "Corrected for non-response",
    "Promotion": "Promotion", "Par promotion": "By promotion", "Par CQP": "By CQP",
    "Contrats des titulaires en emploi": "Contracts of the holders in work",
    "Contrat": "Contract", "Contrats": "Contracts", "contrats": "contracts",
    "Part des emplois": "Share of the jobs", "Intérim": "Temporary work",
    "Alternance": "Work-study", "Indépendant": "Self-employed",
    "Fonctionnaire": "Civil servant",
    "aucune enquête d'insertion à": "no insertion survey at",
    "chargez insertion.csv": "load insertion.csv",
    "À lire avec prudence": "To be read with care",
    "taux de réponse inférieur à 30 % ou moins de 20 répondants":
        "response rate under 30% or fewer than 20 respondents",
    "Enquête auprès des titulaires {h} mois après leur validation totale ; une promotion est "
    "l'année de la validation. Les taux excluent les répondants neutralisés (poursuite "
    "d'études, incapacité), selon la règle de France compétences. Le taux corrigé pondère les "
    "répondants pour retrouver les titulaires enquêtés par CQP, voie d'accès, sexe et tranche "
    "d'âge.":
        "Survey of the holders {h} months after their full validation; a promotion is the "
        "year of the validation. The rates leave out the neutralised respondents (further "
        "study, incapacity), as France compétences' rule says. The corrected rate weights the "
        "respondents to match the surveyed holders by CQP, pathway, sex and age band.",
    "À 24 mois, les taux sont ceux des répondants (pas de correction).":
        "At 24 months, the rates are the respondents' (no correction).",
}

HELP_EN = {
    "branch": "Professional branches (IDCC code). None chosen: all those of your scope.",
    "cqp": "Professional qualification certificates. None chosen: all.",
    "year_from": "First year of the period (each indicator is dated by its own event: see its "
                 "definitions).",
    "year_to": "Last year of the period.",
    "region": "Region of the candidacy (INSEE code). None chosen: all.",
    "funding": "Funding of the pathway. None chosen: all.",
    "status": "Candidate's status at entry. None chosen: all.",
    "provider": "Accredited training provider. None chosen: all.",
}

#: The composed messages, keyed by what they say: a template per language, whose fields
#: the caller fills (with text already in that language).
MESSAGES: dict[str, dict[str, str]] = {
    "incomplete_cut": {
        "fr": "l'année {year} est incomplète : les chiffres clés la comparent à la même "
              "période de l'année précédente.",
        "en": "year {year} is incomplete: the key figures compare it with the same period of "
              "the year before."},
    "incomplete_years": {
        "fr": "▨ {years} : année incomplète (données au {date}), à ne pas comparer telle "
              "quelle à une année entière.",
        "en": "▨ {years}: incomplete year (data as of {date}), not to be compared as is with "
              "a whole year."},
    "interval": {"fr": "IC 95 % [{low} – {high}]", "en": "95% CI [{low} – {high}]"},
    "year_on_year": {"fr": "{change} sur un an", "en": "{change} year on year"},
    "same_period": {"fr": "{change} · {period} / {before}", "en": "{change} · {period} / {before}"},
    "covered_until": {"fr": "{period} (données au {date})", "en": "{period} (data as of {date})"},
    "compared_with": {"fr": "{period}, comparé à {before}.",
                      "en": "{period}, compared with {before}."},
    "lapsed": {"fr": "Fin d'enregistrement sans renouvellement : {listed}.",
               "en": "Registration ended without renewal: {listed}."},
    "lapsed_without": {"fr": "Fin d'enregistrement sans renouvellement : {listed} ; hors ce "
                             "CQP : {change}.",
                       "en": "Registration ended without renewal: {listed}; the other CQPs: "
                             "{change}."},
    "lapsed_without_several": {
        "fr": "Fin d'enregistrement sans renouvellement : {listed} ; hors ces CQP : {change}.",
        "en": "Registrations ended without renewal: {listed}; the other CQPs: {change}."},
    "lapsed_one": {"fr": "{rncp} ({cqp}) le {date}", "en": "{rncp} ({cqp}) on {date}"},
}


def say(text: str, language: str) -> str:
    """``text`` in ``language`` (French unless English is asked and known)."""
    return ENGLISH.get(text, text) if language == "en" else text


def message(key: str, language: str, **fields: object) -> str:
    """The message ``key`` in ``language`` (French unless English is asked), its ``fields``
    filled."""
    templates = MESSAGES[key]
    return templates.get(language, templates["fr"]).format(**fields)
