"""The pipeline's pre-check: every knob of every notebook, checked before anything runs.

Each finding of the probe of issue 22 ("Pipeline and API": dict and list knobs, method and
algorithm names, preset names passed the pre-check, the notebook then started, made its
folder and died with a traceback, exit 1; a profile name with `/` was loaded as a path) is
reproduced here through the public interfaces: `python -m nb201.pipeline` (`main`), exit
code 2 and one line that names the notebook, the knob and what is allowed, and no folder
made; `run_pipeline` and `load_profile` raise ConfigError with the same line.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

import nb201.pipeline.profiles as profiles
from nb201.config import ConfigError
from nb201.pipeline import load_profile, main, run_pipeline
from nb201.pipeline.profiles import NOTEBOOK_PARAMS

# (profile, --set, what the one error line must say)
BAD_SETS = [
    # dict knobs, checked against the knobs they override
    (
        "digits-ws",
        "06_weight_sharing.overrides={'lr': -1}",
        r"06_weight_sharing.overrides.lr must be a number > 0, got -1",
    ),
    (
        "digits",
        "01_train.fidelity={'epochs': -3}",
        r"01_train.fidelity.epochs must be an integer >= 1, got -3",
    ),
    (
        "digits",
        "01_train.fidelity={'epoch': 3}",
        r"01_train.fidelity.epoch: unknown knob; known: C, N, batch_size",
    ),
    (
        "ranking",
        "07_ranking.fidelity={'pad': -1}",
        r"07_ranking.fidelity.pad must be 'auto' or an integer >= 0",
    ),
    (
        "digits-ws",
        "06_weight_sharing.bench_fidelity={'lr': 0}",
        r"06_weight_sharing.bench_fidelity.lr must be a number > 0",
    ),
    # ... and as a whole: a cross-knob rule of the search config
    (
        "digits-ws",
        "06_weight_sharing.overrides={'tau_min': 100.0}",
        r"06_weight_sharing.overrides: GDAS temperature schedule inverted",
    ),
    (
        "digits",
        "04_search.settings={'REA': {'populaton_size': 3}}",
        r"04_search.settings: REA has no setting\(s\) \['populaton_size'\]; its settings are",
    ),
    (
        "digits",
        "04_search.settings={'NOPE': {}}",
        r"04_search.settings: 'NOPE': unknown name; known: BOHB, REA, REINFORCE, RS",
    ),
    (
        "digits",
        ["04_search.algorithms=['RS']", "04_search.settings={'REA': {}}"],
        r"04_search.settings: settings given for \['REA'\], which are not among the algorithms \['RS'\]",
    ),
    (
        "digits",
        "01_train.engine_options={'num_thread': 1}",
        r"01_train.engine_options.num_thread: not an option of the local engine; known: device, num_threads",
    ),
    # list knobs: method and algorithm names
    (
        "digits-ws",
        "06_weight_sharing.methods=['nope']",
        r"06_weight_sharing.methods: 'nope': unknown name; known: darts-v1, darts-v2, enas, gdas, rsps, setn",
    ),
    (
        "digits",
        "04_search.algorithms=['NOPE']",
        r"04_search.algorithms: 'NOPE': unknown name; known: BOHB, REA, REINFORCE, RS",
    ),
    (
        "fidelity",
        "05_fidelity.points=['nope']",
        r"05_fidelity.points: 'nope': not a point of the grid; known: ",
    ),
    # preset names: training presets, search presets, the fidelity grid
    ("digits", "01_train.preset=nope", r"01_train.preset: 'nope': unknown name; known: 12, 200, cpu-cifar"),
    (
        "digits-ws",
        "06_weight_sharing.bench_preset=nope",
        r"06_weight_sharing.bench_preset: 'nope': unknown name; known: 12, 200",
    ),
    ("ranking", "07_ranking.preset=../200", r"07_ranking.preset: '../200': unknown name; known: 12, 200"),
    ("fidelity", "05_fidelity.benchmark_preset=nope", r"05_fidelity.benchmark_preset: 'nope': unknown name"),
    (
        "digits-ws",
        "06_weight_sharing.preset=nope",
        r"06_weight_sharing.preset: unknown search preset 'nope'; available: \['cpu-cifar'",
    ),
    ("digits-ws", "06_weight_sharing.methods=['gdas']", None),  # fine: the control case
    ("fidelity", "05_fidelity.grid=no-such-grid.toml", r"05_fidelity.grid: .*no-such-grid.toml"),
    # a knob set for a notebook the profile does not run is refused, not ignored
    (
        "digits",
        "06_weight_sharing.seeds=[1]",
        r"--set names \['06_weight_sharing'\], which profile 'digits' does not run",
    ),
]


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    return err


class Reached(Exception):
    """Raised in place of running a notebook: the pre-check let the run through."""


@pytest.fixture
def no_notebook_runs(monkeypatch):
    import papermill

    def reached(*args, **kwargs):
        raise Reached

    monkeypatch.setattr(papermill, "execute_notebook", reached)


@pytest.mark.parametrize(("profile", "overrides", "message"), BAD_SETS)
def test_the_pre_check_refuses_every_bad_knob_before_anything_runs(
    profile: str, overrides: str | list[str], message: str | None, tmp_path: Path, capsys, no_notebook_runs
) -> None:
    out = tmp_path / "reports"
    overrides = [overrides] if isinstance(overrides, str) else overrides
    if message is None:  # a good value passes the pre-check: the run gets as far as the first notebook
        with pytest.raises(Reached):
            run_pipeline(profile, out=out, overrides=overrides, progress=False)
        return
    argv = ["--profile", profile, "--out", str(out)] + [a for o in overrides for a in ("--set", o)]
    assert main(argv) == 2
    err = _one_error_line(capsys)
    assert re.search(message, err), err
    assert not out.exists()  # no notebook started, no folder made
    with pytest.raises(ConfigError, match=message):
        run_pipeline(profile, out=out, overrides=overrides, progress=False)
    assert not out.exists()


def test_a_profile_file_is_checked_as_deeply_as_a_set(tmp_path: Path, capsys, no_notebook_runs) -> None:
    bad = tmp_path / "mine.toml"
    bad.write_text('notebooks = ["06_weight_sharing"]\n["06_weight_sharing"]\noverrides = { lr = -1 }\n')
    with pytest.raises(
        ConfigError, match=rf"{re.escape(str(bad))}: 06_weight_sharing.overrides.lr must be a number > 0"
    ):
        load_profile(str(bad))
    bad.write_text('notebooks = ["06_weight_sharing"]\n["06_weight_sharing"]\npreset = "nope"\n')
    assert main(["--profile", str(bad), "--out", str(tmp_path / "r")]) == 2
    assert "profile 'mine': 06_weight_sharing.preset: unknown search preset 'nope'" in _one_error_line(capsys)
    assert not (tmp_path / "r").exists()


def test_follow_up_profiles_are_checked_before_the_first_notebook(
    tmp_path: Path, capsys, monkeypatch
) -> None:
    """A bad `[[then]]` profile stops the run before the main profile's notebooks start."""
    import papermill

    monkeypatch.setattr(papermill, "execute_notebook", lambda *a, **k: pytest.fail("a notebook started"))
    mine = tmp_path / "mine.toml"
    mine.write_text(
        'notebooks = ["03_analysis"]\nout = "reports/never"\n[[then]]\nprofile = "../../digits"\n'
    )
    with pytest.raises(ConfigError, match=r"pipeline profile '../../digits' is not a profile name"):
        run_pipeline(str(mine), follow=True)


def test_a_profile_name_is_a_name_not_a_path(tmp_path: Path, capsys, no_notebook_runs) -> None:
    """A name with `/` or `..` was resolved under configs/pipelines and loaded, with its
    `out='../../..'`; now only shipped names, or an explicit path ending in `.toml`."""
    evil = tmp_path / "evil.toml"
    evil.write_text('notebooks = ["03_analysis"]\nout = "../../.."\n')
    name = os.path.relpath(tmp_path / "evil", profiles._profiles_folder())  # ../../../tmp/.../evil
    assert "/" in name and ".." in name
    assert main(["--profile", name, "--out", str(tmp_path / "r")]) == 2
    err = _one_error_line(capsys)
    assert f"pipeline profile {name!r} is not a profile name (a name has no '/' or '..')" in err
    assert "'digits'" in err and "ending in .toml" in err
    for bad in ("sub/digits", "..", "digits/../digits"):
        with pytest.raises(ConfigError, match="is not a profile name"):
            load_profile(bad)
    # the file given as a path is read, but its out may not leave the project
    with pytest.raises(
        ConfigError, match=r"out = '../../..': a profile writes into a folder inside the project"
    ):
        load_profile(str(evil))
    for out in ("/tmp/x", "reports/../../x"):
        evil.write_text(f'notebooks = ["03_analysis"]\nout = "{out}"\n')
        with pytest.raises(ConfigError, match="inside the project"):
            load_profile(str(evil))
    evil.write_text('notebooks = ["03_analysis"]\nout = "reports/mine"\n')
    assert load_profile(str(evil)).out == "reports/mine"
    with pytest.raises(ConfigError, match=r"no profile file 'missing.toml'"):
        load_profile("missing.toml")


def test_each_notebook_table_is_validated_once(tmp_path: Path, monkeypatch, no_notebook_runs) -> None:
    """`load_profile` validated every table, then `resolve_params` validated it again; now
    the typed parameters are kept and carried to the pre-check and the notebook."""
    notebooks = load_profile("digits-ws").notebooks
    calls: list[str] = []
    real = profiles.from_table

    def counting(cls, table, where, prefix="", base=None):
        if cls in NOTEBOOK_PARAMS.values():
            calls.append(prefix)
        return real(cls, table, where, prefix, base)

    monkeypatch.setattr(profiles, "from_table", counting)
    with pytest.raises(Reached):  # the pre-check passed; the first notebook was about to run
        run_pipeline(
            "digits-ws", out=tmp_path / "r", overrides=["06_weight_sharing.seeds=[1]"], progress=False
        )
    assert sorted(calls) == sorted(f"{nb}." for nb in notebooks)  # each table once


@pytest.mark.parametrize("name", profiles.profile_names())
def test_every_shipped_profile_passes_the_pre_check(name: str, tmp_path: Path, no_notebook_runs) -> None:
    """The stricter checks refuse nothing that ships: each profile gets as far as its first notebook."""
    with pytest.raises(Reached):
        run_pipeline(name, out=tmp_path / "r", progress=False)
