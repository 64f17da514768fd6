"""Table-driven filter semantics: (filter, ids expected to match) over one fixed corpus.

Every provider must return exactly these ids; the memory provider's ``filters.evaluate`` is
checked against the same table.
"""

from __future__ import annotations

CORPUS: dict[str, dict] = {
    "a": {"category": "news", "year": 2020, "score": 1.5, "published": True, "tag": "x"},
    "b": {"category": "news", "year": 2022, "score": 3, "published": False},
    "c": {"category": "blog", "year": 2024, "score": 0.5, "published": True, "tag": "y"},
    "d": {"category": "blog", "year": 1, "published": 1},
    "e": {"category": "docs", "year": "2021", "score": -2},
    "f": {},
}

CASES: list[tuple[str, dict, set[str]]] = [
    ("eq_implicit", {"category": "news"}, {"a", "b"}),
    ("eq_explicit", {"category": {"$eq": "blog"}}, {"c", "d"}),
    ("eq_missing_key_fails", {"tag": "x"}, {"a"}),
    ("eq_bool_not_int", {"published": True}, {"a", "c"}),
    ("eq_int_not_bool", {"published": 1}, {"d"}),
    ("eq_number_int_float", {"score": 3.0}, {"b"}),
    ("eq_string_not_number", {"year": 2021}, set()),
    ("eq_string_value", {"year": "2021"}, {"e"}),
    ("ne_passes_missing", {"category": {"$ne": "news"}}, {"c", "d", "e", "f"}),
    ("ne_bool", {"published": {"$ne": True}}, {"b", "d", "e", "f"}),
    ("in_list_shorthand", {"category": ["news", "docs"]}, {"a", "b", "e"}),
    ("in_explicit", {"category": {"$in": ["blog"]}}, {"c", "d"}),
    ("in_mixed_types", {"year": {"$in": [2020, "2021"]}}, {"a", "e"}),
    ("nin_passes_missing", {"tag": {"$nin": ["x"]}}, {"b", "c", "d", "e", "f"}),
    ("gt", {"year": {"$gt": 2020}}, {"b", "c"}),
    ("gte", {"year": {"$gte": 2020}}, {"a", "b", "c"}),
    ("lt_skips_strings", {"year": {"$lt": 3000}}, {"a", "b", "c", "d"}),
    ("lte_float", {"score": {"$lte": 1.5}}, {"a", "c", "e"}),
    ("range_both_ends", {"year": {"$gte": 2020, "$lt": 2024}}, {"a", "b"}),
    ("range_negative", {"score": {"$lt": 0}}, {"e"}),
    ("exists_true", {"tag": {"$exists": True}}, {"a", "c"}),
    ("exists_false", {"score": {"$exists": False}}, {"d", "f"}),
    ("and_implicit", {"category": "news", "published": True}, {"a"}),
    ("and_explicit", {"$and": [{"category": "blog"}, {"year": {"$gt": 2000}}]}, {"c"}),
    ("or", {"$or": [{"category": "docs"}, {"tag": "y"}]}, {"c", "e"}),
    (
        "nested_or_in_and",
        {"$and": [{"$or": [{"category": "news"}, {"category": "blog"}]}, {"published": True}]},
        {"a", "c"},
    ),
    (
        "or_with_ne",
        {"$or": [{"tag": {"$ne": "x"}}, {"year": 2020}]},
        {"a", "b", "c", "d", "e", "f"},
    ),
    ("gt_bool_not_number", {"published": {"$gt": 0}}, {"d"}),
]
