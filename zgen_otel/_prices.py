"""Prices of LLM models and the process-wide price table that turns token counts into ``zgen.llm.cost``.

Nothing here records telemetry: `zgen_otel.llm` (and `zgen_otel.genai`) read the table set with
`set_price_table` when a call ends. The public names are imported from `zgen_otel.llm`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from zgen_otel._util import safe_repr
from zgen_otel._validate import finite_float
from zgen_otel.exceptions import DefinitionError, NotFoundError

__all__ = ["Price", "PriceTable", "price_table", "set_price_table"]


@dataclass(frozen=True)
class Price:
    """Price of one model per million input and output tokens.

    Attributes:
        input_per_million: what a million input (prompt) tokens cost, in the table's currency.
        output_per_million: what a million output (completion) tokens cost, in the table's currency.
    """

    input_per_million: float
    output_per_million: float


class PriceTable:
    """Prices per model (no network: you supply them), turning token counts into a cost.

    Args:
        prices: model -> ``Price`` or ``(input_per_million, output_per_million)``.
        currency: the unit of ``zgen.llm.cost`` (e.g. ``"USD"``).
        strict: an unknown model raises ``NotFoundError`` (a ``LookupError``; otherwise its cost is simply not
            recorded).

    Raises:
        TypeError: ``prices`` is not a mapping.
        DefinitionError: an empty currency or model name, or a price that is not two finite numbers >= 0.
    """

    def __init__(self, prices: Mapping[str, Price | tuple[float, float]], currency: str = "USD", strict: bool = False):
        if not isinstance(prices, Mapping):
            got = safe_repr(prices)
            raise TypeError(f"prices must be a mapping of model name to (input, output) prices; got {got}")
        if not isinstance(currency, str) or not currency:
            raise DefinitionError(f"currency must be a non-empty str such as 'USD'; got {safe_repr(currency)}")
        self.currency = currency
        self.strict = strict
        self._prices: dict[str, Price] = {}
        for model, price in prices.items():
            if not isinstance(model, str) or not model:
                raise DefinitionError(f"model names must be non-empty str; got {safe_repr(model)}")
            if isinstance(price, Price):
                p = price
            elif isinstance(price, (tuple, list)) and len(price) == 2:
                p = Price(*price)
            else:
                raise DefinitionError(
                    f"price of {safe_repr(model)} must be a Price or (input, output) per million tokens; "
                    f"got {safe_repr(price)}"
                )
            for value in (p.input_per_million, p.output_per_million):
                if not _non_negative(value):
                    got = safe_repr(price)
                    raise DefinitionError(f"price of {safe_repr(model)} must be finite numbers >= 0; got {got}")
            self._prices[model] = p

    @classmethod
    def from_file(cls, path: str | Path, strict: bool = False) -> PriceTable:
        """Load a price table from a JSON file, so that prices can change without a code change.

        The file reads ``{"currency": "USD", "models": {"m": {"input": 0.15, "output": 0.6}}}``: the prices per
        million tokens of each model; ``currency`` is optional (``USD``).

        Args:
            path: the JSON file.
            strict: as for `PriceTable`: an unknown model raises ``NotFoundError`` when a call is priced.

        Returns:
            The table of the file's prices.

        Raises:
            OSError: the file cannot be read.
            DefinitionError: (a ``ValueError``) the file is not JSON or not shaped as above (naming the file and
                what is wrong), an empty currency or model name, or a price < 0 or not finite.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except ValueError as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise DefinitionError(f"price file {str(path)!r} is not JSON: {exc}") from None
        models = data.get("models", {}) if isinstance(data, dict) else None
        if not isinstance(models, dict):
            raise DefinitionError(f'price file {str(path)!r} must hold an object with "models": {{"<model>": '
                                  '{"input": <price>, "output": <price>}}')  # fmt: skip
        prices = {}
        for model, price in models.items():
            pair = (price.get("input"), price.get("output")) if isinstance(price, dict) else (None, None)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in pair):
                raise DefinitionError(f"price file {str(path)!r}: model {model!r} needs numbers \"input\" and "
                                      f"\"output\" (per million tokens); got {safe_repr(price)}")  # fmt: skip
            prices[model] = (float(pair[0]), float(pair[1]))  # type: ignore[arg-type]
        return cls(prices, currency=str(data.get("currency", "USD")), strict=strict)

    def knows(self, model: str) -> bool:
        """Whether the table has a price for ``model``.

        Args:
            model: a model name, as the table's keys spell it.

        Returns:
            True when the table has a price for it.
        """
        return model in self._prices

    def priced_model(self, model: str | None, response_model: str | None = None) -> str | None:
        """The model a call is priced by: its response model when the table knows it, else the requested one.

        Args:
            model: the model the call asked for.
            response_model: the model that answered (the response names it), when known.

        Returns:
            ``response_model`` or ``model``, whichever the table knows first; None when it knows neither (the
            call has no price).
        """
        for candidate in (response_model, model):
            if candidate is not None and candidate in self._prices:
                return candidate
        return None

    def call_cost(
        self, model: str, response_model: str | None, input_tokens: float, output_tokens: float
    ) -> float | None:
        """The cost of one call, priced as `priced_model` says; None when it has no price.

        Args:
            model: the model the call asked for.
            response_model: the model that answered, or None; its price wins when the table knows it.
            input_tokens: the call's input (prompt) tokens.
            output_tokens: the call's output (completion) tokens.

        Returns:
            The cost in the table's currency; None when the table knows neither model (not in strict mode).

        Raises:
            NotFoundError: (a ``LookupError``) no price for either model, in strict mode.
            ValueError: a cost beyond the float range.
        """
        return self.cost(self.priced_model(model, response_model) or model, input_tokens, output_tokens)

    def cost(self, model: str, input_tokens: float, output_tokens: float) -> float | None:
        """The cost of a call to one model: its tokens times the model's prices per million.

        Args:
            model: the model whose price applies.
            input_tokens: the call's input (prompt) tokens.
            output_tokens: the call's output (completion) tokens.

        Returns:
            The cost in the table's currency; None for a model the table does not know (not in strict mode).

        Raises:
            NotFoundError: (a ``LookupError``) the table does not know ``model``, in strict mode.
            ValueError: a cost beyond the float range.
        """
        price = self._prices.get(model)
        if price is None:
            if self.strict:
                raise NotFoundError(f"no price for model {safe_repr(model)}; known: {sorted(self._prices)}")
            return None
        cost = (input_tokens * price.input_per_million + output_tokens * price.output_per_million) / 1e6
        if not math.isfinite(cost):
            raise ValueError(
                f"the cost of {input_tokens} input and {output_tokens} output tokens of {model!r} is beyond the "
                f"float range (prices {price})"
            )
        return cost


def _non_negative(value: object) -> bool:
    """Whether ``value`` is a finite int or float >= 0 (bools and ints beyond the float range are not)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    number = finite_float(value)
    return number is not None and number >= 0


_table: PriceTable | None = None


def price_table() -> PriceTable | None:
    """The price table that prices LLM calls now, as `set_price_table` set it.

    Returns:
        The table in use; None when there is none (no cost is recorded).
    """
    return _table


def set_price_table(table: PriceTable | None) -> None:
    """Use ``table`` for ``zgen.llm.cost`` from now on (None: record no cost).

    The table is process-wide and stays in use when ``zgen_otel.configure()`` runs again;
    ``zgen_otel.testing.reset()`` forgets it.

    Args:
        table: the prices to use, or None to stop recording costs.

    Raises:
        TypeError: ``table`` is neither a `PriceTable` nor None.
    """
    global _table
    if table is not None and not isinstance(table, PriceTable):
        raise TypeError(f"table must be a PriceTable or None; got {safe_repr(table)}")
    _table = table
