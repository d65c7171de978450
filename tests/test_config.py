"""The typed configuration: one dataclass per notebook, preset, profile and grid.

Each notebook's `parameters` cell must say exactly what its dataclass's defaults say (names,
order and values), every profile must load and state only what differs from the defaults,
and every loader and `--set` error names the key, where it came from and what is allowed.
"""

from __future__ import annotations

import ast
import json
import re
import tomllib
from dataclasses import asdict, fields
from pathlib import Path

import pytest

from nb201.config import (
    ConfigError,
    FidelityGrid,
    SearchConfig,
    TrainConfig,
    check_field,
    from_table,
    load_grid,
)
from nb201.pipeline import load_profile, main, parse_override, profile_names, run_pipeline
from nb201.pipeline.profiles import NOTEBOOK_PARAMS, NOTEBOOKS, Profile, notebook_defaults, resolve_params
from nb201.presets import KNOBS, load_preset, resolve_config
from nb201.wsnas.config import SEARCH_KNOBS, load_search_preset, resolve_search_config

REPO = Path(__file__).resolve().parents[1]


def _parameters_cell(name: str) -> tuple[dict, list[str]]:
    """(cell, its source lines) of the cell tagged `parameters` in notebooks/<name>.ipynb."""
    nb = json.loads((REPO / "notebooks" / f"{name}.ipynb").read_text())
    (cell,) = [c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", [])]
    return cell, "".join(cell["source"]).splitlines()


def test_every_notebook_has_a_parameters_dataclass() -> None:
    assert sorted(p.stem for p in (REPO / "notebooks").glob("*.ipynb")) == list(NOTEBOOKS)


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_parameters_cell_equals_the_dataclass_defaults(name: str) -> None:
    """The notebook's own defaults are its dataclass's, name for name, value for value, in
    the same order, each with a comment; a drift (01_train's seeds once said [777] while the
    default profile said [777, 888]) fails here."""
    cell, lines = _parameters_cell(name)
    tree = ast.parse("\n".join(lines))
    assert all(isinstance(node, ast.Assign) for node in tree.body), "only `name = literal` lines"
    found = {node.targets[0].id: ast.literal_eval(node.value) for node in tree.body}
    expected = notebook_defaults(name)
    assert list(found) == list(expected), f"{name}: parameter names or order differ from the dataclass"
    assert found == expected, {k: (found[k], expected[k]) for k in found if found[k] != expected[k]}
    for line in lines:
        assert "  # " in line, f"{name}: a knob without its comment: {line!r}"
    assert cell["outputs"] == [] and cell["execution_count"] is None


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_every_knob_has_a_type_and_a_help_line(name: str) -> None:
    for f in fields(NOTEBOOK_PARAMS[name]):
        assert f.metadata["help"], f"{name}.{f.name} has no help"
        check_field(NOTEBOOK_PARAMS[name], f.name, notebook_defaults(name)[f.name], "default")


@pytest.mark.parametrize("name", profile_names())
def test_profiles_load_and_set_only_what_differs_from_the_defaults(name: str) -> None:
    prof = load_profile(name)
    for nb in prof.notebooks:
        assert set(prof.params[nb]) == set(notebook_defaults(nb))  # every knob, resolved
    raw = tomllib.loads((REPO / "src" / "nb201" / "configs" / "pipelines" / f"{name}.toml").read_text())
    for nb in NOTEBOOKS:
        same = {
            k
            for k, v in raw.get(nb, {}).items()
            if check_field(NOTEBOOK_PARAMS[nb], k, v, "") == notebook_defaults(nb)[k]
        }
        assert not same, f"profile {name}: {nb} repeats its defaults {sorted(same)}: the dataclass holds them"


def test_the_default_profile_runs_the_notebooks_at_their_defaults() -> None:
    prof = load_profile("digits")
    assert prof.params["01_train"]["seeds"] == [777, 888]
    assert prof.params["01_train"]["archs"] == "sample-distinct:24"
    # what the pipeline passes: only the knobs that differ (the header says "run" for them)
    assert resolve_params(prof, "01_train") == {"engine_options": {"num_threads": 1}}
    assert resolve_params(prof, "03_analysis") == {}
    assert resolve_params(prof, "03_analysis", {"n_boot": 50}) == {"n_boot": 50}


# ---- --set ------------------------------------------------------------------------------
def test_set_values_are_typed_by_the_notebook() -> None:
    assert parse_override("01_train.seeds=[1, 2]") == ("01_train", "seeds", [1, 2])
    assert parse_override("01_train.archs=sample:3") == ("01_train", "archs", "sample:3")
    assert (
        parse_override("01_train.archs=['|none~0|+|none~0|none~1|+|none~0|none~1|none~2|']")[2][0][0] == "|"
    )
    assert parse_override("04_search.search_hp=12") == (
        "04_search",
        "search_hp",
        "12",
    )  # text where text fits
    assert parse_override("07_ranking.budget_core_seconds=30") == ("07_ranking", "budget_core_seconds", 30.0)
    assert parse_override("07_ranking.fidelity=None")[2] is None
    assert parse_override("01_train.fidelity={'epochs': 3}")[2] == {"epochs": 3}


@pytest.mark.parametrize(
    "text, match",
    [
        ("archs=sample:3", "NOTEBOOK.PARAM=VALUE"),
        ("09_nope.archs=all", r"09_nope: unknown notebook; known: 01_train, 02_aggregate"),
        ("01_train.sedes=[1]", r"01_train.sedes: unknown parameter; known: arch_seed, archs, "),
        ("01_train.seeds=abc", r"01_train.seeds must be a list of integers, got 'abc'"),
        ("04_search.seed=1.5", r"04_search.seed must be an integer, got 1.5"),
        ("01_train.engine=slurm", r"01_train.engine must be one of \['local', 'ray'\]"),
        ("03_analysis.n_boot=0", r"03_analysis.n_boot must be an integer >= 1"),
        ("01_train.dedup=1", r"01_train.dedup must be true or false"),
        ("05_fidelity.limit_archs=0", r"05_fidelity.limit_archs must be an integer >= 1 or None, got 0"),
        ("02_aggregate.runs_dir=[1]", r"02_aggregate.runs_dir must be a string or a list of strings"),
    ],
)
def test_bad_set_names_the_key(text: str, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_override(text)


def test_the_cli_rejects_a_bad_set_with_exit_code_2_before_running_anything(tmp_path, capsys) -> None:
    out = tmp_path / "reports"
    for bad in ("01_train.sedes=[1]", "nope.x=1", "01_train.seeds=abc"):
        assert main(["--profile", "digits", "--out", str(out), "--set", bad]) == 2
        assert "error:" in capsys.readouterr().err
    assert not out.exists()  # nothing executed, not even the output folder made
    with pytest.raises(ConfigError, match="sedes"):
        run_pipeline("digits", out=out, overrides=["01_train.archs=all", "01_train.sedes=[1]"])
    assert not out.exists()


# ---- profile, preset and grid files -----------------------------------------------------
BAD_PROFILES = [
    (
        'notebooks = ["01_train"]\n["01_train"]\nsedes = [1]\n',
        r"01_train.sedes: unknown parameter; known: arch_seed, archs",
    ),
    (
        'notebooks = ["01_train"]\n["01_train"]\nseeds = "777"\n',
        r"01_train.seeds must be a list of integers, got '777'",
    ),
    ('notebooks = ["01_train"]\nnotebook = ["02_aggregate"]\n', r"notebook: unknown key; known: .*notebooks"),
    ('notebooks = ["01_train", "08_nope"]\n', r"unknown notebooks \['08_nope'\]"),
    (
        'notebooks = ["01_train"]\n[[then]]\nprofile = "digits"\nonly = ["9"]\n',
        r"\[\[then\]\] names unknown notebooks \['9'\]",
    ),
]


@pytest.mark.parametrize(("text", "message"), BAD_PROFILES)
def test_a_profile_file_with_an_unknown_key_names_it_the_file_and_the_known_keys(
    tmp_path: Path, text: str, message: str
) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(text)
    with pytest.raises(ConfigError, match=rf"{re.escape(str(bad))}: .*{message}"):
        load_profile(str(bad))


def test_an_unknown_profile_name_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown pipeline profile 'nope'"):
        load_profile("nope")


def test_a_profile_built_in_code_is_checked_when_it_runs() -> None:
    prof = Profile("custom", "", "reports", ["03_analysis"], {"03_analysis": {"top_k": "ten"}})
    with pytest.raises(ConfigError, match=r"03_analysis.top_k must be an integer >= 1, got 'ten'"):
        prof.settings("03_analysis")
    with pytest.raises(ConfigError, match="top_k"):
        run_pipeline(prof, out="/nonexistent/never-made")


def test_from_table_reports_missing_and_wrong_values() -> None:
    with pytest.raises(ConfigError, match=r"grid.toml: missing preset, seeds"):
        from_table(FidelityGrid, {"budget_core_seconds": 60}, "grid.toml")
    with pytest.raises(ConfigError, match=r"grid.toml: budget_core_seconds must be a number > 0, got 0"):
        from_table(FidelityGrid, {"preset": "x", "seeds": [1], "budget_core_seconds": 0}, "grid.toml")
    with pytest.raises(ConfigError, match=r"grid.toml: seeds must be a list of integers, got \[1, True\]"):
        from_table(FidelityGrid, {"preset": "x", "seeds": [1, True], "budget_core_seconds": 1}, "grid.toml")


def test_the_fidelity_grid_is_typed_and_its_points_checked(tmp_path: Path) -> None:
    grid = load_grid()
    assert grid.preset == "cpu-cifar" and grid.budget_core_seconds == 60.0
    assert grid.point("c8n1-16px-4ep-full").fidelity["image_size"] == 16
    for point in grid.points:
        resolve_config(grid.preset, point.fidelity)
    path = tmp_path / "grid.toml"
    head = 'preset = "cpu-cifar"\nseeds = [777]\nbudget_core_seconds = 60\n'
    path.write_text(head + '[[point]]\nname = "a"\nfidelity = { epoch = 2 }\n')
    with pytest.raises(
        ConfigError, match=r"point 'a': fidelity.epoch: unknown knob; known: C, N, batch_size"
    ):
        load_grid(path)
    path.write_text(head + '[[point]]\nname = "a"\nfidelity = { image_size = 30 }\n')
    with pytest.raises(
        ConfigError, match=r"point 'a': knob 'image_size' must be 'native' or a multiple of 4"
    ):
        load_grid(path)
    path.write_text(head + '[[point]]\nname = "a"\nnot = "x"\n')
    with pytest.raises(
        ConfigError, match=r"\[\[point\]\] 0: not: unknown parameter; known: fidelity, name, note"
    ):
        load_grid(path)
    path.write_text(head + '[[point]]\nname = "a"\n[[point]]\nname = "a"\n')
    with pytest.raises(ConfigError, match="duplicate point names"):
        load_grid(path)


def test_presets_are_the_dataclass_fields() -> None:
    assert KNOBS == tuple(f.name for f in fields(TrainConfig))
    assert SEARCH_KNOBS == tuple(f.name for f in fields(SearchConfig))
    config = load_preset("digits-cheap")["config"]
    assert asdict(TrainConfig(**config)) == config
    assert resolve_config("12", {"lr": 1})["lr"] == 1.0 and isinstance(
        resolve_config("12", {"lr": 1})["lr"], float
    )
    assert asdict(SearchConfig(**resolve_search_config("gdas", "digits"))) == resolve_search_config(
        "gdas", "digits"
    )
    with pytest.raises(ConfigError, match=r"training config: knob 'pad' must be 'auto' or an integer >= 0"):
        TrainConfig(**{**config, "pad": -1})
    with pytest.raises(ConfigError, match="inverted"):
        SearchConfig(**{**resolve_search_config("gdas", "digits"), "tau_min": 100.0})


def test_preset_files_reject_unknown_keys(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import nb201.presets as presets

    text = (presets.PRESET_DIR / "digits-cheap.toml").read_text()
    (tmp_path / "typo-seed.toml").write_text(text.replace("seeds = ", "seed = "))
    (tmp_path / "typo-epochs.toml").write_text(text.replace("epochs = 10", "epochs = 10.5"))
    monkeypatch.setattr(presets, "PRESET_DIR", tmp_path)
    with pytest.raises(
        ConfigError, match=r"typo-seed.toml: seed: unknown parameter; known: description, provisional"
    ):
        load_preset("typo-seed")
    with pytest.raises(
        ConfigError, match=r"preset 'typo-epochs': knob 'epochs' must be an integer >= 1, got 10.5"
    ):
        load_preset("typo-epochs")

    search = (REPO / "src" / "nb201" / "configs" / "search" / "digits.toml").read_text()
    bad = tmp_path / "search.toml"
    bad.write_text(search.replace("[enas]\nlr = 0.05", "[enas]\nlr = 0.05\nctrl_lrr = 0.1"))
    with pytest.raises(KeyError, match=r"\[enas\]: unknown search knob 'ctrl_lrr'"):
        load_search_preset(str(bad))  # found at load time, though only enas would read it
    bad.write_text(search.replace("seeds = [777, 888]", "seeds = [777, 888]\nmethod = ['gdas']"))
    with pytest.raises(
        ConfigError, match=r"search.toml: method: unknown parameter; known: description, methods"
    ):
        load_search_preset(str(bad))
