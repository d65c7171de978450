"""Every notebook's parameters, typed, and the pipeline profiles that set them.

Each notebook's knobs are a dataclass here (type, default, one-line help). Its defaults are
the only definition of the notebook's defaults: the notebook's `parameters` cell repeats
them verbatim (a test parses the cell and compares, so they cannot drift), and a profile
(`configs/pipelines/<name>.toml`) states only what differs from them. `--set
NOTEBOOK.PARAM=VALUE` and every profile table are checked against these dataclasses before
any notebook runs, with errors that name the key, the file and the known keys.
"""

from __future__ import annotations

import ast
import re
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from pathlib import Path, PurePosixPath
from typing import Any

from nb201.config import (
    ConfigError,
    SearchConfig,
    TrainConfig,
    check_field,
    defaults,
    field_names,
    from_table,
    knob,
    read_toml,
)
from nb201.pipeline.precheck import algorithm_names, check_notebook, train_preset_names, ws_method_names


@dataclass(frozen=True)
class TrainParams:
    """01_train: build a benchmark's run records."""

    dataset: str = knob(
        "digits", "dataset: digits (embedded) | cifar10 | cifar100 | ImageNet16-120 | folder:<dir or .zip>"
    )
    split: str = knob("digits", 'split (README "Split semantics"): digits | cifar10-valid | cifar10 | ...')
    archs: str | list[str] = knob(
        "sample-distinct:24",
        "all | unique | distinct | sample:N | sample-distinct:N | benchmark:<folder> | list",
    )
    arch_seed: int = knob(0, "seed of the architecture sample")
    exclude_csv: str | None = knob(None, 'CSV with an "arch" column: samples skip their functional classes')
    preset: str = knob(
        "digits-cheap", "training preset: a file in src/nb201/configs/presets/", known=train_preset_names
    )
    fidelity: dict[str, Any] = knob({}, "overrides of the preset, e.g. {'C': 8, 'epochs': 4}", of=TrainConfig)
    seeds: list[int] = knob([777, 888], "training seeds (the paper uses 777, 888, 999)")
    dedup: bool = knob(True, "train one representative per functional class, share its record")
    engine: str = knob("local", "local (in-process) | ray (a Ray cluster)", choices=("local", "ray"))
    engine_options: dict[str, Any] = knob({}, "options of the engine, e.g. {'num_threads': 1} for local")
    data_root: str | None = knob(None, "folder with the official archives (None: data/raw)")
    runs_dir: str = knob("data/runs/digits", "where the run records (one JSON file per run) are written")
    curves_to_show: int = knob(6, "how many learning curves to plot", low=0)
    sidecar: str = knob("reports/01_train.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class AggregateParams:
    """02_aggregate: run records -> benchmark store."""

    runs_dir: str | list[str] = knob("data/runs/digits", "folder(s) of run records to aggregate")
    benchmark_dir: str = knob("data/benchmarks/digits", "benchmark folder to create or extend")
    show_failed: int = knob(20, "how many failed runs to list", low=0)
    sidecar: str = knob("reports/02_aggregate.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class AnalysisParams:
    """03_analysis: the paper's analyses of one benchmark."""

    benchmark: str = knob("data/benchmarks/digits", "benchmark folder (built or imported)")
    rank_by: str | None = knob(None, '"<split>/<set>" that ranks architectures; None: last split\'s test set')
    top_k: int = knob(10, "size of the top-k for the op-frequency heatmap", low=1)
    top_rows: int = knob(10, "rows of the top-architectures table", low=1)
    n_boot: int = knob(1000, "bootstrap resamples for the correlation intervals", low=1)
    max_scatter: int = knob(5000, "at most this many points per scatter plot", low=1)
    sidecar: str = knob("reports/03_analysis.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class SearchParams:
    """04_search: NAS algorithms on a benchmark's simulated clock."""

    benchmark: str = knob("data/benchmarks/digits", "benchmark folder (ours, or an imported official one)")
    algorithms: list[str] = knob(
        ["RS", "REA", "REINFORCE", "BOHB"],
        "registered names (nb201.search.ALGORITHMS)",
        known=algorithm_names,
    )
    runs: int = knob(500, "independent runs per algorithm (the paper: 500)", low=1)
    budget: float | None = knob(None, "simulated seconds per run; None: the budget rule of nb201.search")
    search_dataset: str | None = knob(
        None, "split searched on; None: cifar10-valid if present, else the only one"
    )
    search_hp: str | None = knob(None, 'schedule of the reward; None: "12" if present, else the only one')
    settings: dict[str, dict[str, Any]] = knob(
        {}, "per-algorithm settings, e.g. {'REA': {'population_size': 10}}", known=algorithm_names
    )
    workers: int = knob(1, "processes for the runs", low=1)
    seed: int = knob(0, "master seed: run r of every algorithm derives its seed from it")
    one_shot_records: str | None = knob(
        None, "folder of one-shot search records (nb201.search/1) for the leaderboard; None: none"
    )
    one_shot_benchmark: str | None = knob(
        None, "benchmark folder the one-shot archs are looked up in; None: benchmark"
    )
    trajectories: str | None = knob(
        None, "file to export every query of every run to (.parquet/.csv); None: not exported"
    )
    sidecar: str = knob("reports/04_search.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class FidelityParams:
    """05_fidelity: the fidelity study on the calibration architectures."""

    calibration_csv: str = knob(
        "../shared/calibration/nb201-calibration-60.csv", "full-protocol accuracies of 60 calibration archs"
    )
    dataset: str = knob(
        "folder:../shared/datasets/cifar10-jpeg.zip", "CIFAR-10 images (class-per-folder zip)"
    )
    split: str = knob("cifar10-jpeg", "train on all 50k training images, evaluate on the 10k test images")
    grid: str | None = knob(
        None, "fidelity grid TOML; None: the shipped src/nb201/configs/fidelity_grid.toml"
    )
    points: list[str] | None = knob(None, "names of the grid points to run and score; None: every point")
    run_training: bool = knob(True, "False: only score the records that already exist")
    runs_dir: str = knob("data/fidelity/runs", "the study's run records")
    limit_archs: int | None = knob(
        None, "train only the first N calibration archs per point; None: all", low=1
    )
    num_threads: int = knob(1, "torch threads per run", low=1)
    n_boot: int = knob(1000, "bootstrap resamples for the confidence intervals", low=1)
    benchmark_preset: str = knob(
        "cpu-cifar", "the preset the committed benchmark was built at", known=train_preset_names
    )
    sidecar: str = knob("reports/05_fidelity.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class WeightSharingParams:
    """06_weight_sharing: the six weight-sharing methods, evaluated through a benchmark."""

    methods: list[str] | None = knob(
        None, "weight-sharing methods; None: every registered one", known=ws_method_names
    )
    seeds: list[int] = knob([777, 888], "one search per (method, seed)")
    dataset: str = knob("digits", 'dataset searched on: "digits", "cifar10", or "folder:<zip or folder>"')
    split: str = knob("digits-valid", 'the search split: it must have a valid half (the "-valid" form)')
    preset: str = knob("digits", "search preset (nb201/configs/search/<name>.toml)")
    overrides: dict[str, Any] = knob(
        {}, "search knob overrides, e.g. {'epochs': 2}; they change the run ids", of=SearchConfig
    )
    data_root: str | None = knob(None, "where relative dataset paths are found (None: as given)")
    searches_dir: str = knob(
        "data/wsnas/digits/searches", "search records and checkpoints; re-running resumes"
    )
    run_missing: bool = knob(
        True, "False: report only the searches finished in searches_dir; the others are listed, not run"
    )
    benchmark: str = knob("data/benchmarks/digits", "the benchmark the derived archs are looked up in")
    benchmark_from: str | None = knob(None, "if set and `benchmark` does not exist yet: copy this one there")
    bench_dataset: str = knob("digits", "the dataset of the benchmark's runs")
    bench_split: str = knob("digits", "the benchmark's split whose accuracies are reported")
    bench_preset: str = knob(
        "digits-cheap", "the benchmark's training preset (its fidelity)", known=train_preset_names
    )
    bench_fidelity: dict[str, Any] = knob(
        {}, "fidelity overrides used by the runs of the benchmark", of=TrainConfig
    )
    runs_dir: str = knob(
        "data/runs/digits", "run records of archs the benchmark lacked (its own runs folder)"
    )
    measure_epochs: list[int] = knob(
        [10, 25, 50, 100, 250], "besides every final arch, the archs derived after these epochs are measured"
    )
    max_new: int = knob(10, "at most this many missing archs are trained", low=0)
    whole_space: str | None = knob(
        None, "estimated whole-space benchmark for instant lookups of every derived arch; None: none"
    )
    whole_dataset: str = knob("cifar10", "its dataset whose estimate is reported")
    whole_metric: str = knob("ori-test-accuracy", "its estimated metric (cifar10: the test set)")
    multi_trial: list[str] = knob(
        ["RS", "REA"], "multi-trial algorithms run on it at each method's core-hours"
    )
    multi_trial_runs: int = knob(100, "runs per algorithm and method in that comparison", low=1)
    num_threads: int = knob(1, "torch threads per search / training", low=1)
    engine: str = knob(
        "local", "where the searches run: local (in-process) | ray (a Ray cluster)", choices=("local", "ray")
    )
    engine_options: dict[str, Any] = knob(
        {}, "options of the Ray engine, e.g. {'address': 'auto', 'num_cpus': 2}"
    )
    sidecar: str = knob("reports/06_weight_sharing.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class RankingParams:
    """07_ranking: zero-cost proxies, learning curves and fitted rankers vs the full protocol."""

    calibration_csv: str = knob(
        "../shared/calibration/nb201-calibration-200.csv",
        "published 200-epoch accuracies of 200 calibration archs",
    )
    runs_dir: str = knob("data/fidelity/runs", "run records of the cheap training point")
    preset: str = knob("cpu-cifar", "the cheap training point: this preset ...", known=train_preset_names)
    fidelity: dict[str, Any] | None = knob(
        None, "... with these overrides (None: the preset as is)", of=TrainConfig
    )
    split: str = knob("cifar10-jpeg", "the split the cheap runs trained on")
    proxy_tables: dict[str, str] = knob(
        {
            "small": "data/proxies/cifar10-C8-N1-16px-b64-s0.parquet",
            "full": "data/proxies/cifar10-C16-N5-32px-b64-s0.parquet",
        },
        "label -> proxy table (python -m nb201.fidelity.proxies); labels prefix feature names",
    )
    k_folds: int = knob(10, "cross-validation folds for fitted rankers", low=2)
    n_boot: int = knob(1000, "bootstrap resamples over architectures for the 95% intervals", low=1)
    seed: int = knob(0, "folds, bootstrap and boosted trees")
    budget_core_seconds: float = knob(60.0, "cost limit per architecture, everything included", above=0)
    min_calibration: int = knob(30, "choose and apply a method only with at least this many archs", low=1)
    apply_to_benchmark: bool = knob(True, "write the chosen method's ranking-score into the benchmark")
    benchmark_substore: str = knob(
        "data/benchmarks/cifar10-cpu/cifar10-jpeg__cpu-cifar", "sub-store that carries the score"
    )
    benchmark_runs: str = knob("data/cifar10-cpu/runs", "the benchmark's own run records")
    sidecar: str = knob("reports/07_ranking.json", "this notebook's key numbers, as JSON")


@dataclass(frozen=True)
class WholeSpaceParams:
    """08_whole_space: the whole-space benchmark of ESTIMATED accuracies (proxy job, fit, store)."""

    calibration_csv: str = knob(
        "data/calibration/nb201-calibration-200.csv",
        "published 200-epoch accuracies of 200 archs (the labels)",
    )
    run_proxy_job: bool = knob(True, "resume the published-size proxy job for classes the table lacks")
    proxy_work_dir: str = knob("data/cache/proxies/C16-N5-32px-b64-s0", "the proxy job's per-arch records")
    full_table: str = knob("data/proxies/cifar10-C16-N5-32px-b64-s0.parquet", "published-size proxy table")
    small_table: str = knob("data/proxies/cifar10-C8-N1-16px-b64-s0.parquet", "CPU-size proxy table")
    benchmark_dir: str = knob("data/benchmarks/whole-space", "the whole-space benchmark written")
    work_dir: str = knob("data/cache/whole-space", "latency models measured once, and the build summary")
    measured_benchmark: str = knob("data/benchmarks/cifar10-cpu", "measured benchmark for the sanity check")
    datasets: list[str] = knob(
        ["cifar10", "cifar100", "ImageNet16-120"], "datasets estimated (cifar10 is needed)"
    )
    n_boot: int = knob(30, "bootstrap rankers per dataset for the uncertainty", low=2)
    seed: int = knob(0, "folds, bootstrap, trees and the reward draws")
    sidecar: str = knob("reports/08_whole_space.json", "this notebook's key numbers, as JSON")


# notebook (file stem in notebooks/) -> its parameters; the order is the pipeline's order
NOTEBOOK_PARAMS: dict[str, type] = {
    "01_train": TrainParams,
    "02_aggregate": AggregateParams,
    "03_analysis": AnalysisParams,
    "04_search": SearchParams,
    "05_fidelity": FidelityParams,
    "06_weight_sharing": WeightSharingParams,
    "07_ranking": RankingParams,
    "08_whole_space": WholeSpaceParams,
}
NOTEBOOKS: tuple[str, ...] = tuple(NOTEBOOK_PARAMS)


def notebook_params(notebook: str, where: str = "notebook") -> type:
    """The parameters dataclass of `notebook`; ConfigError naming the known notebooks."""
    if notebook not in NOTEBOOK_PARAMS:
        raise ConfigError(f"{where}: {notebook}: unknown notebook; known: {', '.join(NOTEBOOKS)}")
    return NOTEBOOK_PARAMS[notebook]


def notebook_defaults(notebook: str) -> dict[str, Any]:
    """{param: default} of a notebook: what its `parameters` cell must say."""
    return defaults(notebook_params(notebook))


@dataclass(frozen=True)
class FollowUp:
    """A `[[then]]` table of a profile: another profile run after this one."""

    profile: str = knob(help="the profile to run next")
    only: list[str] | None = knob(None, "its notebooks to run (None: all of them)")


@dataclass
class Profile:
    """A pipeline profile: which notebooks run, into which folder, with which parameters.

    `params[notebook]` holds every parameter of each notebook the profile runs: the
    notebook's defaults with the profile's table applied. `settings(notebook)` is the typed
    form, validated once: `load_profile` keeps what it validated while reading the file, and
    a profile built in code is validated on first use."""

    name: str
    description: str
    out: str
    notebooks: list[str]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Follow-up profiles (`[[then]]` tables: profile, only): run after this one when it
    # renders into its own output folder. The default profile uses it to re-render the
    # analyses of the committed CIFAR-10 benchmark, so that its first run shows findings.
    then: list[dict[str, Any]] = field(default_factory=list)
    _typed: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False)

    def settings(self, notebook: str) -> Any:
        """The typed parameters `notebook` runs with under this profile."""
        if notebook not in self._typed:
            cls = notebook_params(notebook, f"profile {self.name!r}")
            table = self.params.get(notebook, {})
            self._typed[notebook] = from_table(cls, table, f"profile {self.name!r}", f"{notebook}.")
        return self._typed[notebook]


_PROFILE_KEYS = ("description", "out", "notebooks", "then")
# a profile *name* is a file stem of configs/pipelines: no folder separator, no '..'
_PROFILE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")


def _profiles_folder() -> Path:
    return Path(str(resources.files("nb201") / "configs" / "pipelines"))


def profile_names() -> list[str]:
    """The profiles shipped with nb201 (file stems under `configs/pipelines`)."""
    return sorted(p.stem for p in _profiles_folder().glob("*.toml"))


def _profile_path(name_or_path: str) -> tuple[Path, str]:
    """A shipped profile by name, or your own file by a path that ends in `.toml`: like the
    preset loaders, a name is never read as a path (`../x` is refused, not resolved)."""
    text = str(name_or_path)
    if text.endswith(".toml"):
        path = Path(text)
        if not path.is_file():
            raise ConfigError(f"no profile file {text!r}: pass the path of an existing .toml file")
        return path, path.stem
    if not _PROFILE_NAME.fullmatch(text) or ".." in text:
        raise ConfigError(
            f"pipeline profile {text!r} is not a profile name (a name has no '/' or '..'): choose one "
            f"of {profile_names()} or pass the path of your own file, ending in .toml"
        )
    path = _profiles_folder() / f"{text}.toml"
    if not path.is_file():
        raise ConfigError(
            f"unknown pipeline profile {text!r}: choose one of {profile_names()} "
            "or pass the path to a .toml file of the same form"
        )
    return path, text


def _check_out(out: Any, where: str) -> str:
    """A profile's output folder stays inside the project: `--out` (the caller's own choice)
    is how to write anywhere else, so a profile file cannot point reports at `../../..`."""
    parts = PurePosixPath(out).parts if isinstance(out, str) else ()
    if not parts or PurePosixPath(out).is_absolute() or ".." in parts or "\\" in out:
        raise ConfigError(
            f"{where}: out = {out!r}: a profile writes into a folder inside the project (relative, "
            "without '..'), e.g. out = \"reports/mine\"; to write elsewhere pass --out"
        )
    return out


def _check_notebook_list(names: Any, where: str) -> list[str]:
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ConfigError(f"{where} must be a list of notebook names, got {names!r}")
    unknown = [n for n in names if n not in NOTEBOOKS]
    if unknown:
        raise ConfigError(f"{where} names unknown notebooks {unknown}; known: {list(NOTEBOOKS)}")
    return list(names)


def load_profile(name_or_path: str) -> Profile:
    """A named profile shipped with nb201, or a path to a TOML file of the same form; every
    key of it checked against the notebooks' parameters (ConfigError naming key and file)."""
    path, name = _profile_path(name_or_path)
    raw = read_toml(path)
    for key in raw:
        if key not in _PROFILE_KEYS and key not in NOTEBOOKS:
            raise ConfigError(f"{path}: {key}: unknown key; known: {', '.join(_PROFILE_KEYS + NOTEBOOKS)}")
    notebooks = _check_notebook_list(raw.get("notebooks", list(NOTEBOOKS[:4])), f"{path}: profile {name!r}")
    typed = {}
    for nb in [n for n in NOTEBOOKS if n in notebooks or n in raw]:
        typed[nb] = from_table(NOTEBOOK_PARAMS[nb], raw.get(nb, {}), str(path), f"{nb}.")
    then = []
    for i, step in enumerate(raw.get("then", [])):
        follow = from_table(FollowUp, step, f"{path} [[then]] {i}")
        _check_notebook_list(follow.only or [], f"{path}: profile {name!r}: [[then]]")
        then.append({k: v for k, v in asdict(follow).items() if v is not None})
    out = _check_out(raw.get("out", "reports"), str(path))
    prof = Profile(
        name,
        str(raw.get("description", "")),
        out,
        notebooks,
        {nb: asdict(t) for nb, t in typed.items()},
        then,
    )
    prof._typed.update(typed)  # validated above: `settings` serves these, not a second pass
    return prof


def parse_override(text: str) -> tuple[str, str, Any]:
    """`01_train.archs=sample:8` -> ("01_train", "archs", "sample:8"), checked against the
    notebook's parameters. A value is read as a Python literal (numbers, lists, dicts, None,
    True) when it parses as one, else as text; a bare number is text where only text fits
    (`04_search.search_hp=12` -> "12"). ConfigError names the key on any mistake."""
    key, sep, raw = text.partition("=")
    nb, dot, param = key.partition(".")
    if not sep or not dot or not nb or not param:
        raise ConfigError(
            f"bad override {text!r}: write NOTEBOOK.PARAM=VALUE with NOTEBOOK in {list(NOTEBOOKS)}, "
            "e.g. 01_train.archs=sample:8"
        )
    where = f"--set {text!r}"
    cls = notebook_params(nb, where)
    if param not in field_names(cls):
        raise ConfigError(
            f"{where}: {nb}.{param}: unknown parameter; known: {', '.join(sorted(field_names(cls)))}"
        )
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    label = f"{nb}.{param}"
    try:
        return nb, param, check_field(cls, param, value, where, label)
    except ConfigError as err:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            try:
                return nb, param, check_field(cls, param, raw, where, label)
            except ConfigError:
                pass
        raise err


def run_settings(profile: Profile, changed: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """The typed parameters each notebook of `profile` runs with, the `changed` knobs (each
    already checked by `parse_override`) applied, and each notebook checked across its knobs
    (`nb201.pipeline.precheck`): everything the pipeline validates, once, before it runs."""
    changed = dict(changed or {})
    if stray := sorted(set(changed) - set(profile.notebooks)):
        raise ConfigError(
            f"--set names {stray}, which profile {profile.name!r} does not run; its notebooks: "
            f"{profile.notebooks}"
        )
    out = {}
    for nb in profile.notebooks:
        out[nb] = replace(profile.settings(nb), **changed.get(nb, {}))
        check_notebook(nb, out[nb], f"profile {profile.name!r}")
    return out


def changed_params(notebook: str, settings: Any) -> dict[str, Any]:
    """The knobs of typed `settings` that differ from `notebook`'s defaults: what the pipeline
    passes, so an executed notebook's header shows which knobs a run changed."""
    base = notebook_defaults(notebook)
    return {k: v for k, v in asdict(settings).items() if v != base[k]}


def resolve_params(
    profile: Profile, notebook: str, overrides: dict[str, Any] | None = None
) -> dict[str, Any]:
    """What the pipeline passes to `notebook` under `profile` with `overrides` (already
    checked): the parameters that differ from its defaults."""
    return changed_params(notebook, replace(profile.settings(notebook), **dict(overrides or {})))
