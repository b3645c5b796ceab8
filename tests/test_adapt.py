"""alonet adapt: patient split, fine-tuning, before/after on held-back patients, refusals."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
from dataclasses import replace

import pytest

from alonet.adapt import AdaptConfig, adapt
from alonet.adapt.compare import judge
from alonet.errors import DatasetError, InvalidValueError
from alonet.model import resolve_model_set
from alonet.model.config import TASKS
from test_finetune import tiny_init_set
from test_train import tiny_arrays


def tiny_dataset(path, n_patients):
    from alonet.data.dataset import write_dataset

    images, scalp, hairloss, meta = tiny_arrays(n_patients=n_patients)
    return write_dataset(path, [(images[i], scalp[i], hairloss[i], meta[i]) for i in range(len(meta))], size=32)


def test_adapt_writes_a_loadable_model_set_with_before_after_on_held_back_patients(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    # keep="last": every network really changes (the tiny networks' best epoch would be the start)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3, keep="last")
    result = adapt(data, tmp_path / "adapted", cfg, progress=False, keep_work=True)

    out = tmp_path / "adapted"
    assert result.kept_start == [] and info_kept(out) == []
    assert set(resolve_model_set(out)) == set(TASKS)
    info = json.loads((out / "adapt.json").read_text())
    # the model set is shared: it says what the photographs came from, never the folder's path
    assert info["source"] == "a converted dataset" and len(info["source_fingerprint"]) == 64
    assert str(data) not in (out / "adapt.json").read_text() and str(data) not in (out / "MODEL_CARD.md").read_text()
    held = json.loads((tmp_path / "adapted.work" / "held_out.json").read_text())
    assert not set(held["learn"]) & set(held["test"])
    if os.name != "nt":  # the work folder holds the clinic's photographs and codes: private, like the store
        assert oct((tmp_path / "adapted.work").stat().st_mode & 0o777) == "0o700"
    assert info["counts"]["patients_test"] == len(held["test"]) == 2  # 30 % of 7 patients
    validated = len(json.loads((tmp_path / "adapted.work" / "run" / "split.json").read_text())["val"])
    assert info["counts"]["patients_validated"] == validated
    assert f"(of these, {validated} validated each epoch)" in (out / "MODEL_CARD.md").read_text()
    assert info["counts"]["photographs_test"] == 8 and info["counts"]["photographs_learn"] == 20
    # before/after are both measured on exactly the held-back photographs
    assert info["before"]["images"] == info["after"]["images"] == 8
    assert (out / "comparison.png").stat().st_size > 1000
    card = (out / "MODEL_CARD.md").read_text()
    assert "| on the held-back patients | before | after |" in card
    # the card names the folder the set lives in, not the temporary one it was written in
    assert f"--model {out}`" in card and ".tmp" not in card
    assert result.trained == list(TASKS) and result.carried == []
    assert info["better"] == judge(info["before"], info["after"])
    # the tiny networks mark no scalp, so no photograph has a predicted % loss to compare
    assert info["changes"] == {"mean_abs_diff_pct": None, "salt_mae": None}
    # the midline network changed, so the view checks' margins were re-fitted and travel with it
    from alonet.infer.viewcheck import view_check_config_for

    fitted = view_check_config_for(out)
    assert info["view_check"] == {"side_margin": fitted.side_margin, "midline_margin": fitted.midline_margin}
    assert -0.05 <= fitted.side_margin <= 0.05 and 0 <= fitted.midline_margin <= 0.05
    assert "view checks: margins re-fitted" in card
    # a rerun resumes from the work folder (nothing trained again) and refuses to clobber the output
    with pytest.raises(Exception, match="exists|overwrite"):
        adapt(data, out, cfg, progress=False)


def test_after_is_the_adapted_set_and_before_the_start_on_the_same_photographs(tmp_path):
    """The audit: the tiny starting networks mark no scalp, so "before" and "after" were both
    empty and an "after" measured on the starting model passed. Here the start finds scalp
    (every photograph has a % loss) and keep="last" really changes the weights."""
    from alonet.adapt.compare import headline
    from alonet.evaluate import evaluate
    from test_infer import make_model_set

    init = make_model_set(tmp_path / "init", scalp_bias=3.0, input_size=32)
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3, keep="last")
    adapt(data, tmp_path / "adapted", cfg, progress=False, keep_work=True)
    out, work = tmp_path / "adapted", tmp_path / "adapted.work"
    info = json.loads((out / "adapt.json").read_text())
    assert info["before"]["mean_abs_diff_pct"] is not None  # the start finds scalp: numbers to compare
    own = {name: evaluate(work / "test_ds", model, tmp_path / f"own-{name}", backend="torch", progress=False)
           for name, model in (("before", init), ("after", out))}
    for name in ("before", "after"):
        assert info[name] == json.loads(json.dumps(headline(own[name].summary)))
    rows = {}
    for name in ("before", "after"):
        with open(tmp_path / f"own-{name}" / "per_image.csv", newline="") as handle:
            rows[name] = [row["pred_loss_pct"] for row in csv.DictReader(handle)]
    assert rows["before"] != rows["after"]  # the adapted weights predict otherwise than the start
    assert info["before"] != info["after"]
    assert info["changes"]["mean_abs_diff_pct"] is not None


def info_kept(out):
    return json.loads((out / "adapt.json").read_text())["kept_start"]


def test_an_adapted_set_carries_no_patient_code_and_its_work_folder_goes(tmp_path):
    """The privacy audit: the model set's before/after folders listed the held-back patients'
    codes (and stems, which may hold codes and dates), and the work folder with a copy of
    every photograph stayed beside the model."""
    from alonet.adapt.keys import default_key_path, patient_digest, read_patient_key

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)  # patients p0 ... p6, stems p<n>_<view>
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    adapt(data, tmp_path / "adapted", cfg, progress=False)
    out = tmp_path / "adapted"
    assert not (tmp_path / "adapted.work").exists()
    texts = {p.relative_to(out): p.read_text(encoding="utf-8") for p in out.rglob("*")
             if p.suffix in (".csv", ".json", ".md")}
    codes = [f"p{n}" for n in range(7)]
    leaks = [(str(name), code) for name, text in texts.items() for code in codes
             if re.search(rf"\b{code}(_|\b)", text)]
    assert leaks == []
    with open(out / "after" / "per_image.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    key = read_patient_key(default_key_path())
    assert {row["patient"] for row in rows} <= {patient_digest(key, code) for code in codes} and len(rows) == 8
    assert {row["visit"] for row in rows} == {"1"}  # the label ("v1"; a date in some datasets) as an order
    summary = json.loads((out / "after" / "summary.json").read_text())
    assert summary["dataset"] == "the held-back patients' photographs" and summary["model"] == "this model set"


def test_a_work_folder_of_the_user_keeps_the_users_files_and_may_not_hold_the_output(tmp_path):
    """The second review: removing the work folder after success removed whatever --work named."""
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    (scratch / "notes.txt").write_text("mine")
    adapt(data, tmp_path / "adapted", cfg, work=scratch, progress=False)
    assert sorted(p.name for p in scratch.iterdir()) == ["notes.txt"]
    with pytest.raises(InvalidValueError, match="is or holds the output folder"):
        adapt(data, tmp_path / "models" / "v2", cfg, work=tmp_path / "models", progress=False)
    with pytest.raises(InvalidValueError, match="is or holds the source"):
        adapt(data, tmp_path / "elsewhere" / "v3", cfg, work=tmp_path / "ds", progress=False)
    assert (tmp_path / "adapted" / "adapt.json").is_file()


def test_networks_whose_start_validated_best_are_not_called_fine_tuned(tmp_path):
    """Before: a network that kept epoch 0 (its starting weights) was listed as fine-tuned, and
    the view-check margins were 're-fitted for the adapted network'."""
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    result = adapt(data, tmp_path / "adapted", cfg, progress=False, keep_work=True)
    out, run = tmp_path / "adapted", tmp_path / "adapted.work" / "run"
    epochs = {t: json.loads((run / t / "best.json").read_text())["metadata"]["epoch"] for t in TASKS}
    kept = [t for t in TASKS if epochs[t] == 0]
    assert kept, epochs  # the tiny networks validate no better than they started
    assert result.kept_start == info_kept(out) == kept
    card = (out / "MODEL_CARD.md").read_text()
    assert f"kept their starting weights (no epoch validated better): {', '.join(kept)}" in card
    if not {"scalp-midline", "scalp-temporal"} - set(kept):
        assert json.loads((out / "adapt.json").read_text())["view_check"] is None
        assert "margins re-fitted" not in card


def test_a_work_folder_is_never_mixed_with_other_options_or_data(tmp_path):
    """Before: --steps/--keep/--seed/--init changes on a reused work folder were ignored but
    recorded as used, and a dataset source with more patients silently trained on the old ones."""
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    adapt(data, tmp_path / "a", cfg, progress=False, keep_work=True)
    work = tmp_path / "a.work"
    for changed, words in ((replace(cfg, steps=3), "steps 2 -> 3"), (replace(cfg, seed=1), "seed 0 -> 1"),
                           (replace(cfg, keep="last"), "keep 'best' -> 'last'")):
        with pytest.raises(DatasetError, match=words) as refused:
            adapt(data, tmp_path / "b", changed, work=work, progress=False)
        assert f"--work {tmp_path / 'a.work-2'}" in str(refused.value)
    shutil.rmtree(data)
    more = tiny_dataset(tmp_path / "ds", n_patients=9)  # the same folder, now with more patients
    with pytest.raises(DatasetError, match="the source's photographs or masks"):
        adapt(more, tmp_path / "b", cfg, work=work, progress=False)
    assert not (tmp_path / "b").exists()


def test_adapting_an_adaptation_never_tests_on_patients_it_learnt_from(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    adapt(data, tmp_path / "v1", cfg, progress=False, keep_work=True)
    first = json.loads((tmp_path / "v1.work" / "held_out.json").read_text())
    info = json.loads((tmp_path / "v1" / "adapt.json").read_text())
    assert len(info["learnt_patients"]) == len(first["learn"])
    assert not set(first["learn"]) & set(info["learnt_patients"])  # digests, not the codes
    bigger = tiny_dataset(tmp_path / "ds2", n_patients=10)  # the same 7 patients and 3 new ones
    second_result = adapt(bigger, tmp_path / "v2", replace(cfg, init=str(tmp_path / "v1"), seed=3), progress=False, keep_work=True)
    second = json.loads((tmp_path / "v2.work" / "held_out.json").read_text())
    assert not set(second["test"]) & set(first["learn"])
    assert second["kept_out_of_test"] == len(first["learn"])
    assert second_result.counts["patients_kept_out_of_test"] == len(first["learn"])
    assert "patients the starting model learnt from were kept out of the test" in (tmp_path / "v2" / "MODEL_CARD.md").read_text()


def test_adapt_refuses_too_few_photographs(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=2)  # 8 photographs of 2 patients
    with pytest.raises(DatasetError, match="too few to adapt"):
        adapt(data, tmp_path / "adapted", AdaptConfig(init=str(init), backend="torch"), progress=False)
    assert not (tmp_path / "adapted").exists()


@pytest.mark.parametrize("blank", ["patient", "view"])
def test_adapt_refuses_photographs_without_patient_or_view_before_training(tmp_path, blank):
    from alonet.data.dataset import write_dataset

    init = tiny_init_set(tmp_path / "init")
    images, scalp, hairloss, meta = tiny_arrays(n_patients=7)
    meta[5] = {**meta[5], blank: ""}  # as a dataset converted without a manifest has it
    data = write_dataset(tmp_path / "ds", [(images[i], scalp[i], hairloss[i], meta[i]) for i in range(len(meta))],
                         size=32)
    with pytest.raises(DatasetError, match=f"1 without a {blank} of 28 photographs .first: p1_"):
        adapt(data, tmp_path / "adapted", AdaptConfig(init=str(init), backend="torch"), progress=False)
    assert not (tmp_path / "adapted").exists() and not (tmp_path / "adapted.work" / "run").exists()


def test_adapt_refuses_a_damaged_starting_network_before_the_work_folder(tmp_path):
    from alonet.errors import ModelError

    init = tiny_init_set(tmp_path / "init")
    weights = init / "hairloss.safetensors"  # the last network: found after fine-tuning the others before
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    with pytest.raises(ModelError, match="hairloss.safetensors does not match"):
        adapt(data, tmp_path / "adapted", AdaptConfig(init=str(init), backend="torch", steps=2), progress=False)
    assert not (tmp_path / "adapted").exists() and not (tmp_path / "adapted.work").exists()


def test_adapt_refuses_a_dataset_smaller_than_the_networks_need_before_training(tmp_path):
    data = tiny_dataset(tmp_path / "ds", n_patients=7)  # 32 px; the bundled networks need 160
    with pytest.raises(DatasetError, match="photographs are 32x32 pixels, but the model's networks need at least 160"):
        adapt(data, tmp_path / "adapted", AdaptConfig(init="default", backend="torch"), progress=False)
    assert not (tmp_path / "adapted").exists() and not (tmp_path / "adapted.work").exists()


def test_cli_too_few_is_a_one_line_error(tmp_path, capsys):
    from alonet.cli.main import main

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=2)
    code = main(["adapt", str(data), "-o", str(tmp_path / "out"), "--init", str(init), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "too few to adapt" in err and "Traceback" not in err


def test_judge_needs_a_lower_error_and_no_iou_drop():
    base = {"mean_abs_diff_pct": 10.0, "scalp_iou": 0.8, "hairloss_iou": 0.6}
    assert judge(base, {**base, "mean_abs_diff_pct": 5.0})
    assert not judge(base, {**base, "mean_abs_diff_pct": 12.0})
    assert not judge(base, {**base, "mean_abs_diff_pct": 5.0, "hairloss_iou": 0.5})


def test_judge_of_scalp_only_corrections_uses_the_scalp_iou():
    before = {"scalp_only": True, "scalp_iou": 0.75, "views_scalp_iou": {"back": 0.74, "top": 0.80}}
    assert judge(before, {**before, "scalp_iou": 0.90, "views_scalp_iou": {"back": 0.91, "top": 0.795}})
    assert not judge(before, {**before, "scalp_iou": 0.75})  # no gain
    # a gain overall that costs one view more than 0.01 is not better
    assert not judge(before, {**before, "scalp_iou": 0.90, "views_scalp_iou": {"back": 0.95, "top": 0.78}})


def test_scalp_only_adapt_trains_scalp_networks_and_reports_no_hair_loss_numbers(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", scalp_only=True, view_check_patients=3)
    result = adapt(data, tmp_path / "adapted", cfg, progress=False)

    assert set(result.trained) <= {"scalp-temporal", "scalp-midline"} and result.trained
    assert "hairloss" in result.carried
    info = json.loads((tmp_path / "adapted" / "adapt.json").read_text())
    for side in ("before", "after"):
        assert info[side]["scalp_only"] is True
        assert info[side]["hairloss_iou"] is None and info[side]["mean_abs_diff_pct"] is None
        assert set(info[side]["views_scalp_iou"]) == {"top", "back", "left", "right"}
    assert info["better"] == (info["after"]["scalp_iou"] > info["before"]["scalp_iou"]
                              and judge(info["before"], info["after"]))
    card = (tmp_path / "adapted" / "MODEL_CARD.md").read_text()
    assert "| hair loss | not annotated | not annotated |" in card and "Scalp-only corrections" in card
    assert "`comparison.png` shows the scalp IoU per view" in card


def test_scalp_only_refuses_to_train_the_hair_loss_network():
    from alonet.errors import InvalidValueError

    with pytest.raises(InvalidValueError, match="scalp-only"):
        AdaptConfig(scalp_only=True, tasks=("hairloss",))


def test_adapt_of_one_network_names_the_others_as_copied_unchanged(tmp_path):
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", tasks=("scalp-midline",), view_check_patients=3)
    result = adapt(data, tmp_path / "adapted", cfg, progress=False)
    assert result.trained == ["scalp-midline"] and result.carried == ["scalp-temporal", "hairloss"]
    card = (tmp_path / "adapted" / "MODEL_CARD.md").read_text()
    assert "copied unchanged from the starting model:\n  scalp-temporal, hairloss." in card


def test_adapting_only_the_temporal_network_refits_the_view_check_margins(tmp_path):
    """The margins compare the two scalp networks' certainty, so a fine-tuned temporal
    network gets margins fitted for it, stored in the carried-over midline JSON."""
    from alonet.infer.viewcheck import view_check_config_for

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", tasks=("scalp-temporal",),
                      view_check_patients=3, keep="last")  # last: the tiny network really changes
    result = adapt(data, tmp_path / "adapted", cfg, progress=False)
    assert result.trained == ["scalp-temporal"] and "scalp-midline" in result.carried
    info = json.loads((tmp_path / "adapted" / "adapt.json").read_text())
    fitted = view_check_config_for(tmp_path / "adapted")
    assert info["view_check"] == {"side_margin": fitted.side_margin, "midline_margin": fitted.midline_margin}
    midline = json.loads((tmp_path / "adapted" / "scalp-midline.json").read_text())
    assert midline["metadata"]["view_check"] == info["view_check"]
    assert any("margins re-fitted for the adapted scalp-temporal network" in n for n in result.notes)


def test_adapt_with_replay_trains_on_both_but_validates_and_tests_on_clinic_patients_only(tmp_path):
    """The replay dataset shares patient ids with the clinic's here (the same tiny patients):
    its patients are namespaced, always train, and never reach validation or the test."""
    from alonet.adapt.run import ReplaySource

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    replay = tiny_dataset(tmp_path / "replay", n_patients=50)  # 200 photographs: more than FEW_IMAGES with the clinic's
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", tasks=("hairloss",),
                      view_check_patients=3, replay=str(replay), replay_weight=0.5, keep="last")
    result = adapt(data, tmp_path / "adapted", cfg, progress=False, keep_work=True)
    assert result.trained == ["hairloss"]

    work = tmp_path / "adapted.work"
    held = json.loads((work / "held_out.json").read_text())
    split = json.loads((work / "run" / "split.json").read_text())
    replay_patients = {r.patient for r in ReplaySource(replay).records}
    assert len(replay_patients) == 50 and all(p.startswith("replay:") for p in replay_patients)
    assert replay_patients <= set(split["train"])
    assert set(split["val"]) <= set(held["learn"]) and split["val"]  # clinic patients only
    assert set(split["train"]) - replay_patients == set(held["learn"]) - set(split["val"])
    info = json.loads((tmp_path / "adapted" / "adapt.json").read_text())
    # the shared set says what the replay photographs were, not where (a path may hold a name)
    assert info["recipe"]["replay"] == "a converted dataset" and info["recipe"]["keep"] == "last"
    assert str(replay) not in (tmp_path / "adapted" / "adapt.json").read_text()
    assert info["init"].startswith("an own model set (checksum ") and str(tmp_path) not in info["init"]
    assert info["before"]["images"] == info["after"]["images"] == 8  # the 2 held-back clinic patients
    task = json.loads((work / "run" / "hairloss" / "train_config.json").read_text())
    assert task["dataset_weights"] == [1.0, 0.5] and task["keep"] == "last"
    # BatchNorm statistics fixed as for the clinic's few photographs alone, not unfixed by the replay
    assert task["freeze_bn"] == "all"
    card = (tmp_path / "adapted" / "MODEL_CARD.md").read_text()
    assert "the last epoch's weights" in card and "(1 : 0.5 against the clinic's photographs)" in card


def test_cli_replay_that_is_not_a_dataset_is_a_one_line_error_before_anything_is_written(tmp_path, capsys):
    from alonet.cli.main import main

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    (tmp_path / "photos").mkdir()
    code = main(["adapt", str(data), "-o", str(tmp_path / "out"), "--init", str(init), "--quiet",
                 "--replay", str(tmp_path / "photos")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "not a converted dataset" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.work").exists()
    code = main(["adapt", str(data), "-o", str(tmp_path / "out"), "--init", str(init), "--quiet",
                 "--replay", str(data), "--replay-weight", "0"])
    assert code == 2 and "replay weight must be > 0" in capsys.readouterr().err


@pytest.mark.parametrize("bad", ["lr", "replay-weight", "replay-arrays"])
def test_cli_bad_options_and_a_damaged_replay_are_refused_before_the_work_folder(tmp_path, capsys, bad):
    from alonet.cli.main import main

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    replay = tiny_dataset(tmp_path / "replay", n_patients=4)
    options = {"lr": ["--lr", "nan"], "replay-weight": ["--replay", str(replay), "--replay-weight", "inf"],
               "replay-arrays": ["--replay", str(replay)]}[bad]
    if bad == "replay-arrays":
        images = replay / "images.npy"
        images.write_bytes(images.read_bytes()[:1000])
    # each used to fail only after the work folder (a copy of every photograph) had been written
    code = main(["adapt", str(data), "-o", str(tmp_path / "out"), "--init", str(init), "--quiet", *options])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.work").exists()


def test_paired_changes_pair_photographs_and_visits_of_the_same_patients(tmp_path):
    """Visit numbers repeat across patients; rows without a number are left out."""
    from alonet.adapt.card import change_lines
    from alonet.adapt.compare import paired_changes

    def report(folder, photo_errors, visit_errors):
        folder.mkdir()
        (folder / "per_image.csv").write_text("stem,patient,abs_diff_pct\n" + "".join(
            f"{stem},{patient},{err}\n" for stem, patient, err in photo_errors))
        (folder / "per_visit.csv").write_text("patient,visit,abs_error\n" + "".join(
            f"{patient},{visit},{err}\n" for patient, visit, err in visit_errors))

    report(tmp_path / "before", [("a_top", "a", 10), ("a_back", "a", 10), ("b_top", "b", 4), ("c_top", "c", "")],
           [("a", 1, 8.0), ("b", 1, 2.0)])
    report(tmp_path / "after", [("a_top", "a", 4), ("a_back", "a", 4), ("b_top", "b", 1), ("c_top", "c", 3)],
           [("a", 1, 5.0), ("b", 1, 1.0)])
    changes = paired_changes(tmp_path / "before", tmp_path / "after")
    photo, salt = changes["mean_abs_diff_pct"], changes["salt_mae"]
    assert photo["items"] == 3 and photo["groups"] == 2 and photo["change"] == -5.0  # (-6 - 6 - 3) / 3
    assert photo["low"] == -6.0 and photo["high"] == -3.0  # excludes 0, but over 2 patients:
    assert not photo["clear"] and photo["too_few"]
    assert salt["items"] == 2 and salt["change"] == -2.0 and (salt["low"], salt["high"]) == (-3.0, -1.0)
    lines = change_lines(changes)
    assert lines[0].startswith("change in mean |Δ % loss| per photograph: -5.00 points (95 % interval -6.00 to -3.00")
    assert lines[0].endswith("bootstrap over 2 patients) - too few patients to tell: with 2 the interval says little")
    from alonet.adapt.card import unclear
    assert unclear(changes)  # the interval excludes 0, but 2 patients cannot make it clear


def test_work_folders_and_model_sets_of_an_older_alonet_are_not_trusted_blindly(tmp_path):
    """An older AloNet recorded neither a work folder's recipe nor an adapted set's patients."""
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    adapt(data, tmp_path / "v1", cfg, progress=False, keep_work=True)
    (tmp_path / "v1.work" / "recipe.json").unlink()  # as an older version left it
    with pytest.raises(DatasetError, match="made by an older AloNet that did not record its source"):
        adapt(data, tmp_path / "again", cfg, work=tmp_path / "v1.work", progress=False)
    info_path = tmp_path / "v1" / "adapt.json"
    info = json.loads(info_path.read_text())
    del info["learnt_patients"]
    info_path.write_text(json.dumps(info))
    with pytest.raises(DatasetError, match="did not record which patients it learnt from"):
        adapt(data, tmp_path / "v2", replace(cfg, init=str(tmp_path / "v1")), progress=False)
    assert not (tmp_path / "v2.work").exists()


def test_a_second_adapt_into_one_work_folder_is_refused_at_the_start(tmp_path):
    """An adapt check (2026-12-07): the lock covered each network's training only, so a second run
    started between networks or during the evaluations went on and redid the first one's work."""
    import os
    import socket

    from alonet.errors import RunInUseError
    from alonet.train.lock import LOCK_NAME

    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    work = tmp_path / "adapted.work"
    work.mkdir()
    other = os.getppid()  # a live process stands in for the first adapt
    (work / LOCK_NAME).write_text(json.dumps({"pid": other, "host": socket.gethostname(), "started": "now"}) + "\n")
    cfg = AdaptConfig(init=str(init), steps=1, batch_size=4, backend="torch", view_check_patients=3)
    with pytest.raises(RunInUseError, match=f"in use by another `alonet train` or `alonet adapt` \\(process {other}"):
        adapt(data, tmp_path / "adapted", cfg, progress=False)
    assert sorted(p.name for p in work.iterdir()) == [LOCK_NAME]  # nothing started


def test_a_network_without_photographs_of_its_views_is_named_plainly(tmp_path):
    """The note used to pass on the training's advice about meta.csv and --views, neither of
    which adapt has."""
    from alonet.data.dataset import write_dataset
    from test_train import tiny_arrays

    images, scalp, hairloss, meta = tiny_arrays(n_patients=7)
    keep = [i for i, m in enumerate(meta) if m["view"] in ("top", "back")]
    data = write_dataset(tmp_path / "ds", [(images[i], scalp[i], hairloss[i], meta[i]) for i in keep], size=32)
    init = tiny_init_set(tmp_path / "init")
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch",
                      tasks=("scalp-temporal", "scalp-midline"), view_check_patients=3)
    result = adapt(data, tmp_path / "adapted", cfg, progress=False)
    assert result.trained == ["scalp-midline"]
    assert "scalp-temporal: not fine-tuned (no left or right photographs to learn from)" in result.notes
    assert not any("--views" in n or "meta.csv" in n for n in result.notes)


@pytest.mark.parametrize("work_made", [False, True])
def test_an_interrupted_adapt_points_to_a_work_folder_only_when_there_is_one(tmp_path, capsys, monkeypatch, work_made):
    """Stopped during the store's export, it used to say "resume from OUT.work", which did not exist."""
    import alonet.adapt
    from alonet.cli.main import main

    def stopped(source, out, *args, **kwargs):
        if work_made:
            (tmp_path / "out.work").mkdir()
        raise KeyboardInterrupt

    monkeypatch.setattr(alonet.adapt, "adapt", stopped)
    init = tiny_init_set(tmp_path / "init")
    code = main(["adapt", str(tmp_path), "-o", str(tmp_path / "out"), "--init", str(init), "--quiet"])
    err = capsys.readouterr().err
    assert code == 130
    if work_made:
        assert f"resume from {tmp_path / 'out.work'}" in err
    else:
        assert "adapt stopped before training; nothing was kept" in err and "resume" not in err


def test_a_work_folder_holding_files_adapt_did_not_make_is_refused_and_kept(tmp_path):
    """An adapt check (thirty-third session): a --work folder without adapt's recipe lost its
    dataset/, before/ ... entries (someone else's files, or a finished model set's before/ and
    after/) as "an older export"."""
    init = tiny_init_set(tmp_path / "init")
    data = tiny_dataset(tmp_path / "ds", n_patients=7)
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    work = tmp_path / "mine"
    (work / "before").mkdir(parents=True)
    (work / "before" / "notes.txt").write_text("keep me")
    (work / "other.txt").write_text("keep me too")
    with pytest.raises(DatasetError, match=r"already holds before, which adapt did not record making"):
        adapt(data, tmp_path / "out", cfg, work=work, progress=False)
    assert (work / "before" / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in work.iterdir()) == ["before", "other.txt"]
    assert not (tmp_path / "out").exists()
