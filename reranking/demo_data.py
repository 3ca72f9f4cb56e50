"""Generate a realistic demo shop, deterministically from a seed (no download, no ORM).

Items belong to categories and carry text the encoder can use; end users have tastes (two favourite
categories), shop in sessions, and walk product lines in order (a phone, then its case, then its
charger), so the sequence-aware re-ranker has a pattern to find that popularity cannot.
"""
from __future__ import annotations

import random
from itertools import accumulate
from datetime import datetime, timedelta, timezone

CATALOGUE = {
    "Books": (["Hidden", "Silent", "Last", "Northern", "Golden", "Broken"], ["River", "Garden", "Empire", "Winter", "Code", "Atlas"], ["novel", "paperback", "bestseller", "classic"]),
    "Electronics": (["Ultra", "Smart", "Pro", "Mini", "Wireless", "Quantum"], ["Phone", "Speaker", "Tablet", "Headphones", "Camera", "Watch"], ["gadget", "bluetooth", "usb-c", "battery"]),
    "Home": (["Cozy", "Nordic", "Rustic", "Modern", "Linen", "Velvet"], ["Lamp", "Throw", "Cushion", "Rug", "Vase", "Clock"], ["decor", "living room", "gift", "handmade"]),
    "Outdoor": (["Alpine", "Trail", "Summit", "Coastal", "Rapid", "Canyon"], ["Tent", "Backpack", "Jacket", "Boots", "Lantern", "Bottle"], ["hiking", "camping", "waterproof", "lightweight"]),
    "Kitchen": (["Chef's", "Cast-iron", "Ceramic", "Steel", "Bamboo", "Copper"], ["Pan", "Knife", "Kettle", "Grinder", "Board", "Pot"], ["cooking", "dishwasher-safe", "baking", "coffee"]),
    "Toys": (["Magic", "Rocket", "Jungle", "Pirate", "Robot", "Rainbow"], ["Puzzle", "Blocks", "Kite", "Car", "Doll", "Train"], ["kids", "educational", "family", "creative"]),
    "Beauty": (["Rose", "Aloe", "Citrus", "Charcoal", "Argan", "Lavender"], ["Serum", "Cream", "Shampoo", "Balm", "Mask", "Oil"], ["skincare", "vegan", "organic", "fragrance"]),
    "Sports": (["Power", "Swift", "Core", "Titan", "Aero", "Flex"], ["Dumbbell", "Mat", "Racket", "Ball", "Gloves", "Shoes"], ["fitness", "training", "yoga", "running"]),
}
EPOCH = datetime(2026, 6, 1, tzinfo=timezone.utc)


def generate(
    seed: int = 7, n_users: int = 600, line_length: int = 4, lines_per_category: int = 25, model_numbers: bool = False,
) -> tuple[list[dict], list[dict]]:
    """Return (items, events) as API-shaped dicts. Same seed, same data.

    With model_numbers=True every product line gets a model number in its title, so large catalogues
    (bench/scale.py) have distinct texts the encoder must really embed, as a real shop's would.
    """
    rng = random.Random(seed)
    items: list[dict] = []
    lines: dict[str, list[list[str]]] = {}
    for category, (adjectives, nouns, tags) in CATALOGUE.items():
        lines[category] = []
        for line_no in range(lines_per_category):
            adjective, noun = rng.choice(adjectives), rng.choice(nouns)
            if model_numbers:
                noun = f"{noun} {category[0]}{line_no}"
            line = []
            for step in range(line_length):
                item_id = f"{category[:3].upper()}-{line_no:03d}-{step}"
                edition = ["", " Plus", " Max", " Accessory Kit", " Refill", " Deluxe"][step % 6]
                items.append(
                    {
                        "item_id": item_id,
                        "title": f"{adjective} {noun}{edition}",
                        "description": f"A {adjective.lower()} {noun.lower()} for {rng.choice(tags)} lovers. "
                        f"Part {step + 1} of the {adjective} {noun} line.",
                        "category": category,
                        "tags": rng.sample(tags, 2),
                        "attributes": {"brand": f"{adjective}Co", "line": f"{category}-{line_no}"},
                        "price": round(rng.uniform(5, 300), 2),
                        "available": rng.random() > 0.05,
                    }
                )
                line.append(item_id)
            lines[category].append(line)

    categories = list(CATALOGUE)
    # Popularity is skewed (Zipf-like) within each category, as in real shops.
    weights = [1.0 / (rank + 1) ** 0.8 for rank in range(lines_per_category)]
    cumulative = list(accumulate(weights))  # what rng.choices builds from weights on every call: O(lines) each
    events: list[dict] = []
    for user_no in range(n_users):
        user_id = f"u{user_no:05d}"
        tastes = rng.sample(categories, 2)
        moment = EPOCH + timedelta(hours=rng.uniform(0, 24 * 30))
        for session_no in range(rng.randint(2, 6)):
            session_id = f"{user_id}-s{session_no}"
            category = tastes[0] if rng.random() < 0.6 else (tastes[1] if rng.random() < 0.8 else rng.choice(categories))
            line = rng.choices(lines[category], cum_weights=cumulative)[0]
            walk = line[: rng.randint(2, line_length)]
            for step, item_id in enumerate(walk):
                moment += timedelta(minutes=rng.uniform(1, 20))
                events.append(_event(user_id, item_id, "view", moment, session_id, f"{session_id}-{step}-v"))
                if rng.random() < 0.5:
                    moment += timedelta(seconds=rng.uniform(5, 120))
                    events.append(_event(user_id, item_id, "click", moment, session_id, f"{session_id}-{step}-c"))
                if rng.random() < 0.15:
                    moment += timedelta(minutes=rng.uniform(1, 5))
                    events.append(_event(user_id, item_id, "add_to_cart", moment, session_id, f"{session_id}-{step}-a"))
                    if rng.random() < 0.5:
                        events.append(_event(user_id, item_id, "purchase", moment + timedelta(minutes=2), session_id, f"{session_id}-{step}-p"))
            moment += timedelta(days=rng.uniform(0.5, 6))
    return items, events


def _event(user_id: str, item_id: str, kind: str, moment: datetime, session_id: str, event_id: str) -> dict:
    return {
        "user_id": user_id, "item_id": item_id, "event_type": kind, "timestamp": moment.isoformat(),
        "session_id": session_id, "event_id": event_id,
    }
