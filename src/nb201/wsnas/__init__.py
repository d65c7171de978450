"""Weight-sharing NAS on the supernet: RSPS, DARTS-V1, DARTS-V2, GDAS, SETN, ENAS.

from nb201.wsnas import SearchSpec, run_search
rec = run_search(SearchSpec("gdas", "digits", "digits-valid", "digits", seed=777), "data/wsnas/digits")
rec["final"]  # {"arch": "|...|", "arch_index": ...}
"""

from nb201.wsnas.config import (
    METHODS,
    SEARCH_KNOBS,
    SearchSpec,
    chosen_methods,
    load_search_preset,
    resolve_search_config,
    search_preset_names,
)
from nb201.wsnas.methods import (
    METHOD_CLASSES,
    Controller,
    Method,
    gumbel_hard,
    make_method,
    register_method,
    unrolled_alpha_grad,
)
from nb201.wsnas.run import (
    SearchTask,
    finished_searches,
    load_search_records,
    read_search_record,
    run_search,
    run_searches,
)

__all__ = [
    "METHODS",
    "METHOD_CLASSES",
    "SEARCH_KNOBS",
    "Controller",
    "SearchSpec",
    "SearchTask",
    "Method",
    "chosen_methods",
    "finished_searches",
    "gumbel_hard",
    "load_search_preset",
    "load_search_records",
    "make_method",
    "read_search_record",
    "register_method",
    "resolve_search_config",
    "run_search",
    "run_searches",
    "search_preset_names",
    "unrolled_alpha_grad",
]
