"""The ``%mlops`` line and cell magics; each subcommand is one call of the Python API."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mlops_lab.config import ConfigError
from mlops_lab.runtime import Lab, LabConnectionError, current_lab
from mlops_lab.store import StoreError

SUBCOMMANDS = ("status", "sql")


@magics_class
class MlopsMagics(Magics):
    """``%mlops`` magics; the lab is attached (or started) on first use."""

    @magic_arguments()
    @argument("subcommand", choices=SUBCOMMANDS, help="What to do: " + ", ".join(SUBCOMMANDS))
    @argument("arguments", nargs="*", help="The subcommand's arguments, e.g. a SQL query.")
    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None) -> Any:
        """Work with the lab from a notebook.

        Subcommands:
          %mlops status              the runtime, the store and the endpoints
          %mlops sql SELECT ...      one read-only SQL query on the store; returns a DataFrame
          %%mlops sql                the query in the cell body

        Examples:
          %mlops sql SELECT endpoint, count(*) AS n FROM requests GROUP BY endpoint
        """
        subcommand, _, rest = line.strip().partition(" ")
        # Only the subcommand goes through the parser: SQL must reach DuckDB verbatim.
        parse_argstring(self.mlops, subcommand)
        handlers: dict[str, Callable[[str], Any]] = {"status": self._status, "sql": self._sql}
        body = "\n".join(part for part in (rest.strip(), (cell or "").strip()) if part)
        try:
            return handlers[subcommand](body)
        except (StoreError, ConfigError, LabConnectionError) as exc:
            raise UsageError(str(exc)) from None

    def _lab(self) -> Lab:
        return current_lab()

    def _status(self, body: str) -> Any:
        if body:
            raise UsageError(f"%mlops status takes no arguments. Got {body!r}.")
        return self._lab().status()

    def _sql(self, body: str) -> Any:
        if not body:
            raise UsageError(
                "%mlops sql needs a query, e.g. `%mlops sql SELECT count(*) FROM requests`, "
                "or the query in the body of a %%mlops sql cell."
            )
        return self._lab().sql(body)
