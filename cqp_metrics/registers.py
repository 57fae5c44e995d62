"""The official registers, read as published: France Compétences' RNCP/RS export and the
Certif Info catalogue. Every file is checked before anything is written; a bad file gets a
message naming the file and column and changes nothing."""

from __future__ import annotations

import datetime as dt
import difflib
import io
import re
import unicodedata
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import sqlalchemy as sa

from . import derived, schema
from .codes import fold
from .db import ensure_schema
from .loading.problems import LoadError, Problem
from .loading.reader import BIDI, CONTROL, FORMAT, visible

#: Tables of the RNCP/RS export this importer needs, and the columns it reads in each.
RNCP_TABLES = {
    "Standard": ("Numero_Fiche", "Intitule", "Date_dernier_jo", "Date_Decision",
                 "Date_Fin_Enregistrement", "Actif"),
    "Blocs_De_Compétences": ("Numero_Fiche", "Bloc_Competences_Code", "Bloc_Competences_Libelle"),
    "CCN": ("Numero_Fiche", "Ccn_1_Numero", "Ccn_2_Numero", "Ccn_3_Numero"),
    "Certificateurs": ("Numero_Fiche", "Nom_Certificateur"),
}
#: The columns that hold titles (text for people); the others hold codes.
TITLES = {"Intitule", "Bloc_Competences_Libelle", "Nom_Certificateur", "Libelle_Diplome",
          "Libelle_Type_Diplome", "valideur", "certificateur"}
_EXPORT_NAME = re.compile(r"export_fiches_CSV_(?P<table>.+)_(?P<date>\d{4}_\d{2}_\d{2})\.csv$")


@dataclass
class RncpExport:
    """The fiches of an export: one row per RNCP/RS code, with blocks, IDCC and certifiers."""

    date: str
    fiches: pd.DataFrame
    blocks: pd.DataFrame


@dataclass
class ImportReport:
    """What an import changed, and the matches a person has to confirm."""

    new: list[str] = field(default_factory=list)
    renewed: list[str] = field(default_factory=list)
    expired: list[str] = field(default_factory=list)
    blocks_changed: list[str] = field(default_factory=list)
    proposals: list[str] = field(default_factory=list)

    def lines(self) -> list[str]:
        out = []
        for title, items in (("Nouveaux enregistrements", self.new),
                             ("Renouvelés (fin repoussée)", self.renewed),
                             ("Expirés ou inactifs", self.expired),
                             ("Blocs modifiés", self.blocks_changed),
                             ("Rapprochements proposés (à confirmer avec --confirm CQP=CODE)",
                              self.proposals)):
            out.append(f"{title} : {len(items)}")
            out += [f"  - {item}" for item in items]
        return out


#: Bounds on what a register zip may hold: the real daily export has about ten members,
#: the largest under 100 MB once decompressed.
MAX_MEMBERS = 200
MAX_MEMBER_BYTES = 512 * 1024 * 1024
#: Columns of one table (the export's widest has about 40).
MAX_COLUMNS = 500


def _read_member(archive: zipfile.ZipFile, member: str) -> bytes:
    """A member's bytes, read with a cap whatever its header claims (zip bombs)."""
    if archive.getinfo(member).file_size > MAX_MEMBER_BYTES:
        raise _TooLarge
    with archive.open(member) as stream:
        data = stream.read(MAX_MEMBER_BYTES + 1)
    if len(data) > MAX_MEMBER_BYTES:
        raise _TooLarge
    return data


class _TooLarge(Exception):
    pass


def _read_table(archive: zipfile.ZipFile, member: str, columns: tuple[str, ...],
                problems: list[Problem]) -> pd.DataFrame | None:
    name = Path(member).name
    try:
        text = _read_member(archive, member).decode("utf-8-sig")
        width = text.partition("\n")[0].count(";") + 1
        if width > MAX_COLUMNS:
            problems.append(Problem(name, 1, None, None, f"{width} colonnes dans l'en-tête (au "
                                    f"plus {MAX_COLUMNS}) : ce n'est pas un export de France "
                                    "Compétences"))
            return None
        frame = pd.read_csv(io.StringIO(text), sep=";", dtype=str, keep_default_na=False)
    except _TooLarge:
        problems.append(Problem(name, None, None, None, "fichier trop volumineux une fois "
                                f"décompressé (plus de {MAX_MEMBER_BYTES // 2**20} Mo)"))
        return None
    except (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError):
        problems.append(Problem(name, None, None, None, "membre de l'archive corrompu ou "
                                "illisible (retéléchargez l'export)"))
        return None
    except UnicodeDecodeError:
        problems.append(Problem(name, None, None, None, "fichier illisible : encodage non "
                                "UTF-8"))
        return None
    except (pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        problems.append(Problem(name, None, None, None,
                                f"fichier illisible ({str(error).strip()[:120]})"))
        return None
    missing = [c for c in columns if c not in frame.columns]
    for column in missing:
        problems.append(Problem(name, 1, column, None, "colonne attendue absente (colonnes : "
                                + ", ".join(frame.columns) + ")"))
    if missing:
        return None
    frame = frame.map(lambda v: v.strip().lstrip("\t").strip() if isinstance(v, str) else v)
    frame["__line__"] = range(2, len(frame) + 2)
    return frame if _readable(frame, name, columns, problems) else None


def _readable(frame: pd.DataFrame, file: str, columns: tuple[str, ...],
              problems: list[Problem]) -> bool:
    """No control character (the NUL byte…) in a column read, no character that reorders
    text in a title, no invisible character in a code."""
    found = False
    for column in columns:
        text = frame[column].astype(str)
        control = text.str.contains(CONTROL, regex=True)
        hidden = ~control & text.str.contains(BIDI if column in TITLES else FORMAT, regex=True)
        for mask, message in ((control, "caractère de contrôle interdit (octet nul, saut de "
                                        "page…)"),
                              (hidden, "caractère de mise en forme de direction interdit (il "
                                       "réordonne le texte affiché)" if column in TITLES else
                                       "caractère invisible interdit (espace de largeur nulle, "
                                       "marque de direction…)")):
            for index in frame.index[mask]:
                found = True
                problems.append(Problem(file, int(frame.at[index, "__line__"]), column,
                                        visible(text[index]), message))
    return not found


def _dates(frame: pd.DataFrame, column: str, file: str, problems: list[Problem]) -> pd.Series:
    text = frame[column]
    value = pd.to_datetime(text.where(text != ""), format="%d/%m/%Y", errors="coerce")
    for index in frame.index[(text != "") & value.isna()]:
        problems.append(Problem(file, int(frame.at[index, "__line__"]), column, text[index],
                                "date illisible (attendu JJ/MM/AAAA)"))
    return value.dt.date.where(value.notna(), None)


def _member_name(info: zipfile.ZipInfo) -> str:
    """The member's file name: the export writes UTF-8 names without the zip's UTF-8 flag."""
    name = info.filename
    if not info.flag_bits & 0x800:
        try:
            name = name.encode("cp437").decode("utf-8")
        except (UnicodeEncodeError, UnicodeDecodeError):
            pass
    return unicodedata.normalize("NFC", Path(name).name)


def read_rncp_export(path: str | Path) -> RncpExport:
    """Read France Compétences' daily CSV export (a zip of ``;``-separated tables)."""
    path = Path(path)
    problems: list[Problem] = []
    if not path.exists():
        raise LoadError([Problem(path.name, None, None, None, "fichier introuvable")])
    if not zipfile.is_zipfile(path):
        raise LoadError([Problem(path.name, None, None, None,
                                 "ce n'est pas une archive zip (export CSV de France "
                                 "Compétences)")])
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError):
        raise LoadError([Problem(path.name, None, None, None, "archive zip illisible")]) from None
    with archive:
        members: dict[str, str] = {}
        date = ""
        if len(archive.infolist()) > MAX_MEMBERS:
            raise LoadError([Problem(path.name, None, None, None,
                                     f"archive de plus de {MAX_MEMBERS} fichiers : ce n'est "
                                     "pas un export de France Compétences")])
        for member in archive.namelist():
            found = _EXPORT_NAME.search(_member_name(archive.getinfo(member)))
            if found:
                members[found["table"]] = member
                date = found["date"].replace("_", "-")
        frames: dict[str, pd.DataFrame] = {}
        for table, columns in RNCP_TABLES.items():
            if table not in members:
                problems.append(Problem(path.name, None, None, None,
                                        f"table {table} absente (export_fiches_CSV_{table}_"
                                        "<date>.csv)"))
                continue
            frame = _read_table(archive, members[table], columns, problems)
            if frame is not None:
                frames[table] = frame
    if problems:
        raise LoadError(problems)
    standard = frames["Standard"]
    file = Path(members["Standard"]).name
    registered_on = _dates(standard, "Date_dernier_jo", file, problems)
    decided_on = _dates(standard, "Date_Decision", file, problems)
    ends_on = _dates(standard, "Date_Fin_Enregistrement", file, problems)
    bad_code = ~standard["Numero_Fiche"].str.fullmatch(r"(RNCP|RS)\d{1,6}")
    for index in standard.index[bad_code]:
        problems.append(Problem(file, int(standard.at[index, "__line__"]), "Numero_Fiche",
                                standard.at[index, "Numero_Fiche"], "code RNCP/RS invalide"))
    twice = standard["Numero_Fiche"].duplicated() & ~bad_code
    for index in standard.index[twice]:
        problems.append(Problem(file, int(standard.at[index, "__line__"]), "Numero_Fiche",
                                standard.at[index, "Numero_Fiche"],
                                "fiche en double dans l'export"))
    if problems:
        raise LoadError(problems)
    ccn = frames["CCN"].melt(id_vars=["Numero_Fiche"], value_vars=[
        "Ccn_1_Numero", "Ccn_2_Numero", "Ccn_3_Numero"])
    ccn = ccn[ccn["value"] != ""].assign(value=lambda f: f["value"].str.zfill(4))
    certifiers = frames["Certificateurs"]
    fiches = pd.DataFrame({
        "rncp_code": standard["Numero_Fiche"],
        "title": standard["Intitule"],
        "valid_from": registered_on.where(registered_on.notna(), decided_on),
        "valid_until": ends_on,
        "active": standard["Actif"].str.upper().eq("ACTIVE"),
        "certifiers": standard["Numero_Fiche"].map(
            certifiers.groupby("Numero_Fiche")["Nom_Certificateur"].agg("|".join)),
        "idcc": standard["Numero_Fiche"].map(ccn.groupby("Numero_Fiche")["value"].agg("|".join)),
        "export_date": date,
    })
    blocks = frames["Blocs_De_Compétences"].rename(columns={
        "Numero_Fiche": "rncp_code", "Bloc_Competences_Code": "block_code",
        "Bloc_Competences_Libelle": "title"})[["rncp_code", "block_code", "title"]]
    return RncpExport(date, fiches.reset_index(drop=True), blocks)


def _similar(a: str, b: str) -> float:
    def clean(text: str) -> str:
        return re.sub(r"\b(cqpi?|certificat de qualification professionnelle)\b", "",
                      fold(text)).strip()

    return difflib.SequenceMatcher(None, clean(a), clean(b)).ratio()


def import_rncp(engine: sa.Engine, path: str | Path, confirm: dict[str, str] | None = None,
                today: dt.date | None = None) -> ImportReport:
    """Record the registrations of the database's CQPs from an export; propose matches for
    the fiches not yet linked; link those given in ``confirm`` ({cqp_code: rncp_code})."""
    export = read_rncp_export(path)
    today = today or dt.date.today()
    confirm = confirm or {}
    ensure_schema(engine)
    fiches = export.fiches.set_index("rncp_code")
    report = ImportReport()
    now = dt.datetime.now()
    with engine.begin() as connection:
        cqps = pd.DataFrame(connection.execute(sa.select(
            schema.certification.c.cqp_code, schema.certification.c.title)).all(),
            columns=["cqp_code", "title"])
        problems = [Problem("--confirm", None, None, f"{c}={r}", "CQP inconnu de la base")
                    for c, r in confirm.items() if c not in set(cqps["cqp_code"])]
        problems += [Problem("--confirm", None, None, f"{c}={r}", "code absent de l'export")
                     for c, r in confirm.items() if r not in fiches.index]
        if problems:
            raise LoadError(problems)
        reg = schema.registration
        linked = pd.DataFrame(connection.execute(sa.select(
            reg.c.cqp_code, reg.c.rncp_code, reg.c.valid_from, reg.c.valid_until, reg.c.active)
        ).all(), columns=["cqp_code", "rncp_code", "valid_from", "valid_until", "active"])
        owners = pd.DataFrame(connection.execute(sa.select(
            schema.certification_branch)).all(), columns=["cqp_code", "branch_code"])
        pairs = [(r.cqp_code, r.rncp_code, r) for r in linked.itertuples()
                 if r.rncp_code in fiches.index]
        pairs += [(cqp, code, None) for cqp, code in confirm.items()
                  if not ((linked["cqp_code"] == cqp) & (linked["rncp_code"] == code)).any()]
        for cqp, code, before in pairs:
            fiche = fiches.loc[code]
            values = {"valid_from": fiche["valid_from"], "valid_until": fiche["valid_until"],
                      "active": bool(fiche["active"])}
            if before is None:
                connection.execute(reg.insert().values(
                    cqp_code=cqp, rncp_code=code, register=re.match(r"RNCP|RS", code)[0],
                    source="rncp", **values))
                report.new.append(f"{cqp} : {code} « {fiche['title']} »")
            else:
                old_until = _as_date(before.valid_until)
                changed = (_as_date(before.valid_from), old_until, before.active) != (
                    values["valid_from"], values["valid_until"], values["active"])
                if changed:
                    connection.execute(schema.registration_history.insert().values(
                        cqp_code=cqp, rncp_code=code, replaced_at=now,
                        valid_from=_as_date(before.valid_from), valid_until=old_until,
                        active=None if pd.isna(before.active) else bool(before.active)))
                    connection.execute(reg.update().where(
                        reg.c.cqp_code == cqp, reg.c.rncp_code == code).values(**values))
                    if values["valid_until"] and (old_until is None
                                                  or values["valid_until"] > old_until):
                        report.renewed.append(f"{cqp} : {code} jusqu'au "
                                              f"{values['valid_until']:%d/%m/%Y}")
            ended = not values["active"] or (values["valid_until"] is not None
                                             and values["valid_until"] < today)
            if ended:
                report.expired.append(f"{cqp} : {code} (fin "
                                      + (f"{values['valid_until']:%d/%m/%Y})"
                                         if values["valid_until"] else "inconnue)"))
            _record_blocks(connection, cqp, code, export.blocks, report)
        _record_fiches(connection, export.fiches[export.fiches["rncp_code"].isin(
            {code for _, code, _ in pairs})])
        # the facts that read the registration windows (a jury's « in a window », an
        # activity's « registered on 31 December »), in the same transaction
        derived.refresh(connection, derived.reading(schema.registration,
                                                    schema.registration_history))
        taken = {code for _, code, _ in pairs}
        for cqp in cqps.itertuples():
            branches = set(owners.loc[owners["cqp_code"] == cqp.cqp_code, "branch_code"])
            titles = [cqp.title] + [fiches.loc[c, "title"] for c, in linked.loc[
                linked["cqp_code"] == cqp.cqp_code, ["rncp_code"]].itertuples(index=False)
                if c in fiches.index]
            for code, fiche in fiches.iterrows():
                if code in taken:
                    continue
                score = max(_similar(t, fiche["title"]) for t in titles)
                idcc = set((fiche["idcc"] or "").split("|")) & branches if isinstance(
                    fiche["idcc"], str) else set()
                if score >= 0.8 or (idcc and score >= 0.5):
                    why = [f"titre {score:.0%}"]
                    if idcc:
                        why.append("IDCC " + ", ".join(sorted(idcc)))
                    if isinstance(fiche["certifiers"], str):
                        why.append(fiche["certifiers"])
                    report.proposals.append(f"{cqp.cqp_code} ↔ {code} « {fiche['title']} » "
                                            f"({'; '.join(why)})")
    return report


def _as_date(value) -> dt.date | None:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return None
    return pd.Timestamp(value).date()


def _record_fiches(connection: sa.Connection, fiches: pd.DataFrame) -> None:
    for fiche in fiches.to_dict("records"):
        fiche = {k: (None if not isinstance(v, str | bool | dt.date) and pd.isna(v) else v)
                 for k, v in fiche.items()}
        connection.execute(schema.register_fiche.delete().where(
            schema.register_fiche.c.rncp_code == fiche["rncp_code"]))
        connection.execute(schema.register_fiche.insert().values(**fiche))


def _record_blocks(connection: sa.Connection, cqp: str, code: str, blocks: pd.DataFrame,
                   report: ImportReport) -> None:
    """The register's blocks of a linked fiche, as the CQP's blocks of that version."""
    block = schema.block
    wanted = blocks[blocks["rncp_code"] == code]
    if wanted.empty:
        return
    existing = {row.block_code: row.title for row in connection.execute(sa.select(
        block.c.block_code, block.c.title).where(block.c.cqp_code == cqp,
                                                 block.c.referential_version == code))}
    incoming = dict(zip(wanted["block_code"], wanted["title"], strict=True))
    if existing == incoming:
        return
    for block_code, title in incoming.items():
        if block_code in existing:
            connection.execute(block.update().where(block.c.cqp_code == cqp,
                                                    block.c.block_code == block_code)
                               .values(title=title))
        else:
            connection.execute(block.insert().values(cqp_code=cqp, block_code=block_code,
                                                     title=title, referential_version=code))
    if existing:
        report.blocks_changed.append(f"{cqp} : blocs de {code} modifiés")


# --------------------------------------------------------------------------------------------
# Certif Info

CERTIFINFO_COLUMNS = ("Code_Diplome", "Libelle_Diplome", "Libelle_Type_Diplome", "Code_RNCP",
                      "Code_RS", "valideur", "certificateur", "Code_Niveau_Europeen",
                      "code_type_diplome", "Date_MaJ")
CQP_TYPES = {"966", "968"}
#: Bounds of a Certif Info extract, checked before it is parsed: the national extract of
#: every certification weighs a few tens of MB (a 1.36 MB gzip once became 400 MB).
MAX_CATALOGUE_BYTES = 256 * 1024**2
MAX_CATALOGUE_ROWS = 2_000_000


def read_certifinfo(path: str | Path) -> pd.DataFrame:
    """The CQPs of a Certif Info extract with their recognition (RNCP, RS, branche_seule)."""
    path = Path(path)
    if not path.is_file():
        raise LoadError([Problem(path.name, None, None, None, "fichier introuvable")])
    size = path.stat().st_size
    if size > MAX_CATALOGUE_BYTES:
        raise LoadError([Problem(path.name, None, None, None, "fichier trop volumineux "
                                 f"({size // 2**20} Mo, au plus {MAX_CATALOGUE_BYTES // 2**20} "
                                 "Mo) : ce n'est pas l'extrait de Certif Info")])
    data = path.read_bytes()
    if data.startswith((b"PK\x03\x04", b"\x1f\x8b", b"PK\x05\x06")):
        raise LoadError([Problem(path.name, None, None, None, "fichier compressé (zip, gzip) : "
                                 "décompressez-le et donnez le fichier CSV qu'il contient")])
    header = data.split(b"\n", 1)[0]
    if header.count(b";") + 1 > MAX_COLUMNS:
        raise LoadError([Problem(path.name, 1, None, None, f"{header.count(b';') + 1} colonnes "
                                 f"dans l'en-tête (au plus {MAX_COLUMNS}) : ce n'est pas "
                                 "l'extrait de Certif Info")])
    if data.count(b"\n") > MAX_CATALOGUE_ROWS + 1:
        raise LoadError([Problem(path.name, None, None, None, f"plus de {MAX_CATALOGUE_ROWS} "
                                 "lignes : ce n'est pas l'extrait de Certif Info")])
    try:
        frame = pd.read_csv(io.BytesIO(data), sep=";", dtype=str, keep_default_na=False,
                            encoding="utf-8-sig", compression=None)
    except (UnicodeDecodeError, pd.errors.ParserError, pd.errors.EmptyDataError) as error:
        raise LoadError([Problem(path.name, None, None, None,
                                 f"fichier illisible ({str(error)[:120]})")]) from None
    missing = [c for c in CERTIFINFO_COLUMNS if c not in frame.columns]
    if missing:
        raise LoadError([Problem(path.name, 1, c, None, "colonne attendue absente")
                         for c in missing])
    frame["__line__"] = range(2, len(frame) + 2)
    is_cqp = frame["Libelle_Diplome"].str.strip().str.upper().str.startswith("CQP") | \
        frame["code_type_diplome"].str.strip().isin(CQP_TYPES)
    cqps = frame[is_cqp]
    if cqps.empty:
        raise LoadError([Problem(path.name, None, None, None,
                                 "aucun CQP dans ce fichier : le catalogue n'est pas modifié")])
    problems: list[Problem] = []
    if not _readable(cqps, path.name, CERTIFINFO_COLUMNS, problems):
        raise LoadError(problems)
    date = cqps["Date_MaJ"].str.strip()
    parsed = pd.to_datetime(date.where(date != ""), format="%d/%m/%Y", errors="coerce")
    bad = (date != "") & parsed.isna()
    if bad.any():
        raise LoadError([Problem(path.name, int(i) + 2, "Date_MaJ", date[i],
                                 "date illisible (attendu JJ/MM/AAAA)")
                         for i in cqps.index[bad]])
    rncp = cqps["Code_RNCP"].str.strip()
    rs = cqps["Code_RS"].str.strip()
    recognition = pd.Series("branche_seule", index=cqps.index)
    recognition[rs != ""] = "RS"
    recognition[rncp != ""] = "RNCP"
    code = pd.Series(None, index=cqps.index, dtype=object)
    code[rs != ""] = "RS" + rs[rs != ""]
    code[rncp != ""] = "RNCP" + rncp[rncp != ""]
    return pd.DataFrame({
        "code_diplome": cqps["Code_Diplome"].str.strip(),
        "title": cqps["Libelle_Diplome"].str.strip(),
        "recognition": recognition, "rncp_code": code,
        "level": cqps["Code_Niveau_Europeen"].str.strip().replace("", None),
        "valideur": cqps["valideur"].str.strip().replace("", None),
        "certificateur": cqps["certificateur"].str.strip().replace("", None),
        "updated_on": cqps["Date_MaJ"].str.strip(),
    }).drop_duplicates("code_diplome", keep="last").reset_index(drop=True)


def import_certifinfo(engine: sa.Engine, path: str | Path) -> pd.Series:
    """Build or refresh the catalogue of CQPs; return the count by recognition."""
    catalogue = read_certifinfo(path)
    ensure_schema(engine)
    with engine.begin() as connection:
        connection.execute(schema.catalogue_entry.delete())
        records = catalogue.astype(object).where(catalogue.notna(), None).to_dict("records")
        if records:
            connection.execute(schema.catalogue_entry.insert(), records)
    return catalogue["recognition"].value_counts()
