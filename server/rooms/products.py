"""Product moments: the host pins a product card; members click it; purchases come later.

Pure and synchronous. One product is pinned at a time (pinning another replaces it, as
in live-shopping streams). Clicks and purchases are tallied per product for the host's
console; clicks only count on the product that is pinned now.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from server.ids import MemberId
from server.rooms.errors import InvalidState, ItemNotFound


@dataclass(frozen=True, slots=True)
class Product:
    product_id: str
    title: str
    price: str
    link: str
    image: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "id": self.product_id,
            "title": self.title,
            "price": self.price,
            "image": self.image,
            "link": self.link,
        }


@dataclass(slots=True)
class ProductStats:
    clickers: set[MemberId] = field(default_factory=set)
    clicks: int = 0
    purchases: int = 0

    def to_json(self, product_id: str) -> dict[str, object]:
        return {
            "id": product_id,
            "clicks": self.clicks,
            "clickers": len(self.clickers),
            "purchases": self.purchases,
        }


class ProductShelf:
    """The pinned product of one live room and what people did with the products."""

    def __init__(self) -> None:
        self.pinned: Product | None = None
        self._stats: dict[str, ProductStats] = {}

    def pin(self, product: Product) -> Product | None:
        """Pin ``product``; returns the product it replaced, if any."""
        previous, self.pinned = self.pinned, product
        self._stats.setdefault(product.product_id, ProductStats())
        return previous

    def unpin(self) -> Product:
        if self.pinned is None:
            raise InvalidState("no_product_card")
        product, self.pinned = self.pinned, None
        return product

    def click(self, product_id: str, member: MemberId) -> ProductStats:
        if self.pinned is None or self.pinned.product_id != product_id:
            raise ItemNotFound("pinned_product", product_id)
        stats = self._stats[product_id]
        stats.clicks += 1
        stats.clickers.add(member)
        return stats

    def purchased(self, product_id: str) -> ProductStats:
        """Count a purchase attributed to this room (any product, pinned or not)."""
        stats = self._stats.setdefault(product_id, ProductStats())
        stats.purchases += 1
        return stats

    def stats(self, product_id: str) -> ProductStats | None:
        return self._stats.get(product_id)

    def snapshot(self) -> dict[str, ProductStats]:
        """Every product's figures (first seen first), for a store to save."""
        return dict(self._stats)

    def restore(self, pinned: Product | None, stats: dict[str, ProductStats]) -> None:
        """Take back a saved shelf: its pinned product and ``snapshot``'s figures."""
        self.pinned = pinned
        self._stats = dict(stats)

    def all_stats(self) -> list[dict[str, object]]:
        """Every product's figures in this session, in the order they were first seen."""
        return [stats.to_json(product_id) for product_id, stats in self._stats.items()]
