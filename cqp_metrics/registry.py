"""The indicators of DOMAIN.md, declared once: the SQL, the CLI columns and the labels follow.

Adding an indicator is adding one entry here, of one of the kinds of
:mod:`cqp_metrics.kinds`: a :class:`Count` (what is counted, on which fact, under which
condition), a :class:`Rate` (a count divided by another), a :class:`Median` (of a value over a
fact's rows) or a :class:`KaplanMeier` estimate at a horizon.
"""

from __future__ import annotations

import sqlalchemy as sa

from .codes import NEUTRALISED
from .facts import FactSource
from .kinds import Condition, Count, Indicator, KaplanMeier, Median, PayMedian, RakedRate, Rate


def rate(name: str, numerator: str, denominator: str, label_fr: str, label_en: str,
         description: str, secret: bool = True, description_en: str = "") -> Rate:
    """A rate entry: ``numerator / denominator`` (its fact is its numerator's)."""
    return Rate(name, "", label_fr, label_en, description, secret=secret,
                numerator=numerator, denominator=denominator, description_en=description_en)


def _decision(kind: str) -> Condition:
    return lambda f: f["decision"] == kind


def _vae(f: FactSource) -> sa.ColumnElement:
    return f.candidacy.c.pathway == "vae"


def _surveyed(h: int) -> Condition:
    return lambda f: f["horizon_months"] == h


def _answered(h: int) -> Condition:
    return lambda f: sa.and_(f["horizon_months"] == h, f["responded"])


def _counted(h: int) -> Condition:
    """Respondents at ``h`` months but the neutralised (further study, incapacity)."""
    return lambda f: sa.and_(_answered(h)(f), f["situation"].is_not(None),
                             f["situation"].not_in(NEUTRALISED))


def _employed(h: int) -> Condition:
    return lambda f: sa.and_(_answered(h)(f), f["situation"] == "emploi")


def _jobseeker(condition: Condition) -> Condition:
    return lambda f: sa.and_(condition(f), f.candidacy.c.status == "demandeur_emploi")


def _paid(h: int) -> Condition:
    return lambda f: sa.and_(_employed(h)(f), f["gross_monthly_pay"].is_not(None))


def insertion(h: int) -> tuple[Indicator, ...]:
    """The survey's indicators at ``h`` months (DOMAIN.md, « Insertion of holders »): one
    entry each, the same definitions at 6 and 24 months."""
    at = f"{h} mois"
    at_en = f"{h} months"
    return (
        Count(f"insertion_surveyed_{h}m", "insertion", f"Titulaires enquêtés à {at}",
              f"Holders surveyed at {at_en}",
              f"Titulaires de la promotion ayant une ligne d'enquête à {at}.", _surveyed(h),
              description_en=f"Holders of the promotion with a survey row at {at_en}."),
        Count(f"insertion_respondents_{h}m", "insertion", f"Répondants à {at}",
              f"Respondents at {at_en}",
              f"Titulaires enquêtés à {at} qui ont répondu.", _answered(h),
              description_en=f"Holders surveyed at {at_en} who answered."),
        rate(f"insertion_response_rate_{h}m", f"insertion_respondents_{h}m",
             f"insertion_surveyed_{h}m", f"Taux de réponse à {at}", f"Response rate at {at_en}",
             "Répondants / titulaires enquêtés.",
             description_en="Respondents / holders surveyed."),
        Count(f"insertion_neutralised_{h}m", "insertion", f"Répondants neutralisés à {at}",
              f"Neutralised respondents at {at_en}",
              f"Répondants à {at} en formation (poursuite d'études) ou en incapacité : "
              "exclus du numérateur et du dénominateur des taux (règle de France "
              "compétences).",
              lambda f, h=h: sa.and_(_answered(h)(f), f["situation"].in_(NEUTRALISED)),
              description_en=f"Respondents at {at_en} in further study or unable to work: "
                             "left out of the rates' numerator and denominator (the rule of "
                             "the national certification authority)."),
        Count(f"insertion_counted_{h}m", "insertion", f"Répondants comptés à {at}",
              f"Counted respondents at {at_en}",
              f"Répondants à {at} moins les neutralisés : le dénominateur des taux "
              "d'insertion.", _counted(h),
              description_en=f"Respondents at {at_en} but the neutralised: the insertion "
                             "rates' denominator."),
        Count(f"insertion_employed_{h}m", "insertion", f"En emploi à {at}",
              f"In employment at {at_en}", f"Répondants à {at} en emploi.", _employed(h),
              description_en=f"Respondents at {at_en} in employment."),
        rate(f"employment_rate_{h}m", f"insertion_employed_{h}m", f"insertion_counted_{h}m",
             f"Taux d'emploi à {at}", f"Employment rate at {at_en}",
             "En emploi / (répondants − neutralisés).",
             description_en="In employment / (respondents − neutralised)."),
        Count(f"insertion_target_job_{h}m", "insertion", f"Dans le métier visé à {at}",
              f"In the targeted occupation at {at_en}",
              f"Répondants à {at} en emploi dans le métier visé par le CQP.",
              lambda f, h=h: sa.and_(_employed(h)(f), f["in_target_job"]),
              description_en=f"Respondents at {at_en} employed in the occupation the CQP "
                             "targets."),
        rate(f"target_job_rate_{h}m", f"insertion_target_job_{h}m", f"insertion_counted_{h}m",
             f"Taux d'emploi dans le métier visé à {at}",
             f"Targeted-occupation rate at {at_en}",
             "En emploi dans le métier visé / (répondants − neutralisés).",
             description_en="In the targeted occupation / (respondents − neutralised)."),
        Count(f"insertion_jobseekers_counted_{h}m", "insertion",
              f"Anciens demandeurs d'emploi comptés à {at}",
              f"Former job seekers counted at {at_en}",
              f"Répondants comptés à {at} dont la candidature a commencé en tant que "
              "demandeur d'emploi (statut à l'entrée).", _jobseeker(_counted(h)),
              description_en=f"Counted respondents at {at_en} whose candidacy began as a job "
                             "seeker (status at entry)."),
        Count(f"insertion_jobseekers_employed_{h}m", "insertion",
              f"Anciens demandeurs d'emploi en emploi à {at}",
              f"Former job seekers in employment at {at_en}",
              f"Parmi eux, ceux en emploi à {at}.", _jobseeker(_employed(h)),
              description_en=f"Among them, those in employment at {at_en}."),
        rate(f"return_to_work_rate_{h}m", f"insertion_jobseekers_employed_{h}m",
             f"insertion_jobseekers_counted_{h}m", f"Taux de retour à l'emploi à {at}",
             f"Return-to-work rate at {at_en}",
             "Anciens demandeurs d'emploi en emploi / anciens demandeurs d'emploi comptés.",
             description_en="Former job seekers in employment / former job seekers counted."),
        Count(f"insertion_paid_{h}m", "insertion", f"Salaires déclarés à {at}",
              f"Pays given at {at_en}",
              f"Répondants en emploi à {at} qui ont donné leur salaire brut mensuel.",
              _paid(h),
              description_en=f"Respondents in employment at {at_en} who gave their gross "
                             "monthly pay."),
        PayMedian(f"pay_median_{h}m", "insertion", f"Salaire brut médian à {at}",
                  f"Median gross pay at {at_en}",
                  f"Médiane du salaire brut mensuel (euros) des répondants en emploi à {at} qui "
                  "l'ont donné (moyenne des deux valeurs du milieu pour un nombre pair).",
                  value=lambda f, h=h: sa.case((_paid(h)(f), f["gross_monthly_pay"])),
                  base=f"insertion_paid_{h}m",
                  description_en=f"Median gross monthly pay (euros) of the respondents in "
                                 f"employment at {at_en} who gave it (the mean of the two "
                                 "middle values for an even count)."),
    )


def adjusted(name: str, numerator: str, label_fr: str, label_en: str) -> RakedRate:
    """A 6-month rate corrected for non-response (respondents raked to the surveyed)."""
    return RakedRate(
        name, "", label_fr, label_en,
        "Même taux, corrigé de la non-réponse : répondants pondérés par calage (raking, "
        "ajustement proportionnel itératif) sur les marges des titulaires enquêtés (CQP, voie "
        "d'accès, sexe, tranche d'âge), calculé sur les effectifs agrégés ; intervalle de "
        "Wilson sur la taille effective de Kish.",
        numerator=numerator, denominator="insertion_counted_6m",
        respondents="insertion_respondents_6m", population="insertion_surveyed_6m",
        description_en="The same rate corrected for non-response: respondents weighted by "
                       "raking (iterative proportional fitting) to the surveyed holders' "
                       "margins (CQP, pathway, sex, age band), computed on aggregated "
                       "counts; Wilson interval on Kish's effective size.")


REGISTRY: tuple[Indicator, ...] = (
    Count("enrolments", "candidacy", "Entrées en parcours", "Enrolments",
          "Candidatures entrées dans la période (entered_on).",
          description_en="Candidacies that entered a pathway in the period (entered_on)."),
    Count("juries", "jury", "Présentés au jury", "Jury decisions",
          "Décisions de jury (totale, partielle, refus) dans la période ; absences exclues.",
          parts=("full", "partial", "refused"),
          description_en="Jury decisions (full, partial, refusal) in the period; absences "
                         "excluded."),
    Count("full", "jury", "Validations totales", "Full validations",
          "Décisions de validation totale dans la période.", _decision("full"),
          description_en="Full validation decisions in the period."),
    Count("partial", "jury", "Validations partielles", "Partial validations",
          "Décisions de validation partielle dans la période.", _decision("partial"),
          description_en="Partial validation decisions in the period."),
    Count("refused", "jury", "Refus", "Refusals", "Décisions de refus dans la période.",
          _decision("refused"),
          description_en="Refusal decisions in the period."),
    rate("full_rate", "full", "juries", "Taux de validation totale", "Full validation rate",
         "Validations totales / présentés au jury.",
         description_en="Full validations / jury decisions."),
    rate("partial_rate", "partial", "juries", "Taux de validation partielle",
         "Partial validation rate", "Validations partielles / présentés au jury.",
         description_en="Partial validations / jury decisions."),
    rate("refusal_rate", "refused", "juries", "Taux de refus", "Refusal rate",
         "Refus / présentés au jury.",
         description_en="Refusals / jury decisions."),
    Count("vae_enrolments", "candidacy", "Entrées en VAE", "VAE enrolments",
          "Candidatures VAE entrées dans la période.", _vae,
          restricts=("enrolments", "pathway", "vae"),
          description_en="VAE candidacies that entered in the period."),
    Count("vae_admissible", "candidacy", "VAE recevables", "Admissible VAE candidacies",
          "Candidatures VAE entrées dans la période et déclarées recevables (admissible_on).",
          lambda f: sa.and_(_vae(f), f.candidacy.c.admissible_on.is_not(None)),
          description_en="VAE candidacies that entered in the period and were declared "
                         "admissible (admissible_on)."),
    Count("vae_cohort_juried", "candidacy", "VAE recevables présentés au jury (cohorte)",
          "Admissible VAE candidacies with a jury decision (cohort)",
          "Parmi les candidatures VAE entrées dans la période et recevables, celles qui ont eu "
          "au moins une décision de jury (totale, partielle ou refus), à la date d'arrêt des "
          "données.",
          lambda f: sa.and_(_vae(f), f.candidacy.c.admissible_on.is_not(None),
                            f["has_decision"]),
          description_en="Among the VAE candidacies that entered in the period and were "
                         "admissible, those with at least one jury decision (full, partial or "
                         "refusal), as of the data cut."),
    Count("vae_cohort_full", "candidacy", "VAE certifiés (cohorte)",
          "Fully validated VAE candidacies (cohort)",
          "Parmi elles, celles qui ont obtenu la validation totale, à la date d'arrêt des "
          "données.",
          lambda f: sa.and_(_vae(f), f.candidacy.c.admissible_on.is_not(None),
                            f["has_decision"], f["has_full"]),
          description_en="Among them, those that obtained full validation, as of the data "
                         "cut."),
    rate("vae_admissibility_rate", "vae_admissible", "vae_enrolments", "Taux de recevabilité VAE",
         "VAE admissibility rate", "VAE recevables / entrées en VAE.",
         description_en="Admissible VAE candidacies / VAE enrolments."),
    Count("vae_juries", "jury", "Présentés au jury (VAE)", "VAE jury decisions",
          "Décisions de jury dans la période, voie VAE.", _vae,
          restricts=("juries", "pathway", "vae"),
          description_en="Jury decisions in the period, VAE pathway."),
    Count("vae_full", "jury", "Validations totales (VAE)", "VAE full validations",
          "Validations totales dans la période, voie VAE.",
          lambda f: sa.and_(_vae(f), f["decision"] == "full"),
          restricts=("full", "pathway", "vae"),
          description_en="Full validations in the period, VAE pathway."),
    rate("vae_success_rate", "vae_full", "vae_juries", "Taux de réussite VAE", "VAE success rate",
         "Validations totales VAE / présentés au jury VAE.",
         description_en="VAE full validations / VAE jury decisions."),
    Count("withdrawals", "candidacy", "Abandons", "Withdrawals",
          "Candidatures entrées dans la période, abandonnées (withdrawn_on) sans décision de jury.",
          lambda f: sa.and_(f.candidacy.c.withdrawn_on.is_not(None), ~f["has_decision"]),
          description_en="Candidacies that entered in the period and withdrew (withdrawn_on) "
                         "without a jury decision."),
    rate("withdrawal_rate", "withdrawals", "enrolments", "Taux d'abandon", "Withdrawal rate",
         "Abandons / entrées en parcours.",
         description_en="Withdrawals / enrolments."),
    Count("partial_candidacies", "first_partial", "Candidats en validation partielle",
          "Candidacies with a first partial validation",
          "Candidatures dont la première validation partielle tombe dans la période.",
          description_en="Candidacies whose first partial validation falls in the period."),
    Count("partial_completed", "first_partial", "Validations partielles complétées",
          "Completed partial validations",
          "Parmi elles, celles qui obtiennent ensuite une validation totale.",
          lambda f: f["completed"],
          description_en="Among them, those that then obtain full validation."),
    rate("partial_completion_rate", "partial_completed", "partial_candidacies",
         "Taux de complétion des validations partielles", "Partial completion rate",
         "Validations partielles complétées / candidats en validation partielle.",
         description_en="Completed partial validations / candidacies with a first partial "
                        "validation."),
    KaplanMeier("partial_completion_12m_km", "first_partial",
                "Complétion à 12 mois (Kaplan–Meier)", "Completion within 12 months (Kaplan–Meier)",
                "Part estimée des candidats en validation partielle qui obtiennent la validation "
                "totale dans les 365 jours suivant la première partielle, en tenant compte de "
                "ceux qui n'ont pas encore eu ce temps (estimateur de Kaplan–Meier).",
                cohort="partial_candidacies", horizon=365,
                description_en="Estimated share of the candidacies with a partial validation "
                               "that obtain full validation within 365 days of the first "
                               "partial one, taking into account those that have not had that "
                               "time yet (Kaplan–Meier estimator)."),
    KaplanMeier("partial_completion_24m_km", "first_partial",
                "Complétion à 24 mois (Kaplan–Meier)", "Completion within 24 months (Kaplan–Meier)",
                "Même estimation à 730 jours de la première validation partielle.",
                cohort="partial_candidacies", horizon=730,
                description_en="The same estimate at 730 days from the first partial "
                               "validation."),
    Count("first_juries", "first_jury", "Premiers passages en jury", "First jury decisions",
          "Candidatures dont la première décision de jury (totale, partielle, refus) tombe dans "
          "la période.",
          description_en="Candidacies whose first jury decision (full, partial, refusal) "
                         "falls in the period."),
    Median("days_to_first_jury_median", "first_jury", "Délai médian entrée → premier jury",
           "Median time from entry to first jury",
           "Médiane, sur ces candidatures, du nombre de jours entre l'entrée en parcours et la "
           "première décision de jury (présenté en mois).",
           value=lambda f: f["days"], base="first_juries",
           description_en="Median, over these candidacies, of the days between entering the "
                          "pathway and the first jury decision (shown in months)."),
    Count("certified", "jury", "Certifiés", "Certified",
          "Certificats délivrés : validations totales de la période.", _decision("full"),
          equals="full",
          description_en="Certificates awarded: full validations of the period."),
    Count("certified_rncp", "jury", "Certifiés avec reconnaissance nationale",
          "Certified with national recognition",
          "Validations totales dont le jury tombe dans une fenêtre d'enregistrement RNCP ou RS.",
          lambda f: sa.and_(f["decision"] == "full", f["in_registration"]),
          description_en="Full validations whose jury falls in an RNCP or RS registration "
                         "window."),
    rate("recognition_rate", "certified_rncp", "certified", "Taux de reconnaissance nationale",
         "Recognition rate", "Certifiés avec reconnaissance RNCP/RS / certifiés.",
         description_en="Certified with RNCP/RS recognition / certified."),
    Count("cqps_active", "activity", "CQP actifs", "Active CQPs",
          "CQP ayant au moins une entrée ou une décision de jury dans la période.",
          distinct="cqp_code", secret=False,
          description_en="CQPs with at least one enrolment or jury decision in the period."),
    Count("cqps_registered", "activity", "CQP actifs enregistrés", "Active registered CQPs",
          "CQP actifs enregistrés au RNCP ou au RS le dernier jour de la période.",
          lambda f: f["registered_at_end"], distinct="cqp_code", secret=False,
          description_en="Active CQPs registered in the RNCP or the RS on the last day of the "
                         "period."),
    rate("rncp_coverage", "cqps_registered", "cqps_active", "Couverture RNCP/RS",
         "RNCP/RS coverage",
         "CQP actifs enregistrés le dernier jour de la période / CQP actifs.", secret=False,
         description_en="Active CQPs registered on the last day of the period / active CQPs."),
    Count("block_results", "block_result", "Résultats de blocs", "Block results",
          "Résultats de blocs de compétences évalués par un jury dans la période.",
          description_en="Competence-block results assessed by a jury in the period."),
    Count("blocks_acquired", "block_result", "Blocs acquis", "Blocks acquired",
          "Résultats de blocs acquis.", lambda f: f["acquired"],
          description_en="Block results acquired."),
    rate("block_pass_rate", "blocks_acquired", "block_results", "Taux d'acquisition des blocs",
         "Block pass rate", "Blocs acquis / résultats de blocs (par bloc avec --by block_code).",
         description_en="Blocks acquired / block results (per block with --by block_code)."),
    Count("holders", "holder", "Titulaires (promotion)", "Holders (promotion)",
          "Candidatures dont la validation totale tombe dans la période : la promotion.",
          description_en="Candidacies whose full validation falls in the period: the "
                         "promotion."),
    *insertion(6),
    adjusted("employment_rate_6m_adjusted", "insertion_employed_6m",
             "Taux d'emploi à 6 mois (corrigé de la non-réponse)",
             "Employment rate at 6 months (corrected for non-response)"),
    adjusted("target_job_rate_6m_adjusted", "insertion_target_job_6m",
             "Taux d'emploi dans le métier visé à 6 mois (corrigé de la non-réponse)",
             "Targeted-occupation rate at 6 months (corrected for non-response)"),
    *insertion(24),
)

BY_NAME: dict[str, Indicator] = {entry.name: entry for entry in REGISTRY}
#: The counts (the secret is decided on them); every other kind is reached through BY_NAME.
COUNTS = {e.name: e for e in REGISTRY if isinstance(e, Count)}
#: The rates (numerator / denominator), for readers that need their two terms.
RATES = {e.name: e for e in REGISTRY if isinstance(e, Rate)}


def fact_of(name: str) -> str:
    """The fact an indicator reads (a rate: its numerator's)."""
    entry = BY_NAME[name]
    return entry.fact or fact_of(entry.terms()[0])


def family(names: list[str]) -> list[str]:
    """The counts under secret that share a fact with ``names``, in registry order.

    The secret of one cell depends on every count of its fact (sums, equal counts, rates), so
    it is always decided on the whole family: a cell gets the same fate whichever indicators a
    request names.
    """
    facts = {COUNTS[n].fact for n in names if COUNTS[n].secret}
    return [c.name for c in COUNTS.values() if c.secret and c.fact in facts]


def owner(column: str) -> Indicator | None:
    """The indicator a published column belongs to (``full_rate_low`` -> ``full_rate``)."""
    if column in BY_NAME:
        return BY_NAME[column]
    for entry in REGISTRY:
        if column.startswith(entry.name + "_") and column in (*entry.columns(),
                                                                *entry.change_columns()):
            return entry
    return None


def label(name: str, language: str = "fr") -> str:
    """The label of an indicator, of one of its columns, or of a dimension."""
    entry = owner(name)
    if entry is not None:
        return entry.column_label(name, language)
    from .dimensions import DIMENSIONS

    dim = DIMENSIONS.get(name)
    if dim is None:
        return name
    return dim.label_fr if language == "fr" else dim.label_en
