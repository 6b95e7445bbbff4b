"""The training-time estimate and the progress ETA: their arithmetic (no timing is asserted)."""

from __future__ import annotations

import pytest

from bench.estimate import Estimate, RunShape, Sampling, Timings, predict_seconds
from bench.progress import EtaModel, TrainingProgress, fmt_eta


def test_estimate_adds_steps_validation_checkpoints_warmup_and_test():
    t = Timings(fb_per_structure=0.01, opt_step=0.05, warmup_extra=0.7, eval_per_structure=0.002,
                checkpoint=0.03, n_timed=4)
    est = predict_seconds(t, RunShape(n_train=90, n_val=10, n_test=94, batch_size=32, epochs=3))
    # per epoch: 90 structures × 0.01 + 3 batches (32, 32, 26) × 0.05 + 10 × 0.002 validation + 0.03
    assert est.epoch_seconds == pytest.approx(0.9 + 0.15 + 0.02 + 0.03)
    assert est.validation_seconds == pytest.approx(0.02)
    assert est.test_seconds == pytest.approx(0.188)
    assert est.seconds == pytest.approx(3 * 1.1 + 0.7 + 0.188)
    assert float(est) == est.seconds and not est.upper_bound
    assert est.describe().startswith("4.2 s (3 epochs × 1.10 s")


def test_a_frozen_trunk_is_paid_once_and_again_for_the_test_set():
    head = Timings(fb_per_structure=0.001, opt_step=0.01, warmup_extra=0.0, eval_per_structure=0.0005,
                   checkpoint=0.03, n_timed=4)
    est = predict_seconds(head, RunShape(n_train=90, n_val=10, n_test=94, batch_size=32, epochs=3), 0.2)
    assert est.embed_seconds == pytest.approx(0.2 * 100)  # training + validation structures, once
    assert est.test_seconds == pytest.approx(0.2 * 94)  # the test set runs through the trunk
    assert est.seconds == pytest.approx(3 * est.epoch_seconds + 20 + 18.8)
    assert "frozen trunk embedded once 20 s" in est.describe()


def test_early_stopping_makes_the_estimate_an_upper_bound():
    t = Timings(0.01, 0.05, 0.0, 0.002, 0.0, 4)
    bounded = predict_seconds(t, RunShape(720, 80, 94, 32, epochs=40, patience=15))
    assert bounded.upper_bound and bounded.describe().startswith("≤ ")
    assert "early stopping may end it sooner" in bounded.describe()
    # a patience of at least the number of epochs can never stop the run early
    assert not predict_seconds(t, RunShape(720, 80, 94, 32, epochs=10, patience=10)).upper_bound
    assert isinstance(bounded, Estimate) and "test" not in predict_seconds(t, RunShape(720, 80, 0, 32, 3)).describe()


def test_sampling_times_several_steps_then_stops_at_its_time_or_share():
    s = Sampling(warmup=1, min_steps=4, max_steps=32, seconds=3.0, share=0.05)
    assert s.more([9.0, 0.1, 0.1, 0.1], steps_in_run=10_000)  # 3 timed steps: fewer than min_steps
    assert s.more([9.0] + [0.1] * 4, steps_in_run=10_000)  # 0.4 s < min(3 s, 5 % of 1000 s)
    assert not s.more([9.0] + [0.1] * 30, steps_in_run=10_000)  # 3.0 s timed
    assert not s.more([9.0] + [0.1] * 4, steps_in_run=12)  # 5 % of a 1.2 s run is less than 0.4 s
    assert not s.more([9.0] + [0.01] * 32, steps_in_run=10**9)  # max_steps


def test_eta_is_mean_step_after_warmup_plus_validations():
    eta = EtaModel(steps_per_epoch=4, warmup=2, window=8)
    assert eta.remaining(10, 3) is None
    for seconds in (30.0, 20.0, 1.0, 3.0):  # the first two are warm-up
        eta.add_step(seconds)
    assert eta.remaining(10, 3) == pytest.approx(10 * 2.0)
    eta.add_validation(5.0)
    eta.add_validation(7.0)
    assert eta.remaining(10, 3) == pytest.approx(10 * 2.0 + 3 * 6.0)
    for _ in range(8):  # the window keeps the last 8 steps only
        eta.add_step(4.0)
    assert eta.remaining(1, 0) == pytest.approx(4.0)


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class State:
    epoch = step_in_epoch = 0
    best_val_mae = 1.0
    stopped_early = False
    bad_epochs = 0


def test_progress_eta_does_not_swing_with_a_validation_pause(tmp_path):
    """Steps of 1 s, validations of 10 s: after warm-up the ETA falls by the time spent, instead of
    jumping with each validation pause as a rate over the recent past does."""
    from rich.console import Console

    clock, state = Clock(), State()
    out = (tmp_path / "log").open("w")
    progress = TrainingProgress(Console(file=out), clock=clock)
    progress.start(epochs=3, steps_per_epoch=5, state=state, resumed=False)
    etas = []
    for epoch in range(3):
        for _ in range(5):
            clock.now += 1.0
            progress.step(0.5)
            etas.append(progress.eta_seconds())
        clock.now += 10.0
        state.epoch += 1
        progress.epoch_end({"val_mae": 0.5, "train_loss": 0.5}, state)
    assert etas[:3] == [None] * 3  # warm-up
    assert etas[3] == pytest.approx(11.0)  # 11 steps, no validation timed yet
    assert etas[5] == pytest.approx(9 * 1.0 + 2 * 10.0)  # after the first validation: 9 steps, 2 validations
    assert etas[9] == pytest.approx(5 * 1.0 + 2 * 10.0)  # epoch 2's validation is still to come
    # from then on the ETA falls by exactly the time that passed: 1 s a step, 11 s across a validation
    assert [round(a - b, 6) for a, b in zip(etas[5:], etas[6:])] == [1, 1, 1, 1, 11, 1, 1, 1, 1]
    assert progress.eta_seconds() == 0.0
    out.close()
    assert "ETA 0:15" in (tmp_path / "log").read_text().splitlines()[1]  # epoch 2's line: 5 steps + 1 validation


def test_fmt_eta():
    assert (fmt_eta(None), fmt_eta(59.6), fmt_eta(404), fmt_eta(43_500)) == ("--", "1:00", "6:44", "12:05:00")


def test_estimate_times_several_steps_and_leaves_model_and_rng_as_they_were(piezo_structures):
    import torch

    from backbones.alignn import ALIGNN
    from backbones.heads import LinearHead
    from bench.estimate import estimate_seconds
    from bench.graphs import build_graph
    from bench.model import PropertyModel
    from bench.train import TrainConfig

    graphs = [build_graph(s) for s in piezo_structures[:12]]
    for g in graphs:
        g.y = torch.tensor([[1.0]])
    torch.manual_seed(0)
    model = PropertyModel(ALIGNN(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4),
                          LinearHead(8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    rng = torch.get_rng_state()
    est = estimate_seconds(model, graphs, TrainConfig(epochs=2, batch_size=4, patience=1), n_val=3, n_test=5)
    assert est.n_timed >= 4 and est.seconds > 0 and est.upper_bound
    assert est.shape == RunShape(12, 3, 5, 4, 2, 1)
    assert torch.equal(torch.get_rng_state(), rng)
    after = model.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)  # weights and BatchNorm statistics
    assert model.training and all(p.grad is None for p in model.parameters())

    from bench.finetune import apply_mode

    apply_mode(model, "new-head")
    before = {k: v.clone() for k, v in model.state_dict().items()}
    frozen = estimate_seconds(model, graphs, TrainConfig(epochs=2, batch_size=4), n_val=3, n_test=5)
    assert frozen.embed_seconds > 0 and "embedded once" in frozen.describe()
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_pretraining_prints_an_estimate_before_it_trains(data_dir):
    from rich.console import Console

    from bench.pretrain import PretrainSpec, pretrained_model

    spec = PretrainSpec(sources=("devi2024-fe",), pt_size=20, budget="smoke", seed=0,
                        backbone_config=dict(alignn_layers=1, gcn_layers=1, hidden_features=8, embedding_features=4))
    console = Console(record=True, width=200)
    pretrained_model(spec, console)
    text = console.export_text()
    line = next(line for line in text.splitlines() if line.startswith("Estimated pre-training time"))
    assert "3 epochs" in line and "timed steps" in line
    assert text.index("Estimated pre-training time") < text.index("epoch 1/3")
