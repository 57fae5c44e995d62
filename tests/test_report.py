"""The annual report and the CQP sheet: one self-contained file, the same figures as the CLI,
the secret in every table, a PDF with its pages, text never read as markup."""

from __future__ import annotations

import csv
import html
import io
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest
import sqlalchemy as sa
from typer.testing import CliRunner

from cqp_metrics.cli import app
from cqp_metrics.registry import BY_NAME, COUNTS, label

from conftest import demo_database

runner = CliRunner()


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory) -> str:
    return demo_database(tmp_path_factory.mktemp("report") / "demo.duckdb", 6000, seed=11)


@pytest.fixture(scope="module")
def report_file(demo_url, tmp_path_factory) -> Path:
    output = tmp_path_factory.mktemp("out") / "rapport.html"
    result = runner.invoke(app, ["report", "--branch", "0016", "--db", demo_url,
                                 "--output", str(output)])
    assert result.exit_code == 0, result.output
    return output


class Tables(HTMLParser):
    """Every table of a page as rows of cell texts (header row first)."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: list[list[list[str]]] = []
        self.cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append([])
        elif tag == "tr" and self.tables:
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self.cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.tables[-1][-1].append("".join(self.cell).strip())
            self.cell = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell.append(data)


def key_figures_from_cli(demo_url: str, year: int) -> dict[str, str]:
    """The key figures as ``cqp-metrics indicators`` gives them, in French formats."""
    result = runner.invoke(app, ["indicators", "--db", demo_url, "--where", "branch_code=0016",
                                 "--from", str(year), "--to", str(year)])
    assert result.exit_code == 0, result.output
    row = next(csv.DictReader(io.StringIO(result.stdout)))
    out = {}
    for name in ("enrolments", "juries", "full_rate", "vae_success_rate", "partial_rate",
                 "recognition_rate"):
        value = row[name]
        if value in ("secret", ""):
            out[name] = value
        else:
            out[name] = BY_NAME[name].text(float(value) if "rate" in name else int(value))
    return out


def test_the_report_opens_offline_and_requests_nothing(report_file, browser):
    context = browser.new_context(offline=True)
    page = context.new_page()
    requests, errors = [], []
    page.on("request", lambda r: requests.append(r.url))
    page.on("console", lambda m: m.type == "error" and errors.append(m.text))
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.goto(report_file.as_uri())
    page.wait_for_function("() => [...document.querySelectorAll('[data-root-id]')]"
                           ".every(e => e.childElementCount > 0)", timeout=30_000)
    charts = page.locator("figure.chart").count()
    context.close()
    assert requests == [report_file.as_uri()], requests
    assert errors == []
    assert charts >= 7
    markup = re.sub(r"<script>.*?</script>", "", report_file.read_text(encoding="utf-8"),
                    flags=re.S)  # Bokeh's code names URLs it never fetches here
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", markup), "an outside reference"
    assert "<link" not in markup and "@import" not in markup


#: A chart whose plotting area BokehJS laid out smaller than this is squeezed, not drawn.
MIN_FRAME = (300, 150)


def _frames_of(page) -> list[dict]:
    from dashboards.static import frames

    return frames(page)


def test_every_chart_draws_its_plotting_area_and_its_legend_covers_nothing(report_file,
                                                                         browser):
    """Each chart's plotting area as BokehJS lays it out (``frame.bbox``), in the report's
    HTML: as many as the report has charts, none squeezed; each legend is text under its
    chart, below the chart's box."""
    page = browser.new_page(viewport={"width": 900, "height": 1200})
    page.goto(report_file.as_uri())
    laid = _frames_of(page)
    charts = page.locator("figure.chart").count()
    boxes = page.evaluate("""() => [...document.querySelectorAll('figure.chart')].map(f => {
        const chart = f.querySelector('[role=img]').getBoundingClientRect();
        const legend = f.querySelector('ul.legend');
        return {bottom: chart.bottom, legend: legend ? legend.getBoundingClientRect().top
                                                      : null};})""")
    page.close()
    assert len(laid) == charts >= 9, laid
    squeezed = [f for f in laid if f["frame_width"] < MIN_FRAME[0]
                or f["frame_height"] < MIN_FRAME[1]]
    assert not squeezed, squeezed
    legends = [b for b in boxes if b["legend"] is not None]
    assert len(legends) >= 3  # counts, blocks by version, providers' funnel
    assert all(b["legend"] >= b["bottom"] - 0.5 for b in legends), boxes


def test_its_key_figures_are_the_cli_ones(report_file, demo_url):
    text = report_file.read_text(encoding="utf-8")
    year = int(re.search(r"Chiffres clés (\d{4})", text).group(1))
    expected = key_figures_from_cli(demo_url, year)
    shown = dict(re.findall(r'data-kpi="(\w+)"><div class="kpi-title">.*?</div>'
                            r'<div class="kpi-value">([^<]*)</div>', text))
    assert shown == expected
    # each figure's name leads to its definition, in the method
    for name in expected:
        assert f'href="#def-{name}"' in text and f'id="def-{name}"' in text


def test_no_published_count_of_1_to_4_appears_in_its_tables(report_file):
    parser = Tables()
    parser.feed(report_file.read_text(encoding="utf-8"))
    counts = {label(name) for name, entry in COUNTS.items() if entry.secret}
    checked = 0
    for table in parser.tables:
        header, *rows = table
        for at, column in enumerate(header):
            if column not in counts:
                continue
            for row in rows:
                cell = row[at].replace("\u202f", "")
                assert cell == "secret" or int(cell) == 0 or int(cell) >= 5, (column, row)
                checked += 1
    assert checked > 100


def test_the_pdf_has_its_pages_and_text(demo_url, tmp_path, browser):
    """A cover (title, branch, year, data cut, publisher and its logo), then the contents
    with each section's page and the « faits marquants », the sections flowing one after the
    other; in the PDF's text every interval stays on one line, region names too, no word
    falls off its page, wide tables turn landscape."""
    output = tmp_path / "rapport.pdf"
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png())
    result = runner.invoke(app, ["report", "--branch", "0016", "--db", demo_url, "--output",
                                 str(output), "--publisher", "Observatoire des transports",
                                 "--logo", str(logo)])
    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"%PDF")
    info = subprocess.run(["pdfinfo", "-f", "1", "-l", "999", str(output)],
                          capture_output=True, text=True, check=True).stdout
    pages = int(re.search(r"Pages:\s+(\d+)", info).group(1))
    sizes = re.findall(r"Page\s+\d+ size:\s+([\d.]+) x ([\d.]+)", info)
    assert len(sizes) == pages >= 8
    portrait = [w < h for w, h in ((float(a), float(b)) for a, b in sizes)]
    assert portrait[0] and not all(portrait)  # A4 portrait, a wide table on a landscape page
    text = subprocess.run(["pdftotext", "-layout", str(output), "-"], capture_output=True,
                          text=True, check=True).stdout
    sheets = text.split("\f")
    cover, contents_page = sheets[0], sheets[1]
    for said in ("Rapport annuel des CQP", "branche 0016", "Année", "2024",
                 "Données arrêtées au", "30/09/2025", "Observatoire des transports"):
        assert said in cover, said
    for heading in ("Sommaire", "Faits marquants", "Chiffres clés", "Tendances", "VAE",
                    "Validations partielles", "Reconnaissance nationale", "Devenir des titulaires",
                    "Blocs de compétences",
                    "Organismes", "Territoires", "Méthode"):
        assert heading in text, heading
    # the table of contents gives each section's page, and the page says it is that one
    contents = contents_page.split("Sommaire", 1)[1].lstrip("\n").split("\n\n\n")[0]
    entries = re.findall(r"^\s*(\S.*?\S)\s{3,}(\d+)\s*$", contents, flags=re.M)
    assert [t for t, _ in entries][:2] == ["Faits marquants", "Chiffres clés 2024"]
    assert len(entries) == 11, contents_page
    for title, number in entries:
        assert title in sheets[int(number) - 1], (title, number)
    starts = [int(n) for _, n in entries]
    assert len(set(starts)) < len(starts)  # sections flow: several begin on one page
    assert f"page 1 / {pages}" in cover
    for line in text.splitlines():  # an interval is never cut over two lines
        assert line.count("[") == line.count("]"), line
    for region in ("01 — Guadeloupe", "11 — Île-de-France", "84 — Auvergne-Rhône-Alpes"):
        assert region in text, region
    _every_word_on_its_page(output)
    year = int(re.search(r"Chiffres clés (\d{4})", text).group(1))
    spaced = " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())
    _each_chart_label_read_once(output, demo_url, tmp_path, browser)
    for value in key_figures_from_cli(demo_url, year).values():
        assert value.replace("\xa0", " ").replace("\u202f", " ") in spaced, value


def _png() -> bytes:
    """A small PNG image (a logo)."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    raw = b"".join(b"\x00" + b"\x1f\x5f\x8b" * 40 for _ in range(20))
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 40, 20, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


def _every_word_on_its_page(pdf: Path) -> None:
    """Every word of the PDF lies inside its page (a table too wide is cut at the edge)."""
    boxes = subprocess.run(["pdftotext", "-bbox", str(pdf), "-"], capture_output=True,
                           text=True, check=True).stdout
    checked = 0
    for page in re.findall(r'<page width="([\d.]+)" height="([\d.]+)">(.*?)</page>', boxes,
                           re.S):
        width = float(page[0])
        for x_min, x_max in re.findall(r'<word xMin="([\d.]+)" yMin="[\d.]+" '
                                       r'xMax="([\d.]+)"', page[2]):
            assert 0 <= float(x_min) and float(x_max) <= width + 0.5, (x_min, x_max, width)
            checked += 1
    assert checked > 1000


def _each_chart_label_read_once(pdf: Path, demo_url: str, tmp_path: Path, browser) -> None:
    """The PDF's text (pdftotext) holds each chart's title as often as the page shows it
    (in the charts, laid out by BokehJS, and in the text around them): once per chart, never
    twice, never mirrored."""
    html_file = tmp_path / "same.html"
    result = runner.invoke(app, ["report", "--branch", "0016", "--db", demo_url,
                                 "--output", str(html_file)])
    assert result.exit_code == 0, result.output
    page = browser.new_page()  # the module's chromium: one Playwright per thread
    try:
        page.goto(html_file.as_uri())
        laid = _frames_of(page)
        around = page.inner_text("body")  # the charts' own text is not in it
    finally:
        page.close()

    def flat(text: str) -> str:
        return " ".join(text.replace("\xa0", " ").replace("\u202f", " ").split())

    read = flat(subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, text=True,
                               check=True).stdout)
    titles = [flat(f["title"]) for f in laid]
    own = [t for t in set(titles) if t not in flat(around)]  # said by a chart only
    assert len(own) >= 5, own
    for title in own:
        assert read.count(title) == titles.count(title), (title, read.count(title))
    for title in titles:
        assert title[::-1] not in read
    for axis in ("Effectif", "Présentés au jury", "Année"):
        assert axis[::-1] not in read, axis


def test_the_cover_carries_the_logo_as_data_and_refuses_what_is_not_an_image(demo_url,
                                                                              tmp_path):
    logo = tmp_path / "logo.png"
    logo.write_bytes(_png())
    output = tmp_path / "rapport.html"
    result = runner.invoke(app, ["report", "--branch", "0016", "--db", demo_url, "--output",
                                 str(output), "--publisher", "<b>OPMQ</b>", "--logo",
                                 str(logo)])
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert '<img src="data:image/png;base64,' in text and "&lt;b&gt;OPMQ&lt;/b&gt;" in text
    fake = tmp_path / "logo.gif"
    fake.write_bytes(b"GIF89a" + b"\0" * 20)
    refused = runner.invoke(app, ["report", "--branch", "0016", "--db", demo_url,
                                  "--output", str(tmp_path / "r.html"), "--logo", str(fake)])
    assert refused.exit_code == 1 and "PNG, JPEG ou SVG" in refused.output
    assert "Traceback" not in refused.output and not (tmp_path / "r.html").exists()


def test_faits_marquants_are_sentences_made_from_the_figures(demo_url):
    """The opening sentences, in French, each with its figure, the same at every run: the
    significant changes (recognition, with the lapsed registration behind it), the lapsed
    registrations, the least acquired blocks, the providers outside the funnel's limits, the
    holders' insertion; the method in words, without code names nor options."""
    import datetime as dt

    from cqp_metrics import make_engine
    from dashboards.report import report_for

    engine = make_engine(demo_url, read_only=True)
    try:
        made = [report_for(engine, branch="0016", year=2024, today=dt.date(2026, 6, 1))
                for _ in range(2)]
    finally:
        engine.dispose()
    facts = [re.findall(r"<li>(.*?)</li>", _section(m.html, "faits-marquants")) for m in made]
    assert facts[0] == facts[1] and len(facts[0]) >= 4
    said = html.unescape(" ".join(facts[0]))
    assert re.search(r"Taux de reconnaissance nationale : \d+,\d % \[[\d,]+ – [\d,]+ %\] en "
                     r"2024, contre [\d,]+ % en 2023 \(-[\d,]+ pt, évolution significative\)",
                     said.replace("\xa0", " ")), said
    assert "RNCP34001 (CQP-TR-CR) le 29/02/2024" in said
    assert "expiré sans être renouvelés" in said
    assert "Blocs de compétences les moins acquis" in said
    assert "des limites à 95 %" in said or "Aucun organisme" in said
    assert re.search(r"Promotion 20\d\d : [\d,]+", said.replace("\xa0", " "))
    method = html.unescape(re.sub(r"<[^>]+>", " ", _section(made[0].html, "methode")))
    assert not re.search(r"\b[a-z]+_[a-z0-9_]+\b|--[a-z]", method), re.findall(
        r"\b[a-z]+_[a-z0-9_]+\b|--[a-z]+", method)[:5]
    assert "« significatif »" not in _section(made[0].html, "chiffres-cles").replace(
        "dite « significatif »", "")


def test_every_blank_cell_says_why(demo_url):
    """The 24-month completion of the last year reads « recul insuffisant », with the data
    cut under the table; an undefined rate « sans objet »."""
    from cqp_metrics import make_engine
    from dashboards.report import report_for

    engine = make_engine(demo_url, read_only=True)
    try:
        made = report_for(engine, branch="0016", year=2024)
    finally:
        engine.dispose()
    parser = Tables()
    parser.feed(_section(made.html, "validation-partielle"))
    header, *rows = parser.tables[0]
    at = header.index("Complétion à 24 mois (Kaplan–Meier)")
    last = [r for r in rows if r[0].startswith("2024")][0]
    assert last[at] == "recul insuffisant"
    assert "« recul insuffisant » : les candidats de cette année" in made.html
    every = Tables()
    every.feed(made.html.split('<section id="s-methode"')[0])
    for table in every.tables:
        for row in table[1:]:
            assert all(cell != "" for cell in row), row


def test_a_cqp_sheet_for_the_cpne(demo_url, tmp_path):
    output = tmp_path / "fiche.html"
    result = runner.invoke(app, ["report", "--cqp", "CQP-TR-AQ", "--year", "2023", "--db",
                                 demo_url, "--output", str(output)])
    assert result.exit_code == 0, result.output
    text = output.read_text(encoding="utf-8")
    assert "Fiche CQP CQP-TR-AQ" in text and "Chiffres clés 2023" in text
    assert "Cqp : CQP-TR-AQ" in text or "CQP : CQP-TR-AQ" in text


@pytest.mark.parametrize("arguments,message", [
    (["--branch", "9999"], "branche inconnue"),
    (["--cqp", "CQP-NOPE"], "CQP inconnu"),
    (["--branch", "0016", "--cqp", "CQP-TR-AQ"], "l'un ou l'autre"),
    ([], "l'un ou l'autre"),
    (["--branch", "0016", "--output", "rapport.docx"], ".html ou .pdf"),
    (["--branch", "0016", "--year", "1990"], "aucune donnée en 1990"),
])
def test_a_bad_request_is_one_message_and_writes_nothing(demo_url, tmp_path, monkeypatch,
                                                          arguments, message):
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["report", "--db", demo_url, *arguments])
    assert result.exit_code == 1
    assert message in result.output and "Traceback" not in result.output
    assert list(tmp_path.iterdir()) == []


def test_text_from_data_is_never_markup(worked, tmp_path):
    """A CQP title holding a tag and Python format fields reads as text in the report."""
    from dashboards.report import report_for

    hostile = '<img src=x onerror="alert(1)">{chart_0} {0}'
    with worked.begin() as connection:
        connection.execute(sa.text("UPDATE certification SET title = :t WHERE cqp_code = 'CQP-A'"),
                           {"t": hostile})
    made = report_for(worked, cqp="CQP-A")
    assert "<img src=x" not in made.html
    assert "&lt;img src=x onerror=&#34;alert(1)&#34;&gt;{chart_0} {0}" in made.html \
        or "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;{chart_0} {0}" in made.html


def test_the_report_works_on_every_backend(worked):
    """The worked example (a few candidacies, mostly under the secret) still makes a report,
    on each backend, with its sections and no published count of 1 to 4."""
    from dashboards.report import report_for

    made = report_for(worked, branch="0016")
    assert [title for _, title in made.sections][-1] == "Méthode"
    parser = Tables()
    parser.feed(made.html)
    counts = {label(name) for name, entry in COUNTS.items() if entry.secret}
    for table in parser.tables:
        header, *rows = table
        for at, column in enumerate(header):
            if column in counts:
                for row in rows:
                    cell = row[at].replace("\u202f", "")
                    assert cell == "secret" or int(cell) == 0 or int(cell) >= 5, (column, row)


def test_chromium_missing_is_said(monkeypatch, demo_url, tmp_path):
    monkeypatch.setenv("CQP_CHROMIUM", str(tmp_path / "no-chromium"))
    result = runner.invoke(app, ["report", "--branch", "0016", "--db", demo_url, "--output",
                                 str(tmp_path / "r.pdf")])
    assert result.exit_code == 1 and "chromium introuvable" in result.output
    assert not (tmp_path / "r.pdf").exists()


def test_the_holders_section_shows_each_promotion_as_the_cli(report_file, demo_url):
    """« Devenir des titulaires »: the branch's promotions with their employment rates, raw
    and corrected for non-response, the same as ``indicators`` gives (published)."""
    parser = Tables()
    parser.feed(_section(report_file.read_text(encoding="utf-8"), "insertion"))
    raw, adjusted = label("employment_rate_6m"), label("employment_rate_6m_adjusted")
    # a wide table is split in two, each part keeps the promotion's year: join them by year
    joined: dict[str, dict[str, str]] = {}
    for header, *lines in parser.tables:
        for line in lines:
            joined.setdefault(line[0], {}).update(zip(header, line, strict=True))
    assert joined and all(raw in cells and adjusted in cells for cells in joined.values())
    result = runner.invoke(app, ["indicators", "--db", demo_url, "--by", "year", "--where",
                                 "branch_code=0016", "--to", str(max(int(y[:4]) for y in joined))])
    assert result.exit_code == 0, result.output
    expected = {line["year"]: line for line in csv.DictReader(io.StringIO(result.stdout))}
    checked = 0
    for cells in joined.values():
        line = expected[cells[label("year")][:4]]
        for name, column in (("employment_rate_6m", raw), ("employment_rate_6m_adjusted",
                                                             adjusted)):
            value = line[name]
            shown = value if value in ("secret", "") else BY_NAME[name].text(float(value))
            assert cells[column].startswith(shown), (cells[column], shown)
            checked += 1
    assert checked >= 10
    assert 'aria-label="Taux d&#x27;emploi à 6 mois par promotion' in \
        report_file.read_text(encoding="utf-8")


def _section(text: str, anchor: str) -> str:
    return text.split(f'<h2 id="{anchor}">', 1)[1].split("</section>", 1)[0]


def test_lapsed_registrations_come_first_in_recognition_and_the_sheet_names_its_own(demo_url):
    """Every registration of branch 0016 has ended on 1 June 2026 but CQPI-LOG's (it ends
    on 31 May 2026: the day before): the recognition section opens with the lapsed ones,
    « expirée le …, non renouvelée »; a CQP's sheet names its registrations and dates; the
    recognition key figure says its change comes from CQP-TR-CR's registration, ended on
    29 February 2024 and not renewed."""
    import datetime as dt

    from cqp_metrics import make_engine
    from dashboards.report import report_for

    engine = make_engine(demo_url, read_only=True)
    try:
        branch = report_for(engine, branch="0016", year=2024, today=dt.date(2026, 6, 1))
        sheet = report_for(engine, cqp="CQP-TR-AQ", year=2024, today=dt.date(2026, 6, 1))
    finally:
        engine.dispose()
    parser = Tables()
    parser.feed(_section(branch.html, "reconnaissance"))
    first = parser.tables[0]
    assert first[0] == ["CQP", "Intitulé", "Registre", "Code", "État"]
    assert sorted((row[0], row[3], row[4]) for row in first[1:]) == [
        ("CQP-TR-AQ", "RS5678", "expirée le 31/12/2025, non renouvelée"),
        ("CQP-TR-CR", "RNCP34001", "expirée le 29/02/2024, non renouvelée"),
        ("CQPI-LOG", "RNCP35120", "expirée le 31/05/2026, non renouvelée")]
    note = re.search(r'data-kpi="recognition_rate".*?kpi-note">([^<]*)<', branch.html, re.S)
    assert note and "RNCP34001 (CQP-TR-CR) le 29/02/2024" in note.group(1)
    parser = Tables()
    parser.feed(_section(sheet.html, "reconnaissance"))
    own = parser.tables[1]
    assert own == [["Registre", "Code", "Début", "Fin", "État"],
                   ["RS", "RS5678", "01/01/2021", "31/12/2025",
                    "expirée le 31/12/2025, non renouvelée"]]


def test_the_report_asks_the_pages_own_requests(demo_url, monkeypatch):
    """Each section of a CQP's report is answered by the request its page makes for the same
    filters and years (:mod:`dashboards.asks`): the same figures, one computation in a
    process that shares results. Read from what the report computed."""
    from cqp_metrics import catalogue
    from dashboards import asks
    from dashboards.data import MetricsSource
    from dashboards.engines import engine_for
    from dashboards.filters import Filters
    from dashboards.pages.insertion import InsertionPage
    from dashboards.pages.partial import PartialPage
    from dashboards.pages.recognition import RecognitionPage
    from dashboards.pages.referential import ReferentialPage
    from dashboards.pages.territories import TerritoriesPage
    from dashboards.pages.vae import VaePage
    from dashboards.report import build

    computed = []
    compute_query = asks.compute_query
    monkeypatch.setattr(asks, "compute_query", lambda engine, query, rule, **options: (
        computed.append(query), compute_query(engine, query, rule, **options))[1])
    engine = engine_for(demo_url)  # the sessions' engine (DuckDB: one configuration a file)
    with engine.connect() as connection:
        cqp = sorted(catalogue.certifications(connection)["cqp_code"])[0]
    where = {"cqp_code": [cqp]}
    report = build(engine, where, since=2019)
    year = report.year
    source = MetricsSource(url=demo_url, scope=None)
    filters = Filters(source)
    sheet = ReferentialPage(filters=filters, source=source)
    sheet.sheet = cqp
    insertion = InsertionPage(filters=filters, source=source)
    insertion.horizon = "6"
    wanted = [  # (page, its request, the years the report shows it for)
        (VaePage(filters=filters, source=source), "total", (year, year)),
        (VaePage(filters=filters, source=source), "by_year", (2019, year)),
        (PartialPage(filters=filters, source=source), "by_year", (2019, year)),
        (RecognitionPage(filters=filters, source=source), "by_year", (2019, year)),
        (insertion, "promotions", (2019, year)),
        (sheet, "blocks", (2019, year)),
        (sheet, "providers", (year, year)),
        (sheet, "overall", (year, year)),
        (TerritoriesPage(filters=filters, source=source), "regions", (year, year))]
    missing = [(type(page).__name__, name) for page, name, years in wanted
               if page.requests(where, years)[name] not in computed]
    assert not missing, missing
    assert len(computed) == len(set(computed))  # each asked once
    # a section shows its own columns, not every indicator its page's request holds
    regions = report.html.split('<section id="s-territoires"', 1)[1].split("</section>", 1)[0]
    assert label("vae_success_rate") in regions and label("vae_juries") in regions
    assert label("partial_rate") not in regions and label("withdrawals") not in regions
