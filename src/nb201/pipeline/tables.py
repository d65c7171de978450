"""The one table formatter of the reports: every number a report shows in a table goes
through `table_html`, so that a column of counts reads `200`, not `200.0`, an accuracy
reads `58.93`, not `58.931818`, a correlation has three decimals, and a unit is in the
header of every column that has one.

A column's *kind* decides its digits and unit. It is inferred from the column's name and
values (`infer_kind`) and can be given explicitly (`kinds={"n": "count"}`). Latency is
stored in seconds (`latency`) and always shown in milliseconds (`latency (ms)`), the
one unit the reports use for it.
"""

from __future__ import annotations

import html
import math
import re
from typing import Any

import numpy as np
import pandas as pd

# kind -> unit appended to a header that does not name one already ("" = none)
KIND_UNITS: dict[str, str] = {
    "count": "",
    "id": "",
    "accuracy": "%",
    "correlation": "",
    "share": "",
    "ms": "ms",
    "seconds": "s",
    "core-seconds": "core-s",
    "hours": "h",
    "core-hours": "core-h",
    "millions": "M",
    "number": "",
    "flag": "",
    "text": "",
}
KINDS = tuple(KIND_UNITS)
MISSING = "—"

_CORRELATION_WORDS = ("kendall", "spearman", "tau", "rho", "pearson")
_ACCURACY_ENDS = ("/x-valid", "/x-test", "/ori-test", "(%)", "%")
_ID_NAMES = ("index", "arch_index", "arch index", "seed", "seeds", "run_id", "epoch")


def _integral(values: pd.Series) -> bool:
    v = pd.to_numeric(values, errors="coerce").dropna()
    return len(v) > 0 and bool(np.all(np.isclose(v, np.round(v), rtol=0, atol=1e-9)))


def _kind_from_name(label: str) -> str | None:
    """The kind a column's name states (its unit or quantity), None when it states none."""
    if "latency" in label:
        return "ms"
    if "accuracy" in label or "acc" in label.split() or label.endswith(_ACCURACY_ENDS):
        return "accuracy"
    if any(w in label for w in _CORRELATION_WORDS):
        return "correlation"
    if any(w in label for w in ("core-hours", "core-h", "cpu hours")):
        return "core-hours"
    if any(w in label for w in ("core-s", "core_seconds", "core-seconds", "cpu s")):
        return "core-seconds"
    if "hours" in label:
        return "hours"
    if "(s)" in label or "seconds" in label or label.endswith(" s") or "wall s" in label:
        return "seconds"
    if "(m)" in label:
        return "millions"
    if re.search(r"\b(share|fraction)\b", label) or label.startswith("p("):
        return "share"
    return None


def infer_kind(name: Any, values: pd.Series) -> str:
    """The kind of a column from its name first (units in names win), then its values.

    Accuracy columns stay decimals even when their values happen to be whole; other
    numeric columns whose every value is whole are counts."""
    label = str(name).lower()
    if values.dtype == bool:
        return "flag"
    numeric = pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values)
    if not numeric:
        as_num = pd.to_numeric(values, errors="coerce")
        if as_num.notna().sum() == 0 or as_num.notna().sum() < values.notna().sum():
            return "text"
    if label in _ID_NAMES or label.endswith(" index"):
        return "id"
    if named := _kind_from_name(label):
        return named
    if pd.api.types.is_integer_dtype(values) or _integral(values):
        return "count"
    return "number"


def significant(value: float, digits: int = 3) -> str:
    """`value` with `digits` significant digits, never in exponent notation, thousands
    separated (57.1, 0.0123, 1,234)."""
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    decimals = max(0, digits - 1 - magnitude)
    return f"{value:,.{decimals}f}"


def format_value(value: Any, kind: str) -> str:
    """One cell of a column of `kind` as text ("—" for a missing value)."""
    if kind not in KIND_UNITS:
        raise ValueError(f"unknown column kind {kind!r}: use one of {', '.join(KINDS)}")
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return MISSING
    if isinstance(value, (list, tuple, set, dict)):
        return ", ".join(map(str, value)) if not isinstance(value, dict) else str(value)
    if kind == "text":
        return str(value)
    if kind == "flag":
        return "yes" if bool(value) else "no"
    try:
        v = float(value)
    except (TypeError, ValueError):
        return str(value)
    if not math.isfinite(v):
        return MISSING
    if kind == "count":
        return f"{round(v):,}"
    if kind == "id":
        return f"{round(v)}"
    if kind == "accuracy":
        return f"{v:.2f}"
    if kind in ("correlation", "millions"):
        return f"{v:.3f}"
    if kind == "share":
        return f"{v:.2f}"
    return significant(v, 3)


def header_with_unit(name: Any, kind: str) -> str:
    """The column header with its kind's unit when the name does not state it already;
    latency, stored in seconds, is shown as `latency (ms)`; accuracy headers carry (%)."""
    label = str(name)
    if kind == "ms" and label.lower() == "latency":
        return "latency (ms)"
    if kind == "accuracy":
        return label if "%" in label else f"{label} (%)"
    unit = KIND_UNITS[kind]
    if not unit or _kind_from_name(label.lower()) == kind:
        return label
    return f"{label} ({unit})"


def _scaled(values: pd.Series, name: Any, kind: str) -> pd.Series:
    if kind == "ms" and str(name).lower() == "latency":
        return pd.to_numeric(values, errors="coerce") * 1e3  # stored in seconds
    return values


def _as_frame(frame: pd.DataFrame | pd.Series) -> pd.DataFrame:
    if isinstance(frame, pd.Series):
        return frame.to_frame(frame.name if frame.name is not None else "value")
    return frame


def column_kinds(
    frame: pd.DataFrame, kinds: dict[str, str] | None = None, default: str | None = None
) -> dict[Any, str]:
    """{column: kind}: the given kinds, the rest inferred (`infer_kind`), where `default`
    replaces the generic "number" (e.g. "accuracy" for a table of accuracies' statistics).
    A kind naming a column the table lacks is an error (a typo would format nothing)."""
    kinds = dict(kinds or {})
    names = {str(c) for c in frame.columns} | {str(frame.index.name)}
    if unknown := sorted(set(kinds) - names):
        raise ValueError(
            f"kinds name columns the table does not have: {unknown}; columns: {list(frame.columns)}"
        )
    if bad := sorted(k for k in kinds.values() if k not in KIND_UNITS):
        raise ValueError(f"unknown column kinds {bad}: use one of {', '.join(KINDS)}")
    if default is not None and default not in KIND_UNITS:
        raise ValueError(f"unknown default kind {default!r}: use one of {', '.join(KINDS)}")
    out = {c: kinds.get(str(c)) or infer_kind(c, frame[c]) for c in frame.columns}
    return {c: default if k == "number" and default and str(c) not in kinds else k for c, k in out.items()}


def format_frame(
    frame: pd.DataFrame | pd.Series, kinds: dict[str, str] | None = None, default: str | None = None
) -> pd.DataFrame:
    """`frame` as text, column by column (and the index), with units in the headers."""
    frame = _as_frame(frame)
    out = {}
    for col, kind in column_kinds(frame, kinds, default).items():
        values = _scaled(frame[col], col, kind)
        out[header_with_unit(col, kind)] = [format_value(v, kind) for v in values]
    text = pd.DataFrame(out, index=frame.index, columns=list(out))
    if not isinstance(frame.index, pd.RangeIndex):
        idx_kind = (kinds or {}).get(str(frame.index.name)) or infer_kind(
            frame.index.name or "", frame.index.to_series()
        )
        text.index = pd.Index(
            [format_value(v, "text" if idx_kind == "number" else idx_kind) for v in frame.index],
            name=frame.index.name,
        )
    return text


def table_html(
    frame: pd.DataFrame | pd.Series,
    kinds: dict[str, str] | None = None,
    index: bool | None = None,
    default: str | None = None,
) -> str:
    """The HTML of a report table: formatted by `format_frame`, numbers right-aligned, in a
    horizontally scrolling container so that a wide table never runs past the page.
    `index` None shows the index unless it is a plain 0..n-1 range."""
    frame = _as_frame(frame)
    text = format_frame(frame, kinds, default)
    align = [
        "txt" if k in ("text", "flag", "id") else "num" for k in column_kinds(frame, kinds, default).values()
    ]
    show_index = (not isinstance(frame.index, pd.RangeIndex)) if index is None else index
    esc = html.escape
    head = ([f"<th>{esc(str(text.index.name or ''))}</th>"] if show_index else []) + [
        f'<th class="{a}">{esc(str(c))}</th>' for c, a in zip(text.columns, align)
    ]
    rows = []
    for label, row in zip(text.index, text.itertuples(index=False)):
        cells = [f"<th>{esc(str(label))}</th>"] if show_index else []
        cells += [f'<td class="{a}">{esc(v)}</td>' for v, a in zip(row, align)]
        rows.append("<tr>" + "".join(cells) + "</tr>")
    return (
        '<div class="nb201-table" style="overflow-x:auto;max-width:100%">'
        '<table class="nb201"><thead><tr>'
        + "".join(head)
        + "</tr></thead><tbody>"
        + "".join(rows)
        + "</tbody></table></div>"
    )


__all__ = [
    "KINDS",
    "column_kinds",
    "format_frame",
    "format_value",
    "header_with_unit",
    "infer_kind",
    "significant",
    "table_html",
]
