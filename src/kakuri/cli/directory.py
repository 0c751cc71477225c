"""`kakuri directory import FILE --kind staff|partner|partner-domains` and `kakuri directory show`."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

import typer

from kakuri.cli import output, state

app = typer.Typer(help="Our staff and known partner contacts (used against impersonation).", no_args_is_help=True)


class Kind(StrEnum):
    STAFF = "staff"
    PARTNER = "partner"
    PARTNER_DOMAINS = "partner-domains"


@app.command("import")
def import_(
    file: Path = typer.Argument(
        ..., exists=True, dir_okay=False, help="CSV with a header row (or JSON/text of domains)"
    ),
    kind: Kind = typer.Option(..., "--kind", "-k", help="staff, partner, or partner-domains"),
    append: bool = typer.Option(False, "--append", help="Keep people of this kind already imported"),
) -> None:
    """Import a directory; by default it replaces the people of the same kind imported before."""
    from kakuri.store.directory_import import DirectoryError, read_partner_domains, read_people
    from kakuri.store.knowledge import load_knowledge

    knowledge = load_knowledge(state.settings())
    try:
        if kind is Kind.PARTNER_DOMAINS:
            added = knowledge.import_domains(read_partner_domains(file), kind="partner")
            typer.echo(f"{len(added)} new partner domain(s)")
            return
        read = read_people(file, kind.value)
    except DirectoryError as exc:
        raise output.fail(exc, 2) from exc
    count = knowledge.import_people(read.people, replace_kind=None if append else kind.value)
    domains = knowledge.import_domains(read.domains, kind="ours" if kind is Kind.STAFF else "partner")
    typer.echo(f"imported {count} {kind.value} record(s); {len(domains)} new domain(s)")
    for problem in read.skipped[:20]:
        output.echo(f"skipped {problem}", err=True)


@app.command("show")
def show() -> None:
    """List our domains, partner domains and how many people are known."""
    from kakuri.store.knowledge import load_knowledge

    knowledge = load_knowledge(state.settings())
    people = knowledge.people()
    output.echo(f"our domains:     {', '.join(sorted(knowledge.our_domains)) or '-'}")
    output.echo(f"partner domains: {', '.join(sorted(knowledge.partner_domains)) or '-'}")
    typer.echo(f"staff: {sum(p.kind == 'staff' for p in people)}  partners: {sum(p.kind == 'partner' for p in people)}")


def register(root: typer.Typer) -> None:
    root.add_typer(app, name="directory")
