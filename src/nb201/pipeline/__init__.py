"""Execute the notebook pipeline with papermill and render the reports.

A *profile* (a TOML file in `configs/pipelines/`) names which notebooks run and which of
their parameters differ from the notebooks' defaults (`nb201.pipeline.profiles`, the typed
parameters); `--set notebook.param=value` overrides one knob from the command line, checked
against the notebook's parameters before anything runs.
Each notebook is executed into `<out>/<name>.ipynb` (git-ignored), writes its key
numbers to `<out>/<name>.json`, and is rendered to `<out>/<name>.html`.

    python -m nb201.pipeline                       # the embedded default, ~minutes
    python -m nb201.pipeline --profile cifar10-jpeg
    python -m nb201.pipeline --set 01_train.archs=sample:8 --only 01_train 02_aggregate
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from nb201.pipeline.profiles import (  # noqa: F401 (the profile API, re-exported where it always was)
    NOTEBOOKS,
    Profile,
    changed_params,
    load_profile,
    parse_override,
    profile_names,
    resolve_params,
    run_settings,
)
from nb201.pipeline.render import render_html
from nb201.pipeline.reports import repo_root


@dataclass
class _Step:
    """One profile's run, resolved and checked: where it renders and what each notebook gets."""

    profile: Profile
    out_dir: Path
    params: dict[str, dict[str, Any]]  # notebook -> the knobs that differ from its defaults
    selected: list[str]
    key: str = ""  # prefix of its reports' keys: "" for the main profile, "<profile>/" after


def _plan(
    profile: str | Profile, out: str | Path | None, overrides: list[str], only: list[str] | None, follow: bool
) -> list[_Step]:
    """Every step of the run, each notebook's parameters validated once, deeply (the knobs
    alone, then across knobs), follow-ups included: a mistake anywhere stops the run here,
    before any notebook starts or any folder is made."""
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    changed: dict[str, dict] = {}
    for text in overrides:
        nb, key, value = parse_override(text)
        changed.setdefault(nb, {})[key] = value
    if only and (missing := sorted(set(only) - set(prof.notebooks))):
        raise ValueError(f"--only names notebooks not in profile {prof.name!r}: {missing}")
    settings = run_settings(prof, changed)
    root = repo_root()
    out_dir = Path(out or prof.out)
    out_dir = out_dir if out_dir.is_absolute() else root / out_dir
    params = {nb: changed_params(nb, s) for nb, s in settings.items()}
    steps = [_Step(prof, out_dir, params, [nb for nb in prof.notebooks if not only or nb in only])]
    for step in prof.then if follow else []:
        for more in _plan(step["profile"], None, [], step.get("only"), follow=False):
            steps.append(replace(more, key=f"{step['profile']}/"))
    return steps


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
    a custom run never rewrites another profile's committed reports. Every parameter of
    every step is checked before the first notebook starts (ConfigError, CLI exit code 2)."""
    if follow is None:
        follow = out is None and not only and not overrides
    steps = _plan(profile, out, list(overrides or []), only, follow)
    import papermill as pm

    root = repo_root()
    rendered: dict[str, Path] = {}
    for step in steps:
        step.out_dir.mkdir(parents=True, exist_ok=True)
        for nb in step.selected:
            src = root / "notebooks" / f"{nb}.ipynb"
            executed = step.out_dir / f"{nb}.ipynb"
            sidecar = step.out_dir / f"{nb}.json"  # relative to the project when inside it: reports show it
            nb_params = {
                **step.params.get(nb, {}),
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
            rendered[step.key + nb] = render_html(executed, step.out_dir / f"{nb}.html")
            print(
                f"[nb201] {nb}: done in {time.perf_counter() - start:.1f} s -> {rendered[step.key + nb]}",
                flush=True,
            )
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
