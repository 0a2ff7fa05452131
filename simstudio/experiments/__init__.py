"""Experiments: does synthetic data help? Arms trained on different training sets, tested on the same
real images, repeated over seeds or folds, compared with paired statistics, written up as a report.

Library use::

    from simstudio.experiments import load_preset, with_data, run_experiment_here
    cfg = with_data(load_preset("simdeepl_table1"), real="data/derm-real", synthetic=["exports/sim"])
    run, result = run_experiment_here(cfg, echo=True)   # result["arms"][i]["verdict"], report files

Modules: `config` (ExperimentConfig, presets), `plan` (units, guard rails), `runner` (the job, resume),
`analysis` (everything computed from the saved units), `stats` (bootstrap, DeLong, McNemar, the curve
bootstrap and worth N), `report`, `data_efficiency` (the curve over real training-set sizes: lines x sizes
as arms, nested subsets, worth N), `shared_pretraining` (one pretraining stage per repeat, reused).
"""

from simstudio.experiments.analysis import summarize
from simstudio.experiments.config import (
    ArmConfig,
    ExperimentConfig,
    SyntheticSource,
    experiment_from_dict,
    load_experiment,
    load_preset,
    preset_names,
    with_data,
)
from simstudio.experiments.report import write_report
from simstudio.experiments.runner import (
    resume_experiment,
    run_experiment,
    run_experiment_here,
    start_experiment,
)

__all__ = [
    "ArmConfig",
    "ExperimentConfig",
    "SyntheticSource",
    "experiment_from_dict",
    "load_experiment",
    "load_preset",
    "preset_names",
    "resume_experiment",
    "run_experiment",
    "run_experiment_here",
    "start_experiment",
    "summarize",
    "with_data",
    "write_report",
]
