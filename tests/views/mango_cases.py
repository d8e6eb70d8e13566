"""Generated Mango cases: documents, selectors over every operator, query options, indexes.

Values come from small pools so that generated selectors match some documents and not others,
and sorts meet ties; every JSON type still appears in every field.
"""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

Doc = dict[str, Any]

SMALL_STRINGS = st.sampled_from(["", "a", "ab", "abc", "B", "b", "ba", "é", "e", "Z", "a.c"])
SMALL_NUMBERS = st.sampled_from([-3, -1, 0, 1, 1.5, 2, 3, 7, 10, 100])
SCALARS = st.none() | st.booleans() | SMALL_NUMBERS | SMALL_STRINGS
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SMALL_STRINGS, inner, max_size=2),
    max_leaves=5,
)
# Mostly the expected type, sometimes anything: type order matters in ranges and sorts.
NUMBER_FIELD = SMALL_NUMBERS | SMALL_NUMBERS | SCALARS
STRING_FIELD = SMALL_STRINGS | SMALL_STRINGS | SCALARS
TAGS = st.lists(SMALL_STRINGS | SMALL_NUMBERS, max_size=4) | SCALARS
OBJ = (
    st.fixed_dictionaries(
        {}, optional={"k": SMALL_NUMBERS | SMALL_STRINGS, "j": VALUES, "a.b": SMALL_NUMBERS}
    )
    | SCALARS
)

FIELDS = ["n", "s", "tags", "obj", "obj.k", "obj.j", "b", "tags.0", "missing", "_id", "obj.a\\.b"]


@st.composite
def documents(draw: st.DrawFn, count: int) -> list[Doc]:
    docs = []
    for i in range(count):
        doc: Doc = {"_id": f"d{i:03d}"}
        doc.update(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "n": NUMBER_FIELD,
                        "s": STRING_FIELD,
                        "tags": TAGS,
                        "obj": OBJ,
                        "b": st.booleans() | st.none(),
                    },
                )
            )
        )
        docs.append(doc)
    return docs


ID_VALUES = st.sampled_from(["d000", "d005", "d01", "d1", "d010", "", "e"])
COMPARABLE = SCALARS | ID_VALUES | st.lists(SCALARS, max_size=2)


def _operator(value: st.SearchStrategy[Any]) -> st.SearchStrategy[dict[str, Any]]:
    compare = st.sampled_from(["$eq", "$ne", "$gt", "$gte", "$lt", "$lte"])
    return st.one_of(
        st.builds(lambda op, v: {op: v}, compare, value),
        st.builds(lambda v: {"$exists": v}, st.booleans()),
        st.builds(
            lambda v: {"$type": v},
            st.sampled_from(["null", "boolean", "number", "string", "array", "object"]),
        ),
        st.builds(lambda v: {"$in": v}, st.lists(value, min_size=1, max_size=3)),
        st.builds(lambda v: {"$nin": v}, st.lists(value, max_size=3)),
        st.builds(lambda v: {"$size": v}, st.integers(0, 3)),
        st.builds(
            lambda d, r: {"$mod": [d, r]}, st.sampled_from([1, 2, 3, -2]), st.integers(-1, 2)
        ),
        st.builds(lambda v: {"$regex": v}, st.sampled_from(["^a", "b", "a.c", "^$", "[A-Z]", "é"])),
        st.builds(lambda v: {"$beginsWith": v}, st.sampled_from(["", "a", "ab", "d0", "B"])),
        st.builds(lambda v: {"$all": v}, st.lists(SMALL_STRINGS | SMALL_NUMBERS, max_size=2)),
        st.builds(lambda v: {"$elemMatch": v}, _element_condition()),
        st.builds(lambda v: {"$allMatch": v}, _element_condition()),
        st.builds(lambda v: {"$keyMapMatch": {"$eq": v}}, st.sampled_from(["k", "j", "a.b", "x"])),
    )


def _element_condition() -> st.SearchStrategy[dict[str, Any]]:
    compare = st.sampled_from(["$eq", "$ne", "$gt", "$lt"])
    return st.builds(lambda op, v: {op: v}, compare, SMALL_NUMBERS | SMALL_STRINGS) | st.builds(
        lambda a, b: {"$gt": a, "$lt": b}, SMALL_NUMBERS, SMALL_NUMBERS
    )


def _field_condition(field: str) -> st.SearchStrategy[Any]:
    value = ID_VALUES if field == "_id" else COMPARABLE
    single = _operator(value)
    return st.one_of(
        value,  # implicit $eq
        single,
        st.builds(lambda a, b: {**a, **b}, single, single),  # several operators: an $and
        st.builds(lambda c: {"$not": c}, single),
    )


def _field_selector() -> st.SearchStrategy[dict[str, Any]]:
    def build(field: str, cond: Any, nested: bool) -> dict[str, Any]:
        if nested and field == "obj.k":
            return {"obj": {"k": cond}}
        return {field: cond}

    return st.sampled_from(FIELDS).flatmap(
        lambda f: st.builds(build, st.just(f), _field_condition(f), st.booleans())
    )


SELECTORS = st.recursive(
    _field_selector(),
    lambda inner: st.one_of(
        st.builds(lambda a, b: {**a, **b}, inner, inner),
        st.builds(lambda xs: {"$and": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$or": xs}, st.lists(inner, min_size=1, max_size=3)),
        st.builds(lambda xs: {"$nor": xs}, st.lists(inner, min_size=1, max_size=2)),
        st.builds(lambda x: {"$not": x}, inner),
        st.sampled_from([{"$and": []}, {"$or": []}, {"$nor": []}, {"n": {"$in": []}}]),
    ),
    max_leaves=4,
)

# Indexes the examples may create (explicit ddoc and name, so all servers agree on both).
INDEXES: dict[str, dict[str, Any]] = {
    "by_n": {"index": {"fields": ["n"]}},
    "by_s_n": {"index": {"fields": ["s", "n"]}},
    "by_obj_k": {"index": {"fields": ["obj.k"]}},
    "by_tags": {"index": {"fields": [{"tags": "desc"}]}},
    "partial_n": {"index": {"fields": ["n"], "partial_filter_selector": {"b": True}}},
}
SORTABLE = ["n", "s", "obj.k", "tags", "_id"]


@st.composite
def queries(draw: st.DrawFn, with_sort: bool = True) -> dict[str, Any]:
    query: dict[str, Any] = {"selector": draw(SELECTORS)}
    if with_sort and draw(st.booleans()):
        fields = draw(st.sampled_from([["n"], ["s"], ["s", "n"], ["obj.k"], ["tags"], ["_id"]]))
        direction = draw(st.sampled_from(["asc", "desc"]))
        query["sort"] = [
            f if direction == "asc" and draw(st.booleans()) else {f: direction} for f in fields
        ]
    if draw(st.booleans()):
        query["limit"] = draw(st.integers(0, 8))
    if draw(st.booleans()):
        query["skip"] = draw(st.integers(0, 3))
    if draw(st.booleans()):
        query["fields"] = draw(
            st.lists(st.sampled_from(["_id", "n", "s", "obj.k", "tags", "missing"]), max_size=3)
        )
    if draw(st.integers(0, 5)) == 0:
        query["use_index"] = draw(
            st.sampled_from(["by_n", ["by_s_n", "by_s_n"], "partial_n", ["by_n", "nope"], "nope"])
        )
    return query


def index_request(name: str) -> dict[str, Any]:
    return {**INDEXES[name], "ddoc": name, "name": name, "type": "json"}
