"""The RNCP renewal file: the analysis of promotions France compétences asks for when a CQP's
registration is renewed (``cqp-metrics dossier-rncp``).

Per promotion (the year of the full validation) and pathway, with a row for both pathways
together: holders, surveyed, respondents, neutralised, in work, in the targeted occupation,
the rates at 6 months (and 24 where known) with their intervals, the rate corrected for
non-response, the return to work of job seekers and the median pay; then the contracts of
those in work. The figures are **exact** (no statistical secret): the file goes to the
regulator, not to the public, and its first line says so; the command is audited like a
download. Every count comes from the database (:func:`cqp_metrics.api.compute`).
"""

from __future__ import annotations

import datetime as dt
import html
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import sqlalchemy as sa
from openpyxl import Workbook
from openpyxl.styles import Alignment, Font

from . import schema
from .api import TOTAL, compute
from .codes import CONTRACT_LABELS
from .formatting import fr_int, fr_pct
from .period import data_cut, fr_date
from .registry import BY_NAME, label
from .render import safe_cell

#: The first line of every renewal file.
EXACT = ("Chiffres exacts, non soumis au secret statistique : document destiné à France "
         "compétences pour le renouvellement de l'enregistrement, à ne pas diffuser.")
PATHWAYS = {"formation": "Formation", "vae": "VAE", TOTAL: "Ensemble"}


class DossierError(ValueError):
    """The renewal file cannot be made: unknown CQP, no promotion, a bad list."""


@dataclass
class Dossier:
    """What a renewal file holds, in French: its heading lines and its tables."""

    cqp: str
    title: str
    promotions: list[int]
    heading: list[tuple[str, str]]
    promotions_table: pd.DataFrame
    contracts_table: pd.DataFrame
    definitions: list[tuple[str, str]]


def complete_promotions(cut: dt.date | None, years: list[int]) -> list[int]:
    """The promotions whose 6-month survey is complete by the data cut: the holders of year
    Y are all six months past their validation on 30 June of Y + 1."""
    if cut is None:
        return []
    return [y for y in years if cut >= dt.date(y + 1, 6, 30)]


def _horizon(h: int) -> list[str]:
    return [f"insertion_surveyed_{h}m", f"insertion_respondents_{h}m",
            f"insertion_response_rate_{h}m", f"insertion_neutralised_{h}m",
            f"insertion_employed_{h}m", f"insertion_target_job_{h}m", f"employment_rate_{h}m",
            f"target_job_rate_{h}m", f"return_to_work_rate_{h}m", f"pay_median_{h}m"]


def build(engine: sa.Engine, cqp: str, promotions: list[int] | None = None) -> Dossier:
    """The renewal file of ``cqp`` for ``promotions`` (default: the last two complete)."""
    with engine.connect() as connection:
        title = connection.execute(sa.select(schema.certification.c.title).where(
            schema.certification.c.cqp_code == cqp)).scalar()
        if title is None:
            raise DossierError(f"CQP inconnu : « {cqp} »")
        cut = data_cut(connection)
        windows = connection.execute(sa.select(
            schema.registration.c.rncp_code, schema.registration.c.valid_from,
            schema.registration.c.valid_until).where(schema.registration.c.cqp_code == cqp)
            .order_by(schema.registration.c.valid_from)).all()
    where = {"cqp_code": [cqp]}
    years = compute(engine, ["holders"], ["year"], where, secret=False).values
    with_holders = [int(y) for y, n in zip(years["year"], years["holders"], strict=True) if n]
    if promotions is None:
        promotions = complete_promotions(cut, with_holders)[-2:]
        if not promotions:
            raise DossierError(f"aucune promotion complète de {cqp} (une promotion l'est six "
                               "mois après la fin de son année, à la date d'arrêt des données)")
    missing = [y for y in promotions if y not in with_holders]
    if missing:
        raise DossierError(f"aucun titulaire de {cqp} en " + ", ".join(map(str, missing)))
    names = ["holders", *_horizon(6), "employment_rate_6m_adjusted",
             "target_job_rate_6m_adjusted", *_horizon(24)]
    span = (min(promotions), max(promotions))
    table = compute(engine, names, ["year", "pathway"], where, span, secret=False, totals=True)
    rows = table.values[table.values["year"].isin(promotions)]
    contracts = compute(engine, ["insertion_employed_6m", "insertion_employed_24m"],
                        ["year", "contract"], where, span, secret=False).values
    heading = [("CQP", f"{cqp} — {title}"),
               ("Enregistrements", "; ".join(
                   f"{code} du {fr_date(start) if start else '…'} au "
                   f"{fr_date(end) if end else '…'}" for code, start, end in windows)
                or "aucun"),
               ("Promotions", ", ".join(map(str, promotions))),
               ("Données au", fr_date(cut) if cut else "inconnue"),
               ("Établi le", dt.date.today().strftime("%d/%m/%Y"))]
    definitions = [(label(n), _definition(n)) for n in dict.fromkeys(
        ["holders", "insertion_neutralised_6m", "employment_rate_6m", "target_job_rate_6m",
         "employment_rate_6m_adjusted", "return_to_work_rate_6m", "pay_median_6m"])]
    return Dossier(cqp, title, list(promotions), heading, _promotions(rows),
                   _contracts(contracts, promotions), definitions)


def _definition(name: str) -> str:
    return BY_NAME[name].description


def _rate(row: pd.Series, name: str) -> str:
    value = row[name]
    if pd.isna(value):
        return ""
    return f"{fr_pct(value)} [{fr_pct(row[f'{name}_low'])} – {fr_pct(row[f'{name}_high'])}]"


def _promotions(rows: pd.DataFrame) -> pd.DataFrame:
    """One line per promotion and pathway (and both together), the 6-month figures, then
    the 24-month ones where the promotion has them."""
    out = []
    for _, row in rows.iterrows():
        line = {"Promotion": int(row["year"]),
                "Voie d'accès": PATHWAYS.get(row["pathway"], row["pathway"] or "non renseignée"),
                "Titulaires": int(row["holders"])}
        for h in (6, 24):
            at = f" à {h} mois"
            if h == 24 and not row["insertion_surveyed_24m"]:
                continue
            line.update({
                f"Enquêtés{at}": int(row[f"insertion_surveyed_{h}m"]),
                f"Répondants{at}": int(row[f"insertion_respondents_{h}m"]),
                f"Taux de réponse{at}": fr_pct(row[f"insertion_response_rate_{h}m"]),
                f"Neutralisés{at}": int(row[f"insertion_neutralised_{h}m"]),
                f"En emploi{at}": int(row[f"insertion_employed_{h}m"]),
                f"Dans le métier visé{at}": int(row[f"insertion_target_job_{h}m"]),
                f"Taux d'emploi{at}": _rate(row, f"employment_rate_{h}m"),
                f"Taux dans le métier visé{at}": _rate(row, f"target_job_rate_{h}m"),
                f"Retour à l'emploi des demandeurs d'emploi{at}":
                    _rate(row, f"return_to_work_rate_{h}m"),
                f"Salaire brut médian{at}": label_pay(row[f"pay_median_{h}m"]),
            })
            if h == 6:
                line["Taux d'emploi corrigé de la non-réponse à 6 mois"] = _rate(
                    row, "employment_rate_6m_adjusted")
                line["Taux dans le métier visé corrigé à 6 mois"] = _rate(
                    row, "target_job_rate_6m_adjusted")
        out.append(line)
    return pd.DataFrame(out).astype(object).fillna("")


def label_pay(value: object) -> str:
    return "" if value is None or pd.isna(value) else f"{fr_int(round(float(value)))} €"


def _contracts(frame: pd.DataFrame, promotions: list[int]) -> pd.DataFrame:
    """Those in work by contract, each promotion and horizon: count and share."""
    out = []
    frame = frame[frame["year"].isin(promotions)]
    for h in (6, 24):
        name = f"insertion_employed_{h}m"
        for year, group in frame.groupby("year"):
            group = group[group["contract"].notna()]
            total = group[name].sum()
            if not total:
                continue
            for _, row in group.iterrows():
                out.append({"Promotion": int(year), "Horizon": f"{h} mois",
                            "Contrat": CONTRACT_LABELS.get(row["contract"], row["contract"]),
                            "En emploi": int(row[name]),
                            "Part": fr_pct(row[name] / total)})
    return pd.DataFrame(out, columns=["Promotion", "Horizon", "Contrat", "En emploi", "Part"])


def write_xlsx(dossier: Dossier, path: Path) -> None:
    """The file as a workbook: the exact figures' warning first, its heading, the table by
    promotion and pathway; the contracts and the definitions on sheets of their own."""
    book = Workbook()
    sheet = book.active
    sheet.title = "promotions"
    sheet.append([EXACT])
    sheet["A1"].font = Font(bold=True, color="9C0006")
    for key, value in dossier.heading:
        sheet.append([key, safe_cell(value)])
    sheet.append([])
    _append(sheet, dossier.promotions_table)
    contracts = book.create_sheet("contrats")
    contracts.append([EXACT])
    _append(contracts, dossier.contracts_table)
    words = book.create_sheet("définitions")
    words.append([EXACT])
    for key, value in dossier.definitions:
        words.append([key, value])
    for ws in book.worksheets:
        ws.column_dimensions["A"].width = 28
        for column in "BCDEFGHIJKLMNOPQRSTUVWXYZ":
            ws.column_dimensions[column].width = 18
    book.save(path)


def _append(sheet, frame: pd.DataFrame) -> None:
    header = sheet.max_row + 1
    sheet.append(list(frame.columns))
    for cell in sheet[header]:
        cell.font = Font(bold=True)
        cell.alignment = Alignment(wrap_text=True, vertical="top")
    for row in frame.itertuples(index=False, name=None):
        sheet.append([safe_cell(v) for v in row])


def to_html(dossier: Dossier) -> str:
    """The file as one self-contained HTML page (printed to PDF by chromium)."""
    def table(frame: pd.DataFrame) -> str:
        head = "".join(f"<th>{html.escape(str(c))}</th>" for c in frame.columns)
        body = "".join("<tr>" + "".join(
            f"<td>{html.escape(fr_int(v) if isinstance(v, int) and c != 'Promotion' else str(v))}"
            "</td>" for c, v in zip(frame.columns, row, strict=True)) + "</tr>"
            for row in frame.itertuples(index=False, name=None))
        return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    # the long table by promotion read down: one table per horizon's columns
    frame = dossier.promotions_table
    first = [c for c in frame.columns if "24 mois" not in c]
    later = ["Promotion", "Voie d'accès", *[c for c in frame.columns if "24 mois" in c]]
    heading = "".join(f"<tr><th>{html.escape(k)}</th><td>{html.escape(v)}</td></tr>"
                      for k, v in dossier.heading)
    words = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>"
                    for k, v in dossier.definitions)
    parts = [f'<p class="exact">{html.escape(EXACT)}</p>',
             f"<h1>Dossier de renouvellement — {html.escape(dossier.cqp)}</h1>",
             f'<table class="heading">{heading}</table>',
             "<h2>Insertion à 6 mois, par promotion et voie d'accès</h2>",
             table(frame[first])]
    if len(later) > 2:
        parts += ["<h2>Insertion à 24 mois</h2>", table(frame[later])]
    parts += ["<h2>Contrats des titulaires en emploi</h2>", table(dossier.contracts_table),
              f"<h2>Définitions</h2><dl>{words}</dl>"]
    style = ("body{font:10px 'DejaVu Sans',sans-serif;margin:0}"
             ".exact{font-weight:bold;color:#9c0006;border:1px solid #9c0006;padding:4px}"
             "table{border-collapse:collapse;margin:6px 0}th,td{border:1px solid #bbb;"
             "padding:2px 4px;vertical-align:top}th{background:#eef2f6}"
             "td{white-space:nowrap}h1{font-size:16px}h2{font-size:13px}"
             "@page{size:A4 landscape;margin:12mm}")
    return (f'<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">'
            f"<title>Dossier RNCP {html.escape(dossier.cqp)}</title><style>{style}</style>"
            f"</head><body>{''.join(parts)}</body></html>")
