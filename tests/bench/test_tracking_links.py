"""Pre-training and fine-tuning runs link each other in MLflow: tags both ways and a note with a link."""

from __future__ import annotations


from bench.tracking import FINETUNING_TAG, NOTE_TAG, Tracker


def _store(isolated_home):
    return f"sqlite:///{isolated_home / 'mlflow.db'}"


def test_finetuning_run_links_its_pretraining_run(isolated_home):
    uri = _store(isolated_home)
    pt = Tracker(uri)
    pt_id = pt.start("pretraining", "fe-smoke-seed0", tags={"sources": "devi2024-fe"})
    pt.finish()
    ft_ids = []
    for seed in (0, 1):
        ft = Tracker(uri)
        ft_ids.append(ft.start("piezo", f"ptft-smoke-seed{seed}"))
        ft.link_pretraining(pt_id)
        ft.link_pretraining(pt_id)  # a resumed run links again: listed once
    ft_tags = ft.client.get_run(ft_ids[1]).data.tags
    assert ft_tags["pretraining_run_id"] == pt_id
    experiment = ft.client.get_run(pt_id).info.experiment_id
    assert f"[fe-smoke-seed0](#/experiments/{experiment}/runs/{pt_id})" in ft_tags[NOTE_TAG]
    assert "devi2024-fe" in ft_tags[NOTE_TAG]
    pt_tags = ft.client.get_run(pt_id).data.tags
    assert pt_tags[FINETUNING_TAG].split(",") == ft_ids and pt_tags[f"{FINETUNING_TAG}_count"] == "2"


def test_pretraining_run_of_another_store_is_named_not_linked(isolated_home):
    ft = Tracker(_store(isolated_home))
    run_id = ft.start("piezo", "ptft")
    ft.link_pretraining("0" * 32)
    tags = ft.client.get_run(run_id).data.tags
    assert tags["pretraining_run_id"] == "0" * 32 and "not in this MLflow store" in tags[NOTE_TAG]


def test_trunk_info_carries_the_pretraining_run_id():
    from bench.strategies import _trunk_info

    config = {"task": "piezo", "pretrain": {"source": "devi2024-fe"}, "split": {"fold": None}}
    card = {"key": "k", "data": {}, "mlflow_run_id": "abc"}
    assert _trunk_info(config, card)["pretrained_run_id"] == "abc"
    assert "pretrained_run_id" not in _trunk_info(config, {"key": "k", "data": {}})
