"""Write the notebooks of this folder from their cells (keeps them reviewable as Python), then
run them on the demo database and save their outputs, so that they read as shipped.

    .venv/bin/python notebooks/build_notebooks.py            # write and run (make notebooks)
    .venv/bin/python notebooks/build_notebooks.py --no-run   # write only

The CQP under review and the branch are parameters (a cell tagged ``parameters`` at the top):
papermill and the ``panel serve`` of a notebook can set them without editing the code, e.g.
``papermill 03_revue_referentiel_cpne.ipynb sortie.ipynb -p CQP CQP-MET-TU``.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: The demo the saved outputs show: the database ``make serve`` builds (same size and seed).
DEMO_CANDIDACIES, DEMO_SEED = 20_000, 2024


def parameters(text: str):
    """The notebook's parameters cell (papermill looks for the ``parameters`` tag)."""
    return new_code_cell(text, metadata={"tags": ["parameters"]})


def cell(text: str, tag: str | None = None):
    return new_code_cell(text, metadata={"tags": [tag]} if tag else {})


SETUP = """import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()))
from cqp_metrics import compute, make_engine
from cqp_metrics.render import french_frame
from dashboards import asks
from dashboards.static import Chart

# La base : $CQP_DB, sinon data/cqp.duckdb (``make serve`` ou ``cqp-metrics demo`` la crée).
engine = make_engine(read_only=True, hold_file=False)
# Les requêtes des pages du tableau de bord (dashboards.asks) : les mêmes chiffres qu'elles.
ask, answer = asks.asking(engine)"""

INTERVALS = (
    "**Lire un écart.** Chaque taux porte son intervalle de confiance à 95 % (Wilson). Pour "
    "savoir si deux taux diffèrent, on ne regarde pas si leurs intervalles se recouvrent (deux "
    "intervalles peuvent se recouvrir alors que l'écart est réel) : on lit l'intervalle "
    "**de l'écart** lui-même (Newcombe). S'il exclut 0, l'écart dépasse l'incertitude "
    "(« significatif ») ; sinon il reste « dans la marge d'incertitude ».")

TOUR = [
    new_markdown_cell(
        "# Tour des indicateurs CQP\n\nLes indicateurs de la branche calculés dans la base "
        "(aucune ligne de candidature n'est lue ici), avec leurs intervalles de confiance et "
        "sous secret statistique. Les paramètres ci-dessous choisissent la branche et la "
        "période ; `papermill` peut les fixer sans toucher au code."),
    parameters('BRANCHE = "0016"  # code IDCC de la branche, ou None pour toutes\n'
               "DE, A = 2019, 2025  # première et dernière année"),
    cell(SETUP + "\n\nfiltre = {'branch_code': [BRANCHE]} if BRANCHE else {}"),
    new_markdown_cell("## Les indicateurs, déclarés une fois dans le registre"),
    cell("import pandas as pd\nfrom cqp_metrics.explain import explain\nfrom "
         "cqp_metrics.registry import REGISTRY\n\npd.DataFrame([(e.label_fr, "
         "explain(e.name).nature, e.description, e.name) for e in REGISTRY],\n"
         "             columns=['Indicateur', 'Nature', 'Définition', 'Nom dans les "
         "exports'])"),
    new_markdown_cell("## Par année, sous secret statistique\n\nChaque effectif est exact "
                      "à 2 personnes près (méthode des clés de cellule) et les mêmes "
                      "personnes donnent toujours le même chiffre, quel que soit le tableau ; "
                      "les cases masquées se lisent « secret » ; l'année en cours, "
                      "incomplète, est signalée."),
    cell("# la requête de la Vue d'ensemble : ses chiffres clés par année\n"
         "par_annee = answer(asks.overview(ask, filtre, (DE, A)), changes=True)\n"
         "french_frame(par_annee)"),
    cell("from dashboards.charts import drawn\nfrom dashboards.charts.count_trend import "
         "CountTrendFigure\nfrom dashboards.charts.rate_trend import RateTrendFigure\n\n"
         "Chart(drawn(CountTrendFigure(['enrolments', 'juries']), par_annee),\n"
         "      'Entrées en formation et présentés au jury par année')", "chart"),
    cell("Chart(drawn(RateTrendFigure('full_rate'), par_annee),\n"
         "      'Taux de validation totale par année, avec son intervalle à 95 %')", "chart"),
    new_markdown_cell(INTERVALS + "\n\nLa colonne « évolution » ci-dessus compare chaque "
                      "année à la précédente de cette façon."),
    new_markdown_cell("## Découpages\n\nUne CQPI compte dans chacune de ses branches : les "
                      "totaux par branche ne s'additionnent pas. Une ligne de total est "
                      "publiée pour elle-même : elle peut différer de quelques unités de la "
                      "somme des lignes."),
    cell("table = compute(engine, by=['branch_code', 'pathway'], years=(A - 1, A), "
         "totals=True,\n                names=['juries', 'full', 'partial', 'refused', "
         "'full_rate'])\nfrench_frame(table)"),
    cell("print(table.rule.describe())\nprint('Cases masquées :', "
         "int(table.hidden.to_numpy().sum()))"),
    new_markdown_cell("## Pour un tableur\n\n`analyst_csv` écrit des nombres (taux, bornes "
                      "en colonnes, virgule décimale, `;`) que LibreOffice et Excel calculent."),
    cell("from cqp_metrics.render import analyst_csv\n\ntexte = analyst_csv(par_annee, "
         "[]).decode('utf-8-sig')\nprint('\\n'.join(texte.splitlines()[:3]))"),
]

DASHBOARD = [
    new_markdown_cell("# Le tableau de bord dans le notebook\n\nLes mêmes vues que "
                      "`panel serve dashboards/app.py`. Ce notebook se sert aussi tel quel : "
                      "`panel serve notebooks/02_tableau_de_bord.ipynb`. Ses figures sont "
                      "interactives : exécutez-le pour les voir."),
    cell("import sys\nfrom pathlib import Path\n\nsys.path.insert(0, "
         "str(Path.cwd().parent if Path.cwd().name == 'notebooks' else "
         "Path.cwd()))\nfrom dashboards.observatory import ObservatoryApp, "
         "extension\n\nextension()\napp = ObservatoryApp()"),
    cell("app.servable()"),
]

CPNE = [
    new_markdown_cell(
        "# Revue d'un référentiel pour la CPNE\n\nAvant une réunion de CPNE : volumes et "
        "résultats d'un CQP, blocs de compétences par version du référentiel, organismes, "
        "enregistrements RNCP/RS. Le CQP examiné est un paramètre (cellule ci-dessous) : "
        "`papermill 03_revue_referentiel_cpne.ipynb revue.ipynb -p CQP CQP-MET-TU`."),
    parameters('CQP = "CQP-TR-CR"  # code du CQP examiné\n'
               "DE, A = 2019, 2025  # première et dernière année"),
    cell(SETUP + """
import pandas as pd
from cqp_metrics.catalogue import certifications, registrations

with engine.connect() as connection:
    catalogue = certifications(connection)
    enregistrements = registrations(connection)
if CQP not in set(catalogue['cqp_code']):
    raise ValueError(f"CQP inconnu : {CQP!r}. Codes présents : "
                     + ", ".join(sorted(catalogue['cqp_code'])))
fiche = catalogue[catalogue['cqp_code'] == CQP].iloc[0]
print(f"{fiche['cqp_code']} — {fiche['title']} (branches {fiche['branch_codes']})")"""),
    new_markdown_cell("## Volumes et taux par année"),
    cell("# les requêtes de la page Fiche CQP pour ce CQP : par année, blocs, organismes\n"
         "fiche_cqp = asks.sheet(ask, {}, (DE, A), CQP)\n"
         "par_annee = answer(fiche_cqp['sheet'], changes=True)\nfrench_frame(par_annee)"),
    cell("from dashboards.charts import drawn\nfrom dashboards.charts.rate_trend import "
         "RateTrendFigure\n\nChart(drawn(RateTrendFigure('full_rate'), par_annee),\n"
         "      f'{CQP} : taux de validation totale par année, intervalle à 95 %')", "chart"),
    new_markdown_cell("## Blocs de compétences par version du référentiel\n\n" + INTERVALS),
    cell("from cqp_metrics.render import version_changes\nfrom dashboards.charts.blocks "
         "import blocks_figure\n\nblocs = answer(fiche_cqp['blocks'])\n"
         "visibles = blocs.masked().dropna(subset=['block_pass_rate'])\n"
         "french_frame(blocs)"),
    cell("Chart(blocks_figure(visibles), f'{CQP} : taux d\\'acquisition de chaque bloc par "
         "version')", "chart"),
    cell("version_changes(visibles)"),
    new_markdown_cell(
        "## Organismes de formation\n\nGraphique en entonnoir : chaque organisme selon son "
        "nombre de présentés au jury ; les limites tiretées (95 %) et pointillées (99,8 %) "
        "entourent le taux d'ensemble. Un organisme hors des limites s'écarte plus que le "
        "hasard ne l'explique."),
    cell("from dashboards.charts.providers import funnel_data, funnel_figure, "
         "outside_table\n\n"
         "organismes = answer(fiche_cqp['providers']).masked()\n"
         "organismes = organismes.dropna(subset=['full_rate', 'provider_id'])\n"
         "ensemble = answer(fiche_cqp['overall']).masked()['full_rate'].iloc[0]\n"
         "Chart(funnel_figure(funnel_data(organismes, ensemble)),\n      f'{CQP} : "
         "organismes, taux selon le volume')", "chart"),
    cell("outside_table(organismes, ensemble)", "outside"),
    new_markdown_cell("## Enregistrements RNCP / RS de ce CQP"),
    cell("from cqp_metrics.period import fr_date\n\n"
         "propres = enregistrements[enregistrements['cqp_code'] == CQP]\n"
         "pd.DataFrame({'CQP': propres['cqp_code'], 'Registre': propres['register'],\n"
         "              'Code': propres['rncp_code'],\n"
         "              'Début': propres['valid_from'].map(fr_date),\n"
         "              'Fin': propres['valid_until'].map(lambda d: fr_date(d) if d else "
         "'sans fin')}).reset_index(drop=True)",
         "registrations"),
    cell("print(f\"Mois restants avant la fin de l'enregistrement en cours : "
         "{fiche['months_left']}\")"
         " if fiche['months_left'] == fiche['months_left'] else print(\n"
         "    'Aucun enregistrement en cours.')"),
]

NOTEBOOKS = {"01_tour_des_indicateurs.ipynb": TOUR, "02_tableau_de_bord.ipynb": DASHBOARD,
             "03_revue_referentiel_cpne.ipynb": CPNE}
#: Notebooks whose outputs are saved: the dashboard's are widgets, live only in a kernel.
RUN = ("01_tour_des_indicateurs.ipynb", "03_revue_referentiel_cpne.ipynb")


def write(name: str) -> Path:
    notebook = new_notebook(cells=NOTEBOOKS[name], metadata={
        "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
        "language_info": {"name": "python"}})
    path = HERE / name
    nbformat.write(notebook, path)
    return path


def run(path: Path, db: str) -> None:
    """Execute the notebook on ``db`` and save its outputs in place."""
    from nbclient import NotebookClient

    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(HERE)}}).execute(
        env={**os.environ, "CQP_DB": db})
    for item in notebook.cells:
        item.get("metadata", {}).pop("execution", None)
    nbformat.write(notebook, path)


def demo_database(folder: Path) -> str:
    from cqp_metrics import demo, make_engine
    from cqp_metrics.db import ensure_schema
    from cqp_metrics.loading import write_dataset

    url = f"duckdb:///{folder / 'demo.duckdb'}"
    engine = make_engine(url)
    ensure_schema(engine)
    with engine.begin() as connection:
        write_dataset(connection, demo.generate(DEMO_CANDIDACIES, seed=DEMO_SEED),
                      source="démo")
    engine.dispose()
    return url


def main(argv: list[str]) -> int:
    paths = [write(name) for name in NOTEBOOKS]
    if "--no-run" in argv:
        return 0
    sys.path.insert(0, str(ROOT))
    with tempfile.TemporaryDirectory() as folder:
        db = demo_database(Path(folder))
        for path in paths:
            if path.name in RUN:
                run(path, db)
                print("ran", path.name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
