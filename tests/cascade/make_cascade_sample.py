"""Generate tests/data/cascade_sample.jsonl: 150 support queries answered by three models.

Deterministic (fixed seed, no wall clock): ``python tests/cascade/make_cascade_sample.py``
rewrites the file byte for byte; ``tests/cascade/test_eval.py`` checks that it does.

The shop is "Northwind Outfitters" (outdoor gear, with a "Trail Club" membership). Queries
are easy FAQ lookups (50 %), medium questions that combine two policies with the customer's
numbers (30 %) and hard multi-step ones (20 %: comparisons, calculations, edge cases).
Three models answered each query, cheapest first: ``gpt-6-luna`` (openai), ``gemini-3.8-flash``
(google) and ``gpt-6.1-sol`` (openai). Their accuracy by difficulty is set below; a wrong
answer states a plausible wrong policy, and sometimes hedges ("I'm not sure, but ...").

Signals are simulated the way they behave in practice: each answer has a latent certainty,
higher for correct answers but overlapping; per-token probabilities are near 1 for filler
tokens and near the certainty for the ~15 % of tokens that carry facts (so the 10th
percentile tracks certainty while the mean stays high); the self-reported confidence is the
certainty plus an over-confidence bias. Token counts: a 412-token system prompt, the query,
retrieved order context for medium (+260) and hard (+640) queries, and ~4 characters per
output token (Gemini's tokenizer counts ~4 % more).
"""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import NormalDist
from typing import Any

SEED = 20261188  # of the seeds 20261100-20261299, the one whose realized accuracies are closest to ACCURACY
OUT = Path(__file__).resolve().parents[1] / "data" / "cascade_sample.jsonl"
SYSTEM = (
    "You are Northwind Outfitters' support assistant. Answer from the policy summary below in 1-3 sentences."
)
SYSTEM_TOKENS = 412
MODELS = (("gpt-6-luna", "openai"), ("gemini-3.8-flash", "google"), ("gpt-6.1-sol", "openai"))
ACCURACY = {  # P(correct) by model and difficulty
    "gpt-6-luna": {"easy": 0.96, "medium": 0.80, "hard": 0.40},
    "gemini-3.8-flash": {"easy": 0.97, "medium": 0.88, "hard": 0.62},
    "gpt-6.1-sol": {"easy": 0.98, "medium": 0.95, "hard": 0.87},
}
HEDGE_WHEN_WRONG = {"gpt-6-luna": 0.35, "gemini-3.8-flash": 0.30, "gpt-6.1-sol": 0.20}
HEDGE_WHEN_RIGHT = 0.03
CONTEXT_TOKENS = {"easy": 0, "medium": 260, "hard": 640}

# -- easy FAQ: (paraphrases, correct answer, wrong answers) --------------------------------------
EASY: list[tuple[list[str], str, list[str]]] = [
    (
        [
            "How long do I have to return an item?",
            "What's your return policy?",
            "What is the return window?",
            "How many days do I have to send back an order?",
        ],
        "You can return unused items within 30 days of delivery for a full refund.",
        [
            "You can return unused items within 14 days of delivery for a full refund.",
            "Returns are accepted within 60 days, even if the item was used.",
        ],
    ),
    (
        [
            "How long does a refund take?",
            "When will I get my money back after a return?",
            "How fast are refunds processed?",
        ],
        "Refunds go back to your original payment method within 5-7 business days after we receive the "
        "return.",
        [
            "Refunds are processed within 24 hours of your return request.",
            "Refunds take 2-3 weeks to reach your account.",
        ],
    ),
    (
        [
            "How long does standard shipping take?",
            "When will my order arrive with standard delivery?",
            "Is shipping free?",
        ],
        "Standard shipping takes 3-5 business days and is free on orders over $50.",
        [
            "Standard shipping takes 5-10 business days and is free on orders over $75.",
            "Standard shipping is always free and takes 2 days.",
        ],
    ),
    (
        ["Do you offer express shipping?", "How much is express delivery?", "Can I get my order faster?"],
        "Yes. Express shipping costs $15 and arrives in 1-2 business days within the contiguous US.",
        [
            "Yes. Express shipping costs $25 and arrives the next day anywhere.",
            "Express shipping is $9.99 and takes 3 business days.",
        ],
    ),
    (
        ["Do you ship internationally?", "Can you ship to Canada?", "Do you deliver outside the US?"],
        "Yes, we ship to over 40 countries; international delivery takes 7-14 business days.",
        [
            "No, we only ship within the United States.",
            "Yes, international orders arrive in 3-5 business days.",
        ],
    ),
    (
        ["How do I reset my password?", "I forgot my password.", "My password reset link doesn't work."],
        "Use 'Forgot password' on the sign-in page; we email a reset link that stays valid for 24 hours.",
        [
            "Use 'Forgot password' on the sign-in page; the emailed link is valid for 1 hour.",
            "Please contact support and an agent will reset it for you.",
        ],
    ),
    (
        ["What are your support hours?", "When is customer service open?", "Are you open on Saturday?"],
        "Support is available Monday-Friday 8am-8pm ET and Saturday 9am-5pm ET.",
        [
            "Our support team is available 24/7.",
            "Support is available Monday-Friday 9am-5pm ET; we're closed weekends.",
        ],
    ),
    (
        ["What payment methods do you accept?", "Can I pay with PayPal?", "Do you take Apple Pay?"],
        "We accept Visa, Mastercard, American Express, PayPal and Apple Pay.",
        ["We accept Visa and Mastercard only.", "We accept all major cards, PayPal and cash on delivery."],
    ),
    (
        ["How can I track my package?", "Where do I find my tracking number?"],
        "We email a tracking link when your order ships; it's also under Account > Orders.",
        [
            "I don't have access to your order details, so I can't track it.",
            "Tracking numbers are sent by text message 24 hours after you order.",
        ],
    ),
    (
        ["Do gift cards expire?", "Is there an expiry date on gift cards?"],
        "No, Northwind gift cards never expire.",
        ["Gift cards expire 12 months after purchase.", "Gift cards expire after 3 years of inactivity."],
    ),
    (
        ["How much is Trail Club?", "What does the membership cost?", "What do I get with Trail Club?"],
        "Trail Club costs $49 per year and includes 10% off every order and free express shipping.",
        [
            "Trail Club costs $59 per year and includes 15% off every order.",
            "Trail Club is $4.99 a month with free standard shipping.",
        ],
    ),
    (
        ["What warranty do you offer?", "Is there a warranty on your products?"],
        "Northwind-brand gear has a 2-year warranty; third-party brands carry a 1-year warranty through us.",
        ["All products have a 1-year warranty.", "Northwind gear has a lifetime warranty."],
    ),
    (
        ["Can I exchange for a different size?", "Do you do size exchanges?"],
        "Yes, size exchanges are free within 30 days of delivery.",
        ["Yes, but exchanges cost $7.95 for return shipping.", "Size exchanges are possible within 14 days."],
    ),
    (
        ["Do you price match?", "Will you match a lower price?"],
        "Yes, we match identical items from major retailers within 14 days of your purchase.",
        ["We don't offer price matching.", "We match any online price within 30 days."],
    ),
]

ITEMS = ("tent", "rain jacket", "sleeping bag", "pair of hiking boots", "backpack", "camp stove", "headlamp")
BRANDS = ("Petzl", "Black Diamond", "MSR", "Osprey")


def medium(rng: random.Random) -> tuple[str, str, list[str]]:
    """A question combining two policies with the customer's own numbers."""
    kind = rng.randrange(5)
    item = rng.choice(ITEMS)
    if kind == 0:
        d = rng.randrange(8, 46)
        q = (
            f"I bought a {item} {d} days ago and never used it. Can I still return it, and how long until I "
            "get my refund?"
        )
        if d <= 30:
            good = (
                f"Yes, {d} days is inside the 30-day return window. Once we receive it, the refund takes "
                "5-7 business days."
            )
            bad = [
                f"No, the return window is 14 days, so after {d} days it can't be returned.",
                "Yes, and the refund is instant once you print the label.",
            ]
        else:
            good = (
                f"No, {d} days is past the 30-day return window. If it's faulty, the warranty may still "
                "cover it."
            )
            bad = [
                "Yes, unused items can be returned within 60 days; the refund takes 5-7 business days.",
                "Yes, as long as it's unused there is no time limit.",
            ]
    elif kind == 1:
        amt = rng.randrange(28, 95)
        q = f"My cart is ${amt}. Will I get free shipping, and when would it arrive?"
        if amt >= 50:
            good = "Yes, orders over $50 ship free with standard shipping, which takes 3-5 business days."
            bad = [
                "No, free shipping starts at $75; standard shipping takes 3-5 business days.",
                "Yes, and it arrives in 1-2 business days.",
            ]
        else:
            good = (
                f"Not yet: free standard shipping starts at $50, so you're ${50 - amt} short. Standard "
                "shipping takes 3-5 business days."
            )
            bad = [
                "Yes, every order ships free and arrives in 3-5 business days.",
                f"No, you're ${75 - amt} short of the $75 free-shipping minimum.",
            ]
    elif kind == 2:
        m = rng.choice((10, 20, 35, 50, 75, 90, 120, 180))
        q = f"I placed an order {m} minutes ago with the wrong shipping address. Can I still change it?"
        if m <= 60:
            good = "Yes. Within the first hour you can edit the address under Account > Orders > Edit."
            bad = [
                "No, addresses can't be changed once an order is placed.",
                "Yes, you can change it any time before delivery under Account > Orders.",
            ]
        else:
            good = (
                "The 1-hour edit window has passed, so you can't change it in your account; reply to your "
                "order email before it ships and we'll try to redirect it."
            )
            bad = [
                "Yes, you can edit the address under Account > Orders > Edit until it ships.",
                "You have 24 hours to change it under Account > Orders > Edit.",
            ]
    elif kind == 3:
        d = rng.randrange(5, 25)
        q = (
            f"I bought a {item} {d} days ago and just saw it cheaper at another big retailer. Can you match "
            "the price?"
        )
        if d <= 14:
            good = (
                f"Yes, {d} days is within our 14-day price-match window; send us the link and we'll refund "
                "the difference."
            )
            bad = [
                "No, price matching only applies before you buy.",
                "Yes, we match prices within 30 days and add a 10% bonus.",
            ]
        else:
            good = f"Unfortunately not: price matching covers 14 days after purchase, and it's been {d} days."
            bad = [
                f"Yes, we match prices within 30 days, so {d} days still qualifies.",
                "Yes, just send us the link and we'll refund the difference.",
            ]
    else:
        d = rng.randrange(5, 60)
        q = f"I joined Trail Club {d} days ago. If I cancel now, do I get any money back?"
        if d <= 30:
            good = "Yes. You can cancel anytime, and in the first 30 days you get a prorated refund."
            bad = ["No, memberships are non-refundable.", "Yes, you get a full $49 refund at any time."]
        else:
            good = (
                f"You can cancel anytime, but prorated refunds only apply in the first 30 days, so after "
                f"{d} days there's no refund."
            )
            bad = [
                "Yes, you'll get a prorated refund for the unused months.",
                "Yes, you get a full refund within the first 90 days.",
            ]
    return q, good, bad


def hard(rng: random.Random) -> tuple[str, str, list[str]]:
    """Multi-step questions: comparisons, calculations, edge cases."""
    kind = rng.randrange(4)
    if kind == 0:
        n = rng.randrange(3, 9)
        avg = rng.randrange(60, 180, 5)
        q = (
            f"I order about {n} times a year, usually around ${avg} each time, and I always pay for express "
            "shipping. Compare Trail Club with paying per order and recommend which is cheaper for me."
        )
        without = 15 * n
        saved = 15 * n + round(0.10 * n * avg)
        net = saved - 49
        if net > 0:
            good = (
                f"Trail Club: it costs $49 and saves you about ${saved} a year (${without} of express fees "
                "plus "
                f"${round(0.10 * n * avg)} from 10% off), so you come out about ${net} ahead."
            )
        else:
            good = f"Paying per order: Trail Club's $49 fee is more than the ${saved} it would save you."
        bad = [
            f"Paying per order is cheaper: express costs ${without} a year and Trail Club is $59.",
            f"Trail Club saves you about ${saved + 40} a year because it includes 15% off.",
            "I'm not sure, but Trail Club is usually worth it for frequent shoppers.",
        ]
    elif kind == 1:
        d = rng.randrange(35, 300)
        brand = rng.choice(BRANDS)
        q = (
            f"I bought a {brand} headlamp {d} days ago and it stopped working. It's not a Northwind brand. "
            "Analyze my options: can I return it, exchange it, or use the warranty?"
        )
        if d <= 365:
            good = (
                f"It's past the 30-day return and exchange window, but third-party brands carry a 1-year "
                f"warranty through us, so at {d} days you can file a warranty claim."
            )
        else:
            good = "It's past both the 30-day return window and the 1-year third-party warranty."
        bad = [
            "You can return it for a full refund because it's defective.",
            f"Only Northwind-brand gear has a warranty, so a {brand} headlamp isn't covered.",
            "You can exchange it for free within 90 days.",
        ]
    elif kind == 2:
        days = rng.choice((4, 5, 6))
        q = (
            f"I live in Toronto and need a tent within {days} days for a trip. Evaluate whether express "
            "shipping "
            "works for me and what it would cost compared with standard international delivery."
        )
        good = (
            "Express (1-2 business days, $15) only ships within the contiguous US; Canadian orders go "
            f"international, which takes 7-14 business days, so it won't arrive within {days} days."
        )
        bad = [
            "Yes, express shipping to Canada costs $15 and arrives in 1-2 business days.",
            "Express to Canada costs $25 and takes 3 days, so it will arrive in time.",
            "International standard delivery takes 3-5 business days, so standard works.",
        ]
    else:
        a = rng.randrange(20, 120)
        b = rng.randrange(20, 120)
        q = (
            f"I returned two items: a ${a} fleece paid with a gift card and a ${b} water filter paid by "
            "Visa. "
            "Explain how and when each refund comes back, and compare the timing."
        )
        good = (
            f"Refunds go to the original payment method: the ${a} is re-credited to your gift card and the "
            f"${b} goes back to your Visa within 5-7 business days after we receive the items."
        )
        bad = [
            f"Both refunds (${a + b} in total) go to your Visa within 5-7 business days.",
            f"The ${a} comes back as store credit after 30 days and the Visa refund takes 2-3 weeks.",
            "I cannot determine the refund timing without your order number.",
        ]
    return q, good, bad


def clip(x: float, lo: float, hi: float) -> float:
    return max(lo, min(hi, x))


def hedge(text: str) -> str:
    return "I'm not sure, but " + text[0].lower() + text[1:]


def tokens_of(text: str) -> int:
    return max(4, round(len(text) / 4))


def answer(
    rng: random.Random,
    model: str,
    provider: str,
    difficulty: str,
    good: str,
    bad: list[str],
    input_tokens: int,
    shared: float,
) -> dict[str, Any]:
    # Errors correlate across models (a question that trips one model tends to trip the others):
    # a shared per-query draw plus the model's own, mixed to a standard normal.
    z = 0.75 * shared + math.sqrt(1 - 0.75**2) * rng.gauss(0, 1)
    correct = NormalDist().cdf(z) < ACCURACY[model][difficulty]
    if correct:
        text = good
        certainty = clip(rng.gauss(0.83, 0.09), 0.35, 0.995)
        if rng.random() < HEDGE_WHEN_RIGHT:
            text = hedge(text)
    else:
        text = rng.choice(bad)
        certainty = clip(rng.gauss(0.55, 0.15), 0.05, 0.97)
        if not text.startswith("I") and rng.random() < HEDGE_WHEN_WRONG[model]:
            text = hedge(text)
    if model == "gpt-6.1-sol" and correct and rng.random() < 0.5:
        text += " Let me know if you need anything else."
    out = tokens_of(text)
    key = max(2, round(out * 0.15))
    probs = [1 - rng.random() * 0.08 for _ in range(out - key)]
    probs += [clip(certainty + rng.gauss(0, 0.12), 0.01, 0.999) for _ in range(key)]
    rng.shuffle(probs)
    logprobs = [round(math.log(p), 3) for p in probs]
    confidence = round(clip(certainty + 0.12 + rng.gauss(0, 0.08), 0.05, 0.99), 2)
    inp = input_tokens if provider != "google" else round(input_tokens * 1.04)
    row: dict[str, Any] = {
        "provider": provider,
        "text": text,
        "correct": correct,
        "input_tokens": inp,
        "output_tokens": out,
    }
    if model != "gpt-6.1-sol":  # the strongest model is never scored: its logprobs were not logged
        row["logprobs"] = logprobs
    row["confidence"] = confidence
    return row


def generate() -> list[dict[str, Any]]:
    rng = random.Random(SEED)
    plan = ["easy"] * 75 + ["medium"] * 45 + ["hard"] * 30
    rng.shuffle(plan)
    start = datetime(2026, 11, 10, 8, 0, tzinfo=UTC)
    rows: list[dict[str, Any]] = []
    for i, difficulty in enumerate(plan):
        if difficulty == "easy":
            paraphrases, good, bad = rng.choice(EASY)
            query = rng.choice(paraphrases)
        elif difficulty == "medium":
            query, good, bad = medium(rng)
        else:
            query, good, bad = hard(rng)
        input_tokens = SYSTEM_TOKENS + tokens_of(query) + CONTEXT_TOKENS[difficulty]
        shared = rng.gauss(0, 1)
        when = start + timedelta(minutes=round(i * 13 * 60 / 15 + rng.random() * 40))
        rows.append(
            {
                "id": f"q{i + 1:03d}",
                "timestamp": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "category": difficulty,
                "query": query,
                "answers": {
                    m: answer(rng, m, p, difficulty, good, bad, input_tokens, shared) for m, p in MODELS
                },
            }
        )
    return rows


def render() -> str:
    return "".join(json.dumps(r, ensure_ascii=False, separators=(",", ":")) + "\n" for r in generate())


if __name__ == "__main__":
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUT} ({OUT.stat().st_size} bytes)")
