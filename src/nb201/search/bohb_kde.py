"""hpbandster's BOHB config generator, with its hot loops in numpy and the same decisions.

Profiled on a whole-space benchmark (~110 jobs per run), a BOHB run spent about 85% of
its time in three places of `hpbandster.optimizers.config_generators.bohb.BOHB` that do
not need to be slow for a space of six categorical hyperparameters:

- every acquisition evaluation calls statsmodels' `KDEMultivariate.pdf`, which for each
  of the six columns calls `aitchison_aitken`, which recounts the column's distinct values
  with `np.unique` (two KDEs, four samples, ~90 configs per run: ~4,000 `np.unique` calls);
- every proposal goes vector -> `Configuration` -> dict -> `Configuration` -> dict through
  ConfigSpace's validation, twice through `deactivate_inactive_hyperparameters`, and every
  result dict -> `Configuration` -> vector;
- a debug line formats four numpy arrays (and evaluates both KDEs again) whether or not
  debug logging is on, and `impute_conditional_data` copies the training data row by row
  with `argwhere` although it never holds a NaN here.

`KDEGenerator` overrides `get_config` and `new_result` with the same steps in the same
order, computed directly:

- The KDE density is statsmodels' own arithmetic, element for element: the kernel value
  is `1 - h` where a training point equals the candidate and `h / (levels - 1)` elsewhere
  (`levels`: the distinct values of that column of the training data, counted once per
  fit instead of once per evaluation), multiplied over the columns with the same
  `prod(axis=1)`, summed with the same `sum` and divided by the number of points. The
  densities are therefore bit-identical, and so is every comparison made on them.
- The KDEs are still fitted by statsmodels (`KDEMultivariate(..., bw="normal_reference")`
  and hpbandster's bandwidth clip), so the bandwidths are the library's own.
- Vectors and dicts are converted with the configuration space's own order and choices
  (it has no conditions and no forbidden clauses, which the constructor checks), and the
  prior samples still come from `configspace.sample_configuration()`.
- Every draw from numpy's global generator happens in the original's order, with the
  original's short-circuits (including the quirk that a failed model-based pick draws
  two prior samples), so the random stream and therefore every run is the same as with
  hpbandster's generator for the same seed (`tests/test_bohb.py` compares traces).

No hpbandster attribute is replaced: this is a subclass, used only by `nb201.search.bohb`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from hpbandster.core.base_config_generator import base_config_generator
from hpbandster.optimizers.config_generators.bohb import BOHB


class _Density:
    """statsmodels' `KDEMultivariate.pdf` for unordered categorical columns, tables precomputed."""

    def __init__(self, kde: Any):
        data = np.asarray(kde.data, dtype=np.float64)
        bw = np.asarray(kde.bw, dtype=np.float64)
        levels = np.array([np.unique(data[:, j]).size for j in range(data.shape[1])])
        self.kde = kde
        self.data = data
        self.nobs = kde.nobs
        self.same = np.broadcast_to(1 - bw, data.shape)  # `(idx * (1 - h))[idx]`
        with np.errstate(divide="ignore", invalid="ignore"):  # one level: statsmodels divides by zero too
            self.other = np.broadcast_to(np.ones(1) * bw / (levels - 1), data.shape)

    def __call__(self, x: Any) -> np.ndarray:
        k = np.where(self.data == np.asarray(x, dtype=np.float64), self.same, self.other)
        with np.errstate(invalid="ignore", over="ignore"):  # inf * 0 where statsmodels gets NaN too
            return np.squeeze([k.prod(axis=1).sum(axis=0) / self.nobs])


class KDEGenerator(BOHB):
    """`hpbandster`'s BOHB config generator for a space of categorical hyperparameters,
    computing the same proposals without its per-call overheads (see the module doc)."""

    def __init__(self, configspace: Any, **kwargs: Any):
        super().__init__(configspace, **kwargs)
        if (self.vartypes == 0).any() or configspace.conditions or configspace.forbidden_clauses:
            raise ValueError(
                "KDEGenerator serves spaces of unconditional categorical hyperparameters only; "
                "use hpbandster's BOHB generator for anything else."
            )
        hps = [configspace[name] for name in configspace]
        self._names = [h.name for h in hps]
        self._choices = [list(h.choices) for h in hps]
        self._codes = [{c: float(k) for k, c in enumerate(ch)} for ch in self._choices]
        self._densities: dict[float, tuple[Any, _Density, _Density]] = {}

    # ---- conversions (the space has no conditions: a vector is one code per hyperparameter)
    def _as_dict(self, vector: list) -> dict[str, Any]:
        return {n: ch[int(v)] for n, ch, v in zip(self._names, self._choices, vector)}

    def _as_array(self, config: dict[str, Any]) -> np.ndarray:
        return np.array([codes[config[n]] for n, codes in zip(self._names, self._codes)])

    def _prior(self) -> dict[str, Any]:
        return dict(self.configspace.sample_configuration())

    def _model(self, budget: float) -> tuple[_Density, _Density]:
        models = self.kde_models[budget]
        cached = self._densities.get(budget)
        if cached is None or cached[0] is not models:
            cached = (models, _Density(models["good"]), _Density(models["bad"]))
            self._densities[budget] = cached
        return cached[1], cached[2]

    # ---- hpbandster's get_config, step for step ---------------------------------------
    def get_config(self, budget: float) -> tuple[dict[str, Any], dict[str, Any]]:
        info_dict: dict[str, Any] = {}
        if len(self.kde_models.keys()) == 0 or np.random.rand() < self.random_fraction:
            info_dict["model_based_pick"] = False
            return self._prior(), info_dict
        budget = max(self.kde_models.keys())
        good_pdf, bad_pdf = self._model(budget)
        kde_good = self.kde_models[budget]["good"]
        best, best_vector = np.inf, None
        for _ in range(self.num_samples):
            idx = np.random.randint(0, len(kde_good.data))
            datum = kde_good.data[idx]
            vector = []
            for m, bw, t in zip(datum, kde_good.bw, self.vartypes):
                bw = max(bw, self.min_bandwidth)
                if np.random.rand() < (1 - bw):
                    vector.append(int(m))
                else:
                    vector.append(np.random.randint(t))
            val = max(1e-32, bad_pdf(vector)) / max(good_pdf(vector), 1e-32)
            if not np.isfinite(val) and np.isfinite(good_pdf(vector)):
                best_vector = vector
                break
            if val < best:
                best, best_vector = val, vector
        if best_vector is None:
            # hpbandster draws a prior sample here, then fails to convert that dict and draws another
            self._prior()
            info_dict["model_based_pick"] = False
            return self._prior(), info_dict
        info_dict["model_based_pick"] = True
        return self._as_dict([int(np.rint(v)) for v in best_vector]), info_dict

    # ---- hpbandster's new_result, step for step ---------------------------------------
    def new_result(self, job: Any, update_model: bool = True) -> None:
        base_config_generator.new_result(self, job)
        if job.result is None:
            loss = np.inf
        else:
            loss = job.result["loss"] if np.isfinite(job.result["loss"]) else np.inf
        budget = job.kwargs["budget"]
        if budget not in self.configs.keys():
            self.configs[budget] = []
            self.losses[budget] = []
        if max(list(self.kde_models.keys()) + [-np.inf]) > budget:
            return
        self.configs[budget].append(self._as_array(job.kwargs["config"]))
        self.losses[budget].append(loss)
        if len(self.configs[budget]) <= self.min_points_in_model - 1 or not update_model:
            return
        train_configs = np.array(self.configs[budget])
        train_losses = np.array(self.losses[budget])
        n = train_configs.shape[0]
        n_good = max(self.min_points_in_model, (self.top_n_percent * n) // 100)
        n_bad = max(self.min_points_in_model, ((100 - self.top_n_percent) * n) // 100)
        idx = np.argsort(train_losses)
        # impute_conditional_data is a copy when nothing is NaN (no conditions: never)
        good = train_configs[idx[:n_good]].copy()
        bad = train_configs[idx[n_good : n_good + n_bad]].copy()
        if good.shape[0] <= good.shape[1] or bad.shape[0] <= bad.shape[1]:
            return
        import statsmodels.api as sm

        bad_kde = sm.nonparametric.KDEMultivariate(
            data=bad, var_type=self.kde_vartypes, bw="normal_reference"
        )
        good_kde = sm.nonparametric.KDEMultivariate(
            data=good, var_type=self.kde_vartypes, bw="normal_reference"
        )
        bad_kde.bw = np.clip(bad_kde.bw, self.min_bandwidth, None)
        good_kde.bw = np.clip(good_kde.bw, self.min_bandwidth, None)
        self.kde_models[budget] = {"good": good_kde, "bad": bad_kde}


__all__ = ["KDEGenerator"]
