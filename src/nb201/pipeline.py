"""Execute the notebook pipeline with papermill and render the reports.

A *profile* (a TOML file in `configs/pipelines/`) names which notebooks run and with
which parameters; `--set notebook.param=value` overrides one knob from the command line.
Each notebook is executed into `<out>/<name>.ipynb` (git-ignored), writes its key
numbers to `<out>/<name>.json`, and is rendered to `<out>/<name>.html`.

    python -m nb201.pipeline                       # the embedded default, ~minutes
    python -m nb201.pipeline --profile cifar10-jpeg
    python -m nb201.pipeline --set 01_train.archs=sample:8 --only 01_train 02_aggregate
"""

from __future__ import annotations

import argparse
import ast
import sys
import time
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from nb201.reports import render_html, repo_root

NOTEBOOKS = (
    "01_train",
    "02_aggregate",
    "03_analysis",
    "04_search",
    "05_fidelity",
    "06_weight_sharing",
    "07_ranking",
)


@dataclass
class Profile:
    name: str
    description: str
    out: str
    notebooks: list[str]
    params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Follow-up profiles (`[[then]]` tables: profile, only): run after this one when it
    # renders into its own output folder. The default profile uses it to re-render the
    # analyses of the committed CIFAR-10 benchmark, so that its first run shows findings.
    then: list[dict[str, Any]] = field(default_factory=list)


def profile_names() -> list[str]:
    folder = resources.files("nb201") / "configs" / "pipelines"
    return sorted(p.name.removesuffix(".toml") for p in folder.iterdir() if p.name.endswith(".toml"))


def load_profile(name_or_path: str) -> Profile:
    """A named profile shipped with nb201, or a path to a TOML file of the same form."""
    path = Path(name_or_path)
    if path.suffix == ".toml" and path.exists():
        text, name = path.read_text(), path.stem
    else:
        res = resources.files("nb201") / "configs" / "pipelines" / f"{name_or_path}.toml"
        if not res.is_file():
            raise ValueError(
                f"unknown pipeline profile {name_or_path!r}: choose one of {profile_names()} "
                "or pass the path to a .toml file of the same form"
            )
        text, name = res.read_text(), name_or_path
    raw = tomllib.loads(text)
    notebooks = raw.get("notebooks", list(NOTEBOOKS[:4]))
    unknown = [n for n in notebooks if n not in NOTEBOOKS]
    if unknown:
        raise ValueError(f"profile {name!r} names unknown notebooks {unknown}; known: {list(NOTEBOOKS)}")
    params = {k: v for k, v in raw.items() if k in NOTEBOOKS}
    then = list(raw.get("then", []))
    for step in then:
        if not isinstance(step, dict) or "profile" not in step:
            raise ValueError(f"profile {name!r}: each [[then]] needs a profile name, got {step!r}")
        bad = [n for n in step.get("only", []) if n not in NOTEBOOKS]
        if bad:
            raise ValueError(f"profile {name!r}: [[then]] names unknown notebooks {bad}")
    return Profile(name, raw.get("description", ""), raw.get("out", "reports"), notebooks, params, then)


def parse_override(text: str) -> tuple[str, str, Any]:
    """`01_train.archs=sample:8` -> ("01_train", "archs", "sample:8"); values are Python literals
    when they parse as such (numbers, lists, dicts, None, True), else strings."""
    key, sep, raw = text.partition("=")
    nb, dot, param = key.partition(".")
    if not sep or not dot or nb not in NOTEBOOKS or not param:
        raise ValueError(
            f"bad override {text!r}: write NOTEBOOK.PARAM=VALUE with NOTEBOOK in {list(NOTEBOOKS)}, "
            "e.g. 01_train.archs=sample:8"
        )
    try:
        value = ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        value = raw
    return nb, param, value


def run_pipeline(
    profile: str | Profile = "digits",
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    only: list[str] | None = None,
    kernel_name: str | None = None,
    progress: bool = True,
    follow: bool | None = None,
) -> dict[str, Path]:
    """Execute the profile's notebooks in order; returns {notebook: html path}.

    `follow`: also run the profile's `[[then]]` follow-ups (their reports are keyed
    `<profile>/<notebook>`); None means only when the profile renders into its own output
    folder with no `--only` and no overrides (what `make reports` does), so that a test or
    a custom run never rewrites another profile's committed reports."""
    import papermill as pm

    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    root = repo_root()
    out_dir = Path(out or prof.out)
    if not out_dir.is_absolute():
        out_dir = root / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    params = {nb: dict(prof.params.get(nb, {})) for nb in prof.notebooks}
    for text in overrides or []:
        nb, key, value = parse_override(text)
        params.setdefault(nb, {})[key] = value
    selected = [nb for nb in prof.notebooks if not only or nb in only]
    if only and (missing := sorted(set(only) - set(prof.notebooks))):
        raise ValueError(f"--only names notebooks not in profile {prof.name!r}: {missing}")
    rendered: dict[str, Path] = {}
    for nb in selected:
        src = root / "notebooks" / f"{nb}.ipynb"
        executed = out_dir / f"{nb}.ipynb"
        sidecar = out_dir / f"{nb}.json"  # relative to the project when inside it: reports show it
        nb_params = {
            **params.get(nb, {}),
            "sidecar": str(sidecar.relative_to(root) if sidecar.is_relative_to(root) else sidecar),
        }
        start = time.perf_counter()
        print(f"[nb201] {nb}: executing with {nb_params}", flush=True)
        pm.execute_notebook(
            str(src),
            str(executed),
            parameters=nb_params,
            cwd=str(root),
            kernel_name=kernel_name,
            progress_bar=progress,
            log_output=False,
        )
        rendered[nb] = render_html(executed, out_dir / f"{nb}.html")
        print(f"[nb201] {nb}: done in {time.perf_counter() - start:.1f} s -> {rendered[nb]}", flush=True)
    if follow is None:
        follow = out is None and not only and not overrides
    for step in prof.then if follow else []:
        more = run_pipeline(
            step["profile"], only=step.get("only"), kernel_name=kernel_name, progress=progress, follow=False
        )
        rendered |= {f"{step['profile']}/{nb}": path for nb, path in more.items()}
    return rendered


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m nb201.pipeline", description=__doc__.split("\n")[0])
    parser.add_argument("--profile", default="digits", help=f"one of {profile_names()} or a .toml path")
    parser.add_argument("--out", default=None, help="output folder (default: the profile's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="NB.PARAM=VALUE")
    parser.add_argument("--only", nargs="+", default=None, metavar="NOTEBOOK")
    parser.add_argument("--kernel", default=None, help="Jupyter kernel name (default: the notebook's)")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    try:
        rendered = run_pipeline(args.profile, args.out, args.overrides, args.only, args.kernel)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(
        f"[nb201] pipeline {args.profile!r}: {len(rendered)} reports in {time.perf_counter() - start:.0f} s"
    )
    for path in rendered.values():
        print(f"  {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
