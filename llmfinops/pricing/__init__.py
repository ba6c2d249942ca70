"""Prices as data: an effective-dated, tiered price table and the cost engine.

The bundled table (``data/prices.json``) carries an ``as_of`` date and a source for every
price period. Users extend or override it from a file or from code::

    import llmfinops
    from llmfinops.pricing import default_price_table

    table = default_price_table().with_overrides(
        models=[{"id": "llama-70b-internal", "provider": "openai",
                 "prices": [{"input_mtok": "0.40", "output_mtok": "0.40", "source": "our GPU cost"}]}],
        discounts=[{"provider": "anthropic", "multiplier": "0.85"}],
    )
    llmfinops.configure(price_table=table)

See ``docs/price-table.md`` for the schema.
"""

from __future__ import annotations

__all__ = [
    "Cost",
    "ModelPrice",
    "PricePeriod",
    "PriceSet",
    "PriceTable",
    "ProviderDefaults",
    "TierPrice",
    "default_price_table",
    "load_price_table",
]

from ._model import ModelPrice, PricePeriod, PriceSet, ProviderDefaults, TierPrice
from ._table import Cost, PriceTable, default_price_table, load_price_table
