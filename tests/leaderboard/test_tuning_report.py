"""The tuning report reads every trial against the budget's own settings, and its snapshot is a usable study."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):
    """A script of leaderboard/studies/tuning/ as a module (the folder is not a package)."""
    spec = importlib.util.spec_from_file_location(f"tuning_{name}", ROOT / f"leaderboard/studies/tuning/{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _report_module():
    return _script("report")


def _study(url: str):
    import optuna
    from optuna.distributions import FloatDistribution
    from optuna.trial import TrialState, create_trial

    study = optuna.create_study(storage=url, study_name="t-scratch-quick-n800-t1")
    for k, v in {"task": "t", "strategy": "scratch", "budget": "quick", "seed": 0, "ft_size": 800, "trial": 1}.items():
        study.set_user_attr(k, v)
    dist = {"lr": FloatDistribution(1e-4, 1e-2, log=True)}
    for i, (lr, value) in enumerate([(2e-3, 0.030), (1e-3, 0.027), (5e-3, 0.036), (3e-3, 0.0295)]):
        study.add_trial(create_trial(params={"lr": lr}, distributions=dist, value=value,
                                     user_attrs={"budget_settings": True} if i == 0 else {}))
    study.add_trial(create_trial(params={"lr": 1e-4}, distributions=dist, state=TrialState.PRUNED))
    return study


def test_report_reads_every_trial_against_the_budget(tmp_path):
    text = _report_module().report(_study(f"sqlite:///{tmp_path / 's.db'}"), top=2)
    assert "N = 800, trial 1" in text and "4 complete, 1 pruned" in text
    assert "trial 0): validation MAE **0.03000**" in text
    assert "Best (trial 1): **0.02700**, -10.0 %" in text and "2 of 3 other complete trials beat" in text
    rows = [line for line in text.splitlines() if line.startswith("| ") and "trial |" not in line]
    assert [r.split(" | ")[0] for r in rows] == ["| 1", "| 3", "| 0 (budget)"]  # top 2, then the budget


def test_a_study_without_the_budget_trial_says_so(tmp_path):
    import optuna

    study = optuna.create_study(storage=f"sqlite:///{tmp_path / 's.db'}", study_name="x")
    assert "nothing to compare with" in _report_module().report(study)


def test_snapshot_is_a_study_that_loads(tmp_path):
    import optuna

    _study(f"sqlite:///{tmp_path / 's.db'}")
    copy = _report_module().snapshot(f"sqlite:///{tmp_path / 's.db'}", tmp_path / "committed")
    loaded = optuna.load_study(study_name="t-scratch-quick-n800-t1", storage=f"sqlite:///{copy}")
    assert len(loaded.trials) == 5 and loaded.best_value == 0.027


def test_compare_takes_the_budgets_records_by_run_key_and_the_tuned_ones_by_trunk(data_dir, tmp_path):
    import json
    import shutil

    from bench.run import plan_run

    compare = _script("compare")
    results = ROOT / "leaderboard/results"
    for strategy in ("scratch", "ptft", "mpt"):
        base = compare.cells(results, "devi2024-dc", 800, tuned=False, strategy=strategy)
        assert sorted(base) == [1, 2, 3], strategy  # FE 941 for ptft: the 2,500 / 5,000 trunks are other keys
        for t, record in base.items():
            assert record["run_key"] == plan_run("devi2024-dc", strategy, "quick", 0, "cpu", ft_size=800, trial=t).key
    # a tuned ptft record from another trunk (BG) is not compared with the budget's FE runs
    bg = next(p for p in results.glob("devi2024-dc__ptft-devi2024-bg__quick__n800-t1__seed0__*.json")
              if json.loads(p.read_text())["config"]["pretrain"]["pt_size"] == 941)
    shutil.copy(bg, tmp_path / bg.name)
    assert compare.cells(tmp_path, "devi2024-dc", 800, tuned=True, strategy="ptft") == {}
    fe = next(p for p in results.glob("devi2024-dc__ptft-devi2024-fe__quick__n800-t1__seed0__*.json")
              if json.loads(p.read_text())["config"]["pretrain"]["pt_size"] == 941
              and json.loads(p.read_text())["config"]["ft_mode"] == "all")
    shutil.copy(fe, tmp_path / fe.name)
    assert list(compare.cells(tmp_path, "devi2024-dc", 800, tuned=True, strategy="ptft")) == [1]


def test_committed_tuned_recipes_are_the_studies_best_and_their_verdicts_follow(data_dir, capsys):
    """The README's adoption table: the tuned records are the finetune studies' best trials on trials 1-3, and
    the rule, computed from them, passes on DC (the tuned target) and fails on PH (the held-out check)."""
    import optuna

    compare = _script("compare")
    db = ROOT / "leaderboard/studies/tuning/devi2024-dc-ptft-mpt-finetune-n800-t1.db"
    for strategy in ("ptft", "mpt"):
        best = optuna.load_study(study_name=f"devi2024-dc-{strategy}-quick-n800-t1-finetune",
                                 storage=f"sqlite:///{db}").best_params
        for task, verdict in (("devi2024-dc", "-> wins"), ("devi2024-ph", "-> does not win")):
            tuned = compare.cells(ROOT / "leaderboard/studies/tuning/results", task, 800, tuned=True,
                                  strategy=strategy)
            assert sorted(tuned) == [1, 2, 3], (task, strategy)
            for record in tuned.values():
                train = record["config"]["train"]
                assert record["config"]["ft_mode"] == best["ft_mode"]
                assert {k: train[k] for k in ("lr", "weight_decay", "batch_size", "epochs")} == \
                    {k: best[k] for k in ("lr", "weight_decay", "batch_size", "epochs")}
            compare.main(["--task", task, "--strategy", strategy])
            assert verdict in capsys.readouterr().out, (task, strategy)
