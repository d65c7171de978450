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
from pathlib import Path

from nb201.pipeline.profiles import (  # noqa: F401 (the profile API, re-exported where it always was)
    NOTEBOOKS,
    Profile,
    load_profile,
    parse_override,
    profile_names,
    resolve_params,
)
from nb201.pipeline.render import render_html
from nb201.pipeline.reports import repo_root


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
    prof = profile if isinstance(profile, Profile) else load_profile(profile)
    changed: dict[str, dict] = {}
    for text in overrides or []:  # every override is checked before anything runs
        nb, key, value = parse_override(text)
        changed.setdefault(nb, {})[key] = value
    params = {nb: resolve_params(prof, nb, changed.get(nb)) for nb in prof.notebooks}
    selected = [nb for nb in prof.notebooks if not only or nb in only]
    if only and (missing := sorted(set(only) - set(prof.notebooks))):
        raise ValueError(f"--only names notebooks not in profile {prof.name!r}: {missing}")
    import papermill as pm

    root = repo_root()
    out_dir = Path(out or prof.out)
    if not out_dir.is_absolute():
        out_dir = root / out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
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
