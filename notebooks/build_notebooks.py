"""Write the notebooks of this folder from their cells (keeps them reviewable as Python).

    .venv/bin/python notebooks/build_notebooks.py
"""

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
SETUP = """import sys
from pathlib import Path

sys.path.insert(0, str(Path.cwd().parent if Path.cwd().name == "notebooks" else Path.cwd()))
from cqp_metrics import compute, indicators, make_engine

# The database: $CQP_DB, else data/cqp.duckdb (``make serve`` or ``cqp-metrics demo`` makes it).
engine = make_engine(read_only=True, hold_file=False)"""

NOTEBOOKS = {
    "01_tour_des_indicateurs.ipynb": [
        new_markdown_cell("# Tour des indicateurs CQP\n\nL'API Python de `cqp_metrics` : les "
                          "indicateurs de DOMAIN.md calculés dans la base, avec intervalles de "
                          "confiance et secret statistique."),
        new_code_cell(SETUP),
        new_markdown_cell("## Les indicateurs, déclarés une fois dans le registre"),
        new_code_cell("import pandas as pd\nfrom cqp_metrics.registry import REGISTRY\n\n"
                      "pd.DataFrame([(e.name, type(e).__name__, e.label_fr, e.description) "
                      "for e in REGISTRY],\n             columns=['nom', 'type', 'libellé', "
                      "'définition'])"),
        new_markdown_cell("## Par année, sous secret statistique\n\nLes cases masquées se "
                          "lisent « secret » ; un taux sans dénominateur est vide."),
        new_code_cell("by_year = indicators(engine, by=['year'])\n"
                      "by_year[['year', 'enrolments', 'juries', 'full_rate', 'full_rate_low', "
                      "'full_rate_high', 'vae_success_rate', 'recognition_rate']]"),
        new_markdown_cell("## Découpages et filtres\n\nUne CQPI compte dans chacune de ses "
                          "branches : les totaux par branche ne s'additionnent pas."),
        new_code_cell("table = compute(engine, by=['branch_code', 'pathway'], years=(2023, 2024),"
                      " totals=True)\ntable.published()[['branch_code', 'pathway', 'juries', "
                      "'full', 'partial', 'refused', 'full_rate']]"),
        new_code_cell("print(table.rule.describe())\nprint('cases masquées :', "
                      "int(table.hidden.to_numpy().sum()))"),
        new_markdown_cell("## En tableau français"),
        new_code_cell("from cqp_metrics.render import french_frame\n\n"
                      "french_frame(compute(engine, by=['year'], names=['enrolments', "
                      "'full_rate', 'vae_success_rate']))"),
    ],
    "02_tableau_de_bord.ipynb": [
        new_markdown_cell("# Le tableau de bord dans le notebook\n\nLes mêmes vues que "
                          "`panel serve dashboards/app.py`. Ce notebook se sert aussi tel quel :"
                          " `panel serve notebooks/02_tableau_de_bord.ipynb`."),
        new_code_cell("import sys\nfrom pathlib import Path\n\nsys.path.insert(0, "
                      "str(Path.cwd().parent if Path.cwd().name == 'notebooks' else "
                      "Path.cwd()))\nfrom dashboards.observatory import ObservatoryApp, "
                      "extension\n\nextension()\napp = ObservatoryApp()"),
        new_code_cell("app.servable()"),
    ],
    "03_revue_referentiel_cpne.ipynb": [
        new_markdown_cell("# Revue d'un référentiel pour la CPNE\n\nAvant une réunion de "
                          "CPNE : volumes et résultats d'un CQP, blocs de compétences par "
                          "version du référentiel, organismes, enregistrement RNCP/RS."),
        new_code_cell(SETUP + "\nfrom cqp_metrics.catalogue import certifications, "
                      "ending_within\n\nwith engine.connect() as connection:\n"
                      "    catalogue = certifications(connection)\n"
                      "CQP = catalogue['cqp_code'].iloc[0]  # choisir ici le CQP revu\n"
                      "catalogue[catalogue['cqp_code'] == CQP]"),
        new_markdown_cell("## Volumes et taux par année"),
        new_code_cell("indicators(engine, by=['year'], where={'cqp_code': CQP}, names=["
                      "'enrolments', 'juries', 'full_rate', 'partial_rate', "
                      "'partial_completion_rate', 'vae_success_rate'])"),
        new_markdown_cell("## Blocs de compétences par version du référentiel\n\nLes "
                          "intervalles qui ne se recouvrent pas signalent un écart réel."),
        new_code_cell("blocks = indicators(engine, by=['referential_version', 'block_code'], "
                      "where={'cqp_code': CQP})\nblocks"),
        new_markdown_cell("## Organismes de formation"),
        new_code_cell("indicators(engine, by=['provider_id'], where={'cqp_code': CQP, "
                      "'pathway': 'formation'}, names=['juries', 'full_rate'])"),
        new_markdown_cell("## Enregistrements qui prennent fin dans les 24 mois"),
        new_code_cell("ending_within(catalogue, 24)[['cqp_code', 'title', 'recognition', "
                      "'rncp_code', 'valid_until', 'months_left']]"),
    ],
}

if __name__ == "__main__":
    for name, cells in NOTEBOOKS.items():
        notebook = new_notebook(cells=cells, metadata={
            "kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"},
            "language_info": {"name": "python"}})
        nbformat.write(notebook, HERE / name)
        print("wrote", name)
