"""Typer's own words in French: the help's headings and defaults, « Utilisation : », the
help option, and every usage error (unknown option, missing option, invalid value) as one
French sentence with exit status 1, like the command line's other errors.

Typer carries its own copy of click whose messages are written in English in the code (no
translation catalogue reaches them): the help's headings are module settings of
``typer.rich_utils``; the commands and groups are given French classes; a usage error is
said by :func:`usage_error`, which replaces Typer's printer of those errors."""

from __future__ import annotations

import re

import typer
import typer.rich_utils as rich_utils
from rich.console import Console
from rich.text import Text
from typer.core import TyperCommand, TyperGroup

HELP = "Afficher cette aide et quitter."
USAGE = "Utilisation : "


class _French:
    """French help option and usage line."""

    def get_help_option(self, ctx):
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP
        return option

    def format_usage(self, ctx, formatter) -> None:
        formatter.write_usage(ctx.command_path, " ".join(self.collect_usage_pieces(ctx)),
                              prefix=USAGE)


class FrenchCommand(_French, TyperCommand):
    """A command whose help speaks French."""


class FrenchGroup(_French, TyperGroup):
    """A group of commands whose help speaks French."""


#: English messages of Typer's click, as French readers read them.
_VALUES = (
    (re.compile(r"^(?:Value error, )?'(?P<v>.*)' is not one of (?P<c>.*?)\.?$", re.S),
     lambda m: f"« {m['v']} » n'est pas une valeur possible ({_listed(m['c'])})"),
    (re.compile(r"^(?:Value error, )?'?(?P<v>.*?)'? is not a valid (?P<t>integer|float)\.?$"),
     lambda m: f"« {m['v']} » n'est pas un nombre"
               + (" entier" if m["t"] == "integer" else "")),
    (re.compile(r"^(?:Value error, )?(?P<v>.*?) is not in the range (?P<r>.*?)\.?$"),
     lambda m: f"{m['v']} est hors de l'intervalle {m['r']}"),
    (re.compile(r"^(?:Value error, )?Input should be greater than or equal to (?P<n>\S+)"),
     lambda m: f"au moins {m['n']}"),
    (re.compile(r"^(?:Value error, )?Input should be less than or equal to (?P<n>\S+)"),
     lambda m: f"au plus {m['n']}"),
    (re.compile(r"^(?:Value error, )?Input should be a valid integer.*", re.S),
     lambda m: "un nombre entier est attendu"),
)


def _listed(choices: str) -> str:
    return ", ".join(c.strip().strip("'\"") for c in choices.split(","))


def _hint(error) -> str:
    param = getattr(error, "param", None)
    if param is not None and getattr(param, "opts", None):
        return " / ".join(param.opts)
    hint = getattr(error, "param_hint", None)
    if isinstance(hint, list | tuple):
        return " / ".join(hint)
    return str(hint or (param.name if param is not None else "")).strip("'\"")


def in_french(error) -> str:
    """A usage error's message in French."""
    kind = type(error).__name__
    message = str(getattr(error, "message", "") or "")
    if kind == "NoSuchOption":
        near = sorted(getattr(error, "possibilities", None) or [])
        return (f"option inconnue : {error.option_name}"
                + (f" (options proches : {', '.join(near)})" if near else ""))
    if kind == "MissingParameter":
        what = "argument" if getattr(error, "param_type", "") == "argument" else "option"
        return f"{what} obligatoire manquant{'' if what == 'argument' else 'e'} : " \
               f"{_hint(error)}"
    if kind == "BadParameter":
        for pattern, said in _VALUES:
            found = pattern.match(message.strip())
            if found:
                return f"valeur invalide pour {_hint(error)} : {said(found)}"
        return f"valeur invalide pour {_hint(error)} : {message}"
    found = re.match(r"Got unexpected extra argument(?:s|\(s\))? \((?P<a>.*)\)", message)
    if found:
        return f"argument en trop : {found['a']}"
    found = re.match(r"No such command '?(?P<c>[^'.]*)'?\.?", message)
    if found:
        return f"commande inconnue : {found['c']}"
    found = re.match(r"Option '?(?P<o>[^' ]*)'? requires an argument\.?", message)
    if found:
        return f"l'option {found['o']} attend une valeur"
    if message.startswith("Missing command"):
        return "commande manquante"
    return message


def usage_error(error) -> None:
    """Print a usage error as one French sentence and the way to the help; exit status 1
    (Typer's printer of usage errors, replaced)."""
    if type(error).__name__ == "NoArgsIsHelpError":
        return
    console = Console(stderr=True)
    ctx = getattr(error, "ctx", None)
    help_hint = f" (aide : {ctx.command_path} --help)" if ctx is not None else ""
    console.print(Text.assemble(("Erreur :", "bold red"), " ", in_french(error) + help_hint),
                  highlight=False)
    error.exit_code = 1


def install(*apps: typer.Typer) -> None:
    """French words for these Typer applications and their commands."""
    settings = {"DEPRECATED_STRING": "(obsolète) ", "DEFAULT_STRING": "[défaut : {}]",
                "ENVVAR_STRING": "[variable d'environnement : {}]",
                "REQUIRED_LONG_STRING": "[obligatoire]", "ARGUMENTS_PANEL_TITLE": "Arguments",
                "OPTIONS_PANEL_TITLE": "Options", "COMMANDS_PANEL_TITLE": "Commandes",
                "ERRORS_PANEL_TITLE": "Erreur", "ABORTED_TEXT": "Abandon.",
                "RICH_HELP": "Aide : [blue]'{command_path} {help_option}'[/]."}
    for name, value in settings.items():
        setattr(rich_utils, name, value)
    rich_utils.rich_format_error = usage_error
    for app in apps:
        app.info.cls = FrenchGroup
        for command in app.registered_commands:
            command.cls = FrenchCommand
        for group in app.registered_groups:
            group.cls = FrenchGroup
