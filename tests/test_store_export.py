"""Corrected visits become training data: marking visits reviewed in the web app,
``export_store`` / ``alonet convert --from-store``, the model page, and the
``scripts/dev/fill_store.py`` helper.

The store is filled through the web app (Flask's test client) with the tiny
real model set of ``test_infer``; corrected masks are drawn here, so every
expected mask is known independently of the model.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import sqlite3
from pathlib import Path

import numpy as np
import pytest
from devscripts import load_dev_script
from test_infer import make_model_set
from test_web import csrf_token, encode, mask_png, photo

from alonet.cli.main import main
from alonet.data.dataset import open_dataset
from alonet.data.annotation import read_annotation
from alonet.data.photo import read_photo
from alonet.data.resize import area_resize_mask, resize_photo
from alonet.errors import AloNetError, DatasetError, InvalidValueError, OutputExistsError
from alonet.infer import Pipeline
from alonet.scoring.salt import view_loss_percent
from alonet.web import WebConfig, create_app
from alonet.web.model_info import adapt_rows, card_summary, describe_model_set
from alonet.store.schema import SCHEMA_VERSION, migrate
from alonet.store.storage import Store
from alonet.store.export import export_store, store_fingerprint


#: Photograph size (height, width) per view: none square, all different.
SHAPES = {"top": (120, 160), "back": (150, 100), "left": (90, 130), "right": (140, 138)}


# --------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    return make_model_set(tmp_path_factory.mktemp("export-models"))


@pytest.fixture(scope="module")
def pipeline(model_dir) -> Pipeline:
    return Pipeline(model_dir, backend="torch")


def make_client(model_dir, pipeline, store: Path):
    app = create_app(WebConfig(models=str(model_dir), backend="torch", store=store), pipeline=pipeline)
    app.testing = True
    return app.test_client()


def ellipse(shape, cy, cx, ry, rx) -> np.ndarray:
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1.0


def drawn_masks(view: str) -> tuple[np.ndarray, np.ndarray]:
    """A user's corrected masks for ``view``: an elliptic scalp and a patch inside it."""
    h, w = SHAPES[view]
    scalp = ellipse((h, w), h * 0.5, w * 0.5, h * 0.38, w * 0.41)
    loss = ellipse((h, w), h * 0.45, w * 0.4, h * 0.12, w * 0.2) & scalp
    return scalp, loss


def score(client, images: dict, views) -> str:
    data = {v: (io.BytesIO(encode(images[v])), f"{v}.png") for v in views}
    r = client.post("/score", data=data, content_type="multipart/form-data",
                    headers={"X-CSRFToken": csrf_token(client), "Accept": "application/json"})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()["url"]


def correct(client, url: str, masks: dict) -> None:
    data = {}
    for view, (scalp, loss) in masks.items():
        data[f"scalp_{view}"] = (io.BytesIO(mask_png(scalp)), "s.png")
        data[f"hairloss_{view}"] = (io.BytesIO(mask_png(loss)), "h.png")
    r = client.post(f"{url}/masks", data=data, content_type="multipart/form-data",
                    headers={"X-CSRFToken": csrf_token(client)})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]


def save(client, url: str, **form) -> int:
    form["csrf_token"] = csrf_token(client)
    r = client.post(f"{url}/save", data=form)
    assert r.status_code == 303, r.get_data(as_text=True)[:300]
    return int(r.headers["Location"].rsplit("/", 1)[1])


def review(client, visit_id: int, reviewed: bool = True) -> dict:
    r = client.post(f"/visits/{visit_id}/review", json={"reviewed": reviewed},
                    headers={"X-CSRFToken": csrf_token(client)})
    assert r.status_code == 200, r.get_data(as_text=True)[:300]
    return r.get_json()


@pytest.fixture(scope="module")
def images() -> dict[str, np.ndarray]:
    return {v: photo(10 + i, *SHAPES[v]) for i, v in enumerate(SHAPES)}


@pytest.fixture(scope="module")
def filled(tmp_path_factory, model_dir, pipeline, images) -> dict:
    """A store with three visits of two patients:

    A (AA-001, 2024-01-10): four views, top and left corrected, reviewed;
    B (AA-001, 2024-03-01): top and back, model masks, NOT reviewed;
    C (AA 002, 2024-02-02): four views, back corrected, right corrected to an
      EMPTY scalp (left out of the export), reviewed.
    """
    store = tmp_path_factory.mktemp("filled") / "store"
    client = make_client(model_dir, pipeline, store)
    url = score(client, images, list(SHAPES))
    correct(client, url, {v: drawn_masks(v) for v in ("top", "left")})
    visit_a = save(client, url, patient="new", new_code="AA-001", visit_date="2024-01-10")
    review(client, visit_a)
    patient_1 = Store(store).get_visit(visit_a).patient_id
    url = score(client, images, ["top", "back"])
    visit_b = save(client, url, patient=str(patient_1), visit_date="2024-03-01")
    url = score(client, images, list(SHAPES))
    empty = np.zeros(SHAPES["right"], dtype=bool)
    correct(client, url, {"back": drawn_masks("back"), "right": (empty, empty)})
    visit_c = save(client, url, patient="new", new_code="AA 002", visit_date="2024-02-02")
    review(client, visit_c)
    return {"store": store, "A": visit_a, "B": visit_b, "C": visit_c}


# --------------------------------------------------------------------------- export


def test_round_trip_keeps_corrected_masks_exactly(filled, pipeline, images, tmp_path):
    out = tmp_path / "dataset"
    summary = export_store(filled["store"], out, size=64, progress=False)
    assert summary["dataset"] == str(out) and summary["size"] == 64 and summary["include_all"] is False
    assert (summary["visits_stored"], summary["visits_exported"], summary["visits_skipped"]) == (3, 2, 1)
    assert (summary["views_exported"], summary["views_corrected"], summary["views_skipped"]) == (7, 3, 1)
    assert summary["patients"] == 2
    assert summary["skip_reasons"] == {"not_reviewed": 1, "empty_scalp": 1}
    assert {(s["visit"], s["view"], s["code"]) for s in summary["skipped"]} == {
        (filled["B"], "", "not_reviewed"), (filled["C"], "right", "empty_scalp")}

    ds = open_dataset(out)
    assert len(ds) == 7 and ds.size == 64 and ds.info["skipped"] == 1
    assert ds.info["source"] == {"store": str(filled["store"].resolve()), "include_all": False,
                                 "fingerprint": store_fingerprint(filled["store"])}
    assert re.fullmatch(r"[0-9a-f]{64}", ds.info["source"]["fingerprint"])
    rows = {(m["patient"], m["visit"], m["view"]): i for i, m in enumerate(ds.meta)}
    a, c = str(filled["A"]), str(filled["C"])
    assert set(rows) == {("AA-001", a, v) for v in SHAPES} | {("AA 002", c, v) for v in ("top", "back", "left")}
    store = Store(filled["store"])
    for (patient, visit, view), i in rows.items():
        meta = ds.meta[i]
        assert meta["patient"] == patient  # the code is in the columns
        stored = store.get_visit(int(visit)).views[view]
        assert meta["stem"] == f"v{visit}_{view}"  # no patient code, no date (privacy audit F8)
        assert meta["photo"] == f"photographs/v{visit}_{view}.jpg"
        assert (meta["orig_height"], meta["orig_width"]) == SHAPES[view]
        # Files beside the arrays are the stored ones, byte for byte.
        for column, name in (("photo", stored.photo_file), ("scalp", stored.scalp_file),
                             ("hairloss", stored.hairloss_file)):
            assert (out / meta[column]).read_bytes() == store.image_file(name).read_bytes()
        corrected = (visit, view) in {(a, "top"), (a, "left"), (c, "back")}
        assert meta["corrected"] == str(int(corrected))
        if corrected:
            scalp, loss = drawn_masks(view)
        else:
            predicted = pipeline.predict_view(images[view], view)
            scalp, loss = predicted.scalp_mask, predicted.hairloss_mask
        # Full-size masks exactly as drawn / predicted; arrays = the project's own mask resize.
        assert np.array_equal(read_annotation(out / meta["scalp"]), scalp)
        assert np.array_equal(read_annotation(out / meta["hairloss"]), loss)
        assert np.array_equal(ds.scalp[i], area_resize_mask(scalp, 64).astype(np.uint8))
        assert np.array_equal(ds.hairloss[i], area_resize_mask(loss, 64).astype(np.uint8))
        assert np.array_equal(ds.images[i], resize_photo(read_photo(out / meta["photo"]), 64))
        assert int(ds.scalp[i].sum()) > 0
    # The drawn top mask has a known hair-loss share; the manifest records it.
    with open(out / "manifest.csv", newline="", encoding="utf-8") as handle:
        manifest = {row["stem"]: row for row in csv.DictReader(handle)}
    top = manifest[ds.meta[rows[("AA-001", a, "top")]]["stem"]]
    assert float(top["loss_pct"]) == pytest.approx(view_loss_percent(*drawn_masks("top")[::-1], view="top"), abs=1e-4)
    visit_a = store.get_visit(filled["A"])
    assert top["reviewed_at"] == visit_a.reviewed_at and top["corrected"] == "1"
    assert float(top["salt"]) == pytest.approx(visit_a.salt, abs=1e-9) and top["visit_date"] == "2024-01-10"
    with open(out / "skipped.csv", newline="", encoding="utf-8") as handle:
        assert len(list(csv.DictReader(handle))) == 2
    # No file name anywhere in the export holds a patient code or a visit date; the manifest's
    # columns keep them.
    names = [p.name for p in out.rglob("*")]
    for secret in ("AA-001", "AA 002", "AA-002", *{m["visit_date"] for m in ds.meta}):
        assert not [n for n in names if secret in n], secret
    assert {row["patient"] for row in manifest.values()} == {"AA-001", "AA 002"}
    assert all(re.fullmatch(r"\d{4}-\d{2}-\d{2}", row["visit_date"]) for row in manifest.values())


def old_store_fingerprint(store_dir: Path, visit_ids: list[int]) -> str:
    """store_fingerprint as AloNet computed it before exports were named v<visit id>_<view>."""
    import hashlib

    store, digest = Store(store_dir), hashlib.sha256()
    for visit_id in visit_ids:
        visit = store.get_visit(visit_id)
        files = [f"{v.view}:{v.photo_file}:{v.scalp_file}:{v.hairloss_file}" for v in visit.views.values()]
        digest.update(f"{visit.id}|{visit.patient_id}|{visit.visit_date}|{'|'.join(files)}\n".encode())
    return digest.hexdigest()


def test_an_adapt_work_folder_exported_with_the_old_names_is_not_resumed_as_is(filled, tmp_path):
    """A work folder that `alonet adapt` filled before exports were renamed holds a dataset whose
    files carry the patient code and date: it starts afresh (nothing trained yet) or is refused
    (a fine-tune there), never resumed with the old export (privacy audit F8)."""
    from alonet.adapt import AdaptConfig
    from alonet.adapt.run import _source_dataset
    from alonet.adapt.work import WORK_RECIPE, check_work_recipe, work_recipe

    store_dir = filled["store"]
    old = old_store_fingerprint(store_dir, Store(store_dir).visit_ids(reviewed_only=True))
    assert store_fingerprint(store_dir) != old
    cfg = AdaptConfig(init="default", backend="torch")
    recipe = work_recipe(store_dir, cfg, "0123456789ab")
    work = tmp_path / "model.work"
    old_export = work / "dataset" / "photographs"
    old_export.mkdir(parents=True)
    (old_export / f"AA-001_2024-01-10_v{filled['A']}_top.jpg").write_bytes(b"old")
    (work / "dataset" / "dataset.json").write_text("{}")
    (work / "held_out.json").write_text('{"learn": ["AA-001"], "test": ["AA 002"]}')
    before = {k: v for k, v in recipe.items() if k != "export_naming"}  # as the older AloNet wrote it
    (work / WORK_RECIPE).write_text(json.dumps({**before, "source_fingerprint": old}))
    (work / "run").mkdir()  # a fine-tune had started: refused, with how to start afresh
    with pytest.raises(DatasetError, match="an AloNet update changed how store exports are named") as refused:
        check_work_recipe(work, recipe)
    assert f"this AloNet cannot resume it: start afresh with --work {tmp_path / 'model.work-2'}" in str(refused.value)
    (work / "run").rmdir()  # nothing trained yet: the old export is removed and made again
    check_work_recipe(work, recipe)
    assert not (work / "held_out.json").exists() and not (work / "dataset").exists()
    dataset = _source_dataset(store_dir, work, cfg, progress=False)
    names = sorted(p.name for p in (dataset / "photographs").iterdir())
    assert names and all(re.fullmatch(r"v\d+_(top|back|left|right)\.jpg", n) for n in names), names
    assert json.loads((work / WORK_RECIPE).read_text())["source_fingerprint"] == store_fingerprint(store_dir)


def test_the_export_folder_converts_again_like_a_phantom_folder(filled, tmp_path):
    out = tmp_path / "dataset"
    export_store(filled["store"], out, size=48, progress=False)
    if os.name != "nt":  # the store's photographs and codes: private like the store
        assert out.stat().st_mode & 0o777 == 0o700
    assert main(["convert", "--from", str(out), "-o", str(tmp_path / "again"), "--size", "48"]) == 0
    first, again = open_dataset(out), open_dataset(tmp_path / "again")
    order = [m["stem"] for m in first.meta]
    index = {m["stem"]: i for i, m in enumerate(again.meta)}
    assert sorted(order) == sorted(index)
    for i, stem in enumerate(order):
        j = index[stem]
        assert np.array_equal(first.scalp[i], again.scalp[j]) and np.array_equal(first.hairloss[i], again.hairloss[j])
        assert (again.meta[j]["patient"], again.meta[j]["visit"]) == (first.meta[i]["patient"], first.meta[i]["visit"])


def test_cli_all_exports_every_stored_visit(filled, tmp_path, capsys):
    out = tmp_path / "all"
    assert main(["convert", "--from-store", str(filled["store"]), "-o", str(out), "--all", "--size", "32"]) == 0
    printed = capsys.readouterr().out
    assert f"exported 9 views of 3 visits (2 patients, 3 views with corrected masks) into {out} (32x32)" in printed
    assert "left out: 1 view(s) with an empty scalp mask" in printed
    ds = open_dataset(out)
    assert len(ds) == 9 and ds.info["source"]["include_all"] is True
    assert sorted(m["view"] for m in ds.meta if m["visit"] == str(filled["B"])) == ["back", "top"]


def test_export_errors_are_one_line_and_write_nothing(filled, model_dir, pipeline, tmp_path, capsys):
    out = tmp_path / "out"
    # Not a store: no database is created there.
    (tmp_path / "plain").mkdir()
    assert main(["convert", "--from-store", str(tmp_path / "plain"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "is not an AloNet store" in err and err.count("\n") == 1
    assert not (tmp_path / "plain" / "alonet.sqlite3").exists()
    assert main(["convert", "--from-store", str(tmp_path / "nowhere"), "-o", str(out)]) == 2
    assert "not found" in capsys.readouterr().err
    # An empty store.
    Store(tmp_path / "empty").create_patient("P1")
    assert main(["convert", "--from-store", str(tmp_path / "empty"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "holds no visits" in err and err.count("\n") == 1
    # Visits but none reviewed; --all exports them.
    client = make_client(model_dir, pipeline, tmp_path / "unreviewed")
    url = score(client, {"top": photo(3, *SHAPES["top"])}, ["top"])
    save(client, url, patient="new", new_code="P1", visit_date="2024-05-05")
    assert main(["convert", "--from-store", str(tmp_path / "unreviewed"), "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert "none of the 1 visits" in err and "marked reviewed" in err and "--all" in err and err.count("\n") == 1
    assert not out.exists()
    # Wrong combinations.
    assert main(["convert", "--from-store", str(filled["store"]), "--from", str(tmp_path), "-o", str(out)]) != 0
    assert main(["convert", "a", "b", "c", "--all", "-o", str(out)]) != 0
    err = capsys.readouterr().err
    assert "give --from-store DIR alone" in err and "--all goes with --from-store DIR" in err
    assert not out.exists()
    # An existing output is kept unless --overwrite, and --overwrite replaces only a dataset.
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        export_store(filled["store"], out, progress=False)
    with pytest.raises(OutputExistsError, match="holds files this command did not write"):
        export_store(filled["store"], out, overwrite=True, progress=False)
    assert (out / "keep.txt").read_text() == "mine"
    (out / "keep.txt").unlink()
    export_store(filled["store"], out, size=16, progress=False)
    summary = export_store(filled["store"], out, size=16, overwrite=True, progress=False)
    assert summary["views_exported"] == 7 and (out / "dataset.json").is_file()
    assert capsys.readouterr().err == ""


def test_an_export_that_fails_midway_leaves_nothing(filled, tmp_path, monkeypatch):
    import shutil

    calls = []
    real_copy = shutil.copyfile

    def failing_copy(src, dst, *args, **kwargs):
        calls.append(dst)
        if len(calls) == 5:
            raise OSError(28, "No space left on device")
        return real_copy(src, dst, *args, **kwargs)

    monkeypatch.setattr(shutil, "copyfile", failing_copy)
    with pytest.raises(OSError):
        export_store(filled["store"], tmp_path / "out", progress=False)
    assert len(calls) == 5
    assert list(tmp_path.iterdir()) == []  # no dataset, no temporary folder


def test_a_view_whose_files_are_gone_is_skipped_with_its_reason(model_dir, pipeline, images, tmp_path):
    client = make_client(model_dir, pipeline, tmp_path / "store")
    url = score(client, images, ["top", "back"])
    visit_id = save(client, url, patient="new", new_code="P9", visit_date="2024-06-01")
    review(client, visit_id)
    store = Store(tmp_path / "store")
    store.image_file(store.get_visit(visit_id).views["back"].hairloss_file).unlink()
    summary = export_store(tmp_path / "store", tmp_path / "out", size=16, progress=False)
    assert summary["views_exported"] == 1 and summary["skip_reasons"] == {"unreadable": 1}
    assert "is missing" in summary["skipped"][0]["reason"]
    store.image_file(store.get_visit(visit_id).views["top"].scalp_file).write_bytes(b"not a png")
    with pytest.raises(DatasetError, match="none of the 1 selected visits has a view that can be exported"):
        export_store(tmp_path / "store", tmp_path / "out2", size=16, progress=False)
    assert not (tmp_path / "out2").exists()


def test_a_view_flagged_as_another_view_is_not_exported(model_dir, pipeline, images, tmp_path):
    """Its label is wrong, so it would teach the other scalp network (an upgrade check, 2026-12-07)."""
    import json
    import sqlite3

    client = make_client(model_dir, pipeline, tmp_path / "store")
    url = score(client, images, ["top", "back"])
    visit_id = save(client, url, patient="new", new_code="P9", visit_date="2024-06-01")
    flag = {"code": "view_mismatch", "view": "top", "message": "the photograph given as top looks like a left view"}
    with sqlite3.connect(tmp_path / "store" / "alonet.sqlite3") as conn:
        conn.execute("UPDATE view_images SET flags = ? WHERE visit_id = ? AND view = 'top'",
                     (json.dumps([flag]), visit_id))
    summary = export_store(tmp_path / "store", tmp_path / "out", size=16, include_all=True, progress=False)
    assert summary["views_exported"] == 1 and summary["skip_reasons"] == {"view_mismatch": 1}
    assert "looks like a left view" in summary["skipped"][0]["reason"]
    assert (tmp_path / "out" / "skipped.csv").read_text().count("view_mismatch") == 1



def test_the_fingerprint_changes_when_a_reviewed_visit_is_corrected_again(model_dir, pipeline, images, tmp_path):
    """`alonet adapt` reuses an earlier export while the fingerprint stands, so a visit whose
    masks were corrected and saved again must change it (the visit ids and dates stay)."""
    store_dir = tmp_path / "store"
    client = make_client(model_dir, pipeline, store_dir)
    url = score(client, images, ["top", "back"])
    visit_id = save(client, url, patient="new", new_code="AA-9", visit_date="2024-04-04")
    review(client, visit_id)
    first = store_fingerprint(store_dir)
    assert store_fingerprint(store_dir) == first  # nothing changed: the same
    opened = client.post(f"/visits/{visit_id}/correct", data={"csrf_token": csrf_token(client)})
    assert opened.status_code == 303
    correct(client, opened.headers["Location"], {"top": drawn_masks("top")})
    patient_id = Store(store_dir).get_visit(visit_id).patient_id
    assert save(client, opened.headers["Location"], patient=str(patient_id)) == visit_id
    assert Store(store_dir).visit_ids(reviewed_only=True) == [visit_id]
    assert Store(store_dir).visit_count(reviewed_only=True) == 1
    assert Store(store_dir).visit_count() == len(Store(store_dir).visit_ids()) >= 1
    assert store_fingerprint(store_dir) != first
    export_store(store_dir, tmp_path / "out", size=16, progress=False)
    assert np.array_equal(read_annotation(tmp_path / "out" / "scalp" / f"v{visit_id}_top.png"), drawn_masks("top")[0])


# --------------------------------------------------------------------------- review in the web app


def test_marking_a_visit_reviewed_through_page_and_json(model_dir, pipeline, images, tmp_path):
    client = make_client(model_dir, pipeline, tmp_path / "store")
    url = score(client, images, ["top"])
    visit_id = save(client, url, patient="new", new_code="AA-7", visit_date="2024-01-02")
    store = Store(tmp_path / "store")
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "Mark reviewed — use for training" in page and f'action="/visits/{visit_id}/review"' in page
    assert store.get_visit(visit_id).reviewed is False and store.visit_ids(reviewed_only=True) == []
    assert "No visit is marked reviewed yet" in client.get("/patients").get_data(as_text=True)

    # The page's form (CSRF token required).
    assert client.post(f"/visits/{visit_id}/review", data={"reviewed": "1"}).status_code == 400
    r = client.post(f"/visits/{visit_id}/review", data={"reviewed": "1", "csrf_token": csrf_token(client)})
    assert r.status_code == 303 and r.headers["Location"] == f"/visits/{visit_id}"
    stamp = store.get_visit(visit_id).reviewed_at
    assert stamp and store.visit_ids(reviewed_only=True) == [visit_id]
    page = client.get(f"/visits/{visit_id}").get_data(as_text=True)
    assert "Do not use for training" in page and stamp.replace("T", " ").replace("+00:00", " UTC") in page
    listing = client.get("/patients").get_data(as_text=True)
    assert "1 visit marked reviewed" in listing and f"alonet adapt {tmp_path / 'store'} -o MODEL_DIR" in listing
    patient_page = client.get(f"/patients/{store.get_visit(visit_id).patient_id}").get_data(as_text=True)
    assert 'class="flag good"' in patient_page and ">reviewed<" in patient_page
    assert f'<span class="muted">{stamp[:10]}</span>' in patient_page  # when: visible, not a tooltip

    # JSON: marking again keeps the first time; taking it back clears it.
    assert review(client, visit_id, True) == {"visit": visit_id, "reviewed": True, "reviewed_at": stamp}
    assert review(client, visit_id, False) == {"visit": visit_id, "reviewed": False, "reviewed_at": None}
    assert store.get_visit(visit_id).reviewed_at is None

    token = {"X-CSRFToken": csrf_token(client)}
    r = client.post(f"/visits/{visit_id}/review", json={"reviewed": "yes"}, headers=token)
    assert r.status_code == 400 and '{"reviewed": true}' in r.get_json()["error"]
    r = client.post(f"/visits/{visit_id}/review", data={"reviewed": "maybe"}, headers=token)
    assert r.status_code == 400
    r = client.post("/visits/999/review", json={"reviewed": True}, headers=token)
    assert r.status_code == 404 and "does not exist" in r.get_json()["error"]
    # The result page's save form can mark the visit at once.
    url = score(client, images, ["back"])
    assert 'name="reviewed" value="1"' in client.get(url).get_data(as_text=True)
    second = save(client, url, patient="new", new_code="AA-8", visit_date="2024-01-03", reviewed="1")
    assert store.get_visit(second).reviewed and store.visit_ids(reviewed_only=True) == [second]

    # Without --store the route says why.
    no_store = create_app(WebConfig(models=str(model_dir), backend="torch"), pipeline=pipeline).test_client()
    r = no_store.post("/visits/1/review", json={"reviewed": True}, headers={"X-CSRFToken": csrf_token(no_store)})
    assert r.status_code == 404 and "--store" in r.get_json()["error"]


def test_the_review_schema_step_upgrades_old_stores(tmp_path):
    folder = tmp_path / "v2"
    folder.mkdir()
    with sqlite3.connect(folder / "alonet.sqlite3", isolation_level=None) as conn:
        assert migrate(conn, target=2) == 0
        conn.execute("INSERT INTO patients (code, created_at) VALUES ('P1', '2024-01-01')")
        conn.execute("INSERT INTO visits (patient_id, visit_date, created_at, salt, summary) "
                     "VALUES (1, '2024-01-02', '2024-01-02', 12.5, '{}')")
    store = Store(folder)
    assert store.schema_version() == SCHEMA_VERSION >= 3
    visit = store.get_visit(1)
    assert visit.salt == 12.5 and visit.reviewed_at is None and not visit.reviewed
    assert store.visit_ids() == [1] and store.visit_ids(reviewed_only=True) == []
    assert store.set_reviewed(1, True) is not None and store.visit_ids(reviewed_only=True) == [1]
    with pytest.raises(InvalidValueError, match="visit 5 does not exist"):
        store.set_reviewed(5, True)


# --------------------------------------------------------------------------- the model set page


def test_model_page_shows_name_card_and_adapt_numbers(model_dir, pipeline, tmp_path):
    import shutil

    folder = tmp_path / "clinic-2026"
    shutil.copytree(model_dir, folder)
    (folder / "MODEL_CARD.md").write_text(
        "# Clinic model — model card\n\n| a | b |\n|---|---|\n\n"
        "Fine-tuned from the **bundled** model on [our photographs](https://example.org).\nSecond line.\n\n"
        "## Data\nmore\n", encoding="utf-8")
    # adapt.json as `alonet adapt` writes it (headline metrics, per-view errors, counts).
    adapt = {"created": "2026-12-03T10:00:00+00:00", "source": "store/", "counts": {"photographs_learn": 40},
             "before": {"images": 12, "scalp_iou": 0.82, "hairloss_iou": 0.62, "mean_abs_diff_pct": 12.0,
                        "views_mean_abs_diff_pct": {"top": 10.5}, "salt_visits": 3, "salt_mae": None},
             "after": {"images": 12, "scalp_iou": 0.815, "hairloss_iou": 0.83, "mean_abs_diff_pct": 2.75,
                       "views_mean_abs_diff_pct": {"top": 2.0}, "salt_visits": 3, "salt_mae": 1.5},
             "better": True,
             "changes": {"mean_abs_diff_pct": {"change": -9.25, "low": -15.5, "high": 1.25, "groups": 4, "items": 12,
                                               "clear": False},
                         "salt_mae": {"change": "broken", "low": 0, "high": 1}}}
    (folder / "adapt.json").write_text(json.dumps(adapt), encoding="utf-8")
    app = create_app(WebConfig(models=str(folder), backend="torch"), pipeline=Pipeline(folder, backend="torch"))
    client = app.test_client()
    assert "Model: clinic-2026" in client.get("/").get_data(as_text=True)
    page = client.get("/model").get_data(as_text=True)
    assert "Clinic model — model card" in page
    assert "Fine-tuned from the bundled model on our photographs. Second line." in page
    # lower errors, but the change is not clear: the headline says so instead of "after is better"
    assert 'id="adapt-unsure"' in page and "after is better" not in page and "photographs learn: 40" in page
    # the change with its interval over held-back patients; a malformed entry is left out, not raised
    changes = re.sub(r"\s+", " ", page.split('id="adapt-changes"')[1].split("</ul>")[0])
    assert ("Change in mean |Δ % loss| per photograph: -9.25 points (95 % interval -15.50 to +1.25, "
            "resampling 4 held-back patients) — <span class=\"flag retake\">too few patients to tell</span>: "
            "with 4 the interval says little") in changes
    assert "SALT error" not in changes
    cells = r"</th>\s*<td>{}</td><td>{}</td>\s*<td>{}(?: <span class=\"flag (?:good|retake)\">(\w+)</span>)?</td>"
    expected = {
        "photographs": ("12", "12", "+0", None),
        "scalp IoU": ("0.820", "0.815", "-0.005", "worse"),
        "hair-loss IoU": ("0.620", "0.830", "+0.210", "better"),
        "mean |Δ % loss|": ("12.000", "2.750", "-9.250", "better"),
        "mean |Δ % loss| (top)": ("10.500", "2.000", "-8.500", "better"),
        "SALT MAE": ("–", "1.500", "–", None),
    }
    for label, (before, after, change, verdict) in expected.items():
        match = re.search(re.escape(f'<th scope="row">{label}') + cells.format(*map(re.escape, (before, after, change))),
                          page)
        assert match is not None, label
        assert match.group(1) == verdict, label
    info = client.get("/api/model").get_json()
    assert info["name"] == "clinic-2026" and info["backend"] == "torch"
    # fewer than 5 held-back patients: never clear (web/model_info.patient_rule), as adapt writes it now
    adapt["changes"]["mean_abs_diff_pct"]["too_few"] = True
    assert info["adapt"] == adapt
    assert info["card"] == {"file": "MODEL_CARD.md", "title": "Clinic model — model card",
                            "summary": "Fine-tuned from the bundled model on our photographs. Second line."}
    assert "## Data" in client.get("/api/model?card=1").get_json()["card"]["text"]

    (folder / "adapt.json").write_text(json.dumps({**adapt, "better": False}), encoding="utf-8")
    assert "not better than before" in client.get("/model").get_data(as_text=True)
    (folder / "adapt.json").write_text("{broken", encoding="utf-8")
    page = client.get("/model").get_data(as_text=True)
    assert "adapt.json cannot be read" in page and client.get("/api/model").get_json()["adapt"] is None


def test_model_info_helpers():
    info = describe_model_set("default")
    assert info.name == "default (bundled)" and info.card_file == "MODEL_CARD.md"
    assert info.card_summary.startswith("Plain warning: this model was trained on synthetic photographs")
    assert info.adapt is None and info.adapt_error is None
    assert card_summary("no heading\nat all\n\n# later") == (None, "no heading at all")
    rows = adapt_rows({"before": {"iou": 0.5, "n": 3, "flag": True, "salt_mae": 4.0, "per": {"a": {"b": 1}}},
                       "after": {"iou": 0.75, "extra": 1, "salt_mae": 5.0, "per": {"a": {"b": 1}}}})
    assert rows == [
        {"metric": "iou", "label": "iou", "before": 0.5, "after": 0.75, "change": 0.25, "improved": True},
        {"metric": "n", "label": "n", "before": 3, "after": None, "change": None, "improved": None},
        {"metric": "salt_mae", "label": "SALT MAE", "before": 4.0, "after": 5.0, "change": 1.0, "improved": False},
        {"metric": "per.a.b", "label": "per (a, b)", "before": 1, "after": 1, "change": 0, "improved": None},
        {"metric": "extra", "label": "extra", "before": None, "after": 1, "change": None, "improved": None},
    ]


# --------------------------------------------------------------------------- fill_store.py


def load_fill_store():
    return load_dev_script("fill_store")


def test_fill_store_script_stores_true_masks_through_the_web_api(model_dir, pipeline, tmp_path):
    phantoms = tmp_path / "phantoms"
    assert main(["phantom", "-o", str(phantoms), "--patients", "3", "--visits", "2", "--size", "96", "--seed", "5"]) == 0
    fill_store = load_fill_store()
    summary = fill_store.fill_store(phantoms, tmp_path / "store", models=str(model_dir), backend="torch",
                                    patients=2, offset=1, progress=False, pipeline=pipeline)
    assert summary["patients"] == ["P0002", "P0003"]
    assert (summary["visits"], summary["views"], summary["reviewed"]) == (4, 16, 4)
    with open(phantoms / "manifest.csv", newline="", encoding="utf-8") as handle:
        truth = [row for row in csv.DictReader(handle) if row["patient"] != "P0001"]
    for row in summary["salt"]:
        expected = next(float(t["salt"]) for t in truth if (t["patient"], t["visit"]) == (row["patient"], row["visit"]))
        assert row["true"] == expected and row["corrected"] == pytest.approx(expected, abs=0.006)

    out = tmp_path / "dataset"
    result = export_store(tmp_path / "store", out, size=96, progress=False)
    assert (result["visits_exported"], result["views_exported"], result["views_corrected"]) == (4, 16, 16)
    ds = open_dataset(out)
    by_key = {(t["patient"], t["visit_date"], t["view"]): t for t in truth}
    for i, meta in enumerate(ds.meta):
        row = by_key[(meta["patient"], meta["visit_date"], meta["view"])]
        scalp = read_annotation(phantoms / "scalp" / row["scalp"])
        loss = read_annotation(phantoms / "hairloss" / row["hairloss"])
        assert np.array_equal(read_annotation(out / meta["scalp"]), scalp)
        assert np.array_equal(read_annotation(out / meta["hairloss"]), loss)
        assert np.array_equal(ds.scalp[i], area_resize_mask(scalp, 96).astype(np.uint8))
        assert np.array_equal(ds.hairloss[i], area_resize_mask(loss, 96).astype(np.uint8))

    # A second run into the same store stops at the first existing patient, with the reason.
    with pytest.raises(AloNetError, match="already exists"):
        fill_store.fill_store(phantoms, tmp_path / "store", models=str(model_dir), backend="torch",
                              patients=1, offset=1, progress=False, pipeline=pipeline)
    assert fill_store.main([str(phantoms), str(tmp_path / "s2"), "--offset", "9"]) == 2
    assert os.path.isdir(tmp_path / "store")


def test_adapt_from_a_store_filled_through_the_web_gives_a_model_set_the_app_describes(model_dir, pipeline, tmp_path):
    """The whole loop on a tiny scale: phantoms -> store (web API, true masks, reviewed)
    -> ``alonet adapt STORE`` -> a model set whose /model page shows adapt.json."""
    from test_finetune import tiny_init_set

    from alonet.adapt import AdaptConfig, adapt
    from alonet.model import resolve_model_set
    from alonet.model.config import TASKS

    phantoms = tmp_path / "phantoms"
    assert main(["phantom", "-o", str(phantoms), "--patients", "5", "--size", "64", "--seed", "8"]) == 0
    filled = load_fill_store().fill_store(phantoms, tmp_path / "store", models=str(model_dir), backend="torch",
                                          progress=False, pipeline=pipeline)
    assert (filled["visits"], filled["reviewed"]) == (5, 5)
    review(make_client(model_dir, pipeline, tmp_path / "store"), Store(tmp_path / "store").visit_ids()[0],
           reviewed=False)
    init = tiny_init_set(tmp_path / "init")
    cfg = AdaptConfig(init=str(init), steps=2, batch_size=4, backend="torch", view_check_patients=3)
    adapt(tmp_path / "store", tmp_path / "adapted", cfg, progress=False)

    out = tmp_path / "adapted"
    assert set(resolve_model_set(out)) == set(TASKS)
    info = json.loads((out / "adapt.json").read_text(encoding="utf-8"))
    counts = info["counts"]
    assert counts["photographs_learn"] + counts["photographs_test"] == 16
    assert counts["patients_learn"] + counts["patients_test"] == 4
    # what the export left out stays in the set (its skipped.csv went with the work folder)
    left_out = "left out of the store's export: 1 visit(s) not marked reviewed"
    assert info["notes"][0].startswith(left_out)
    assert left_out in (out / "MODEL_CARD.md").read_text(encoding="utf-8")
    assert info["before"]["images"] == info["after"]["images"] == counts["photographs_test"]

    app = create_app(WebConfig(models=str(out), backend="torch"), pipeline=Pipeline(out, backend="torch"))
    client = app.test_client()
    described = client.get("/api/model").get_json()
    assert described["name"] == "adapted" and described["adapt"]["counts"] == counts
    assert described["card"]["file"] == "MODEL_CARD.md"
    page = client.get("/model").get_data(as_text=True)
    assert f"<td>{counts['photographs_test']}</td><td>{counts['photographs_test']}</td>" in page
    assert ("after is better" in page) == info["better"] and ("not better than before" in page) != info["better"]


def test_scalp_only_adapt_numbers_have_readable_labels_and_directions():
    adapt = {"before": {"scalp_iou": 0.75, "views_scalp_iou": {"back": 0.74}, "hairloss_iou": None},
             "after": {"scalp_iou": 0.90, "views_scalp_iou": {"back": 0.91}, "hairloss_iou": None}}
    rows = {r["metric"]: r for r in adapt_rows(adapt)}
    assert rows["views_scalp_iou.back"]["label"] == "scalp IoU (back)"
    assert rows["views_scalp_iou.back"]["improved"] is True
    assert "hairloss_iou" not in rows  # not annotated: no row rather than a row of blanks


def test_adapt_refused_for_too_few_patients_leaves_no_work_folder_and_sees_a_changed_store(
        model_dir, pipeline, tmp_path):
    """Before: a refused adapt left an empty OUT.work behind, and a work folder reused its
    first export after more visits were saved, so adding patients never helped."""
    from test_finetune import tiny_init_set

    from alonet.adapt import AdaptConfig, adapt
    from alonet.errors import DatasetError

    phantoms = tmp_path / "phantoms"
    assert main(["phantom", "-o", str(phantoms), "--patients", "5", "--size", "64", "--seed", "8"]) == 0
    fill = load_fill_store().fill_store
    store = tmp_path / "store"
    fill(phantoms, store, models=str(model_dir), backend="torch", patients=3, progress=False, pipeline=pipeline)
    cfg = AdaptConfig(init=str(tiny_init_set(tmp_path / "init")), steps=2, batch_size=4, backend="torch",
                      view_check_patients=3)
    with pytest.raises(DatasetError, match="3 patient"):
        adapt(store, tmp_path / "adapted", cfg, progress=False)
    assert not (tmp_path / "adapted.work").exists() and not (tmp_path / "adapted").exists()

    work = tmp_path / "kept.work"  # a work folder the user made keeps its export
    work.mkdir()
    with pytest.raises(DatasetError, match="3 patient"):
        adapt(store, tmp_path / "adapted", cfg, work=work, progress=False)
    assert (work / "dataset" / "dataset.json").is_file()
    fill(phantoms, store, models=str(model_dir), backend="torch", offset=3, progress=False, pipeline=pipeline)
    result = adapt(store, tmp_path / "adapted", cfg, work=work, progress=False, keep_work=True)  # exported again: 5 patients
    assert result.counts["patients_learn"] + result.counts["patients_test"] == 5

    review(make_client(model_dir, pipeline, store), Store(store).visit_ids()[0], reviewed=False)
    with pytest.raises(DatasetError, match="photographs or masks"):  # training started: a new work folder
        adapt(store, tmp_path / "adapted2", cfg, work=work, progress=False)


# --------------------------------------------------------------------------- damage (store audit, 2026-12-08)


def copied_store(filled, tmp_path) -> Path:
    import shutil

    root = tmp_path / "store"
    shutil.copytree(filled["store"], root)
    return root


def test_a_visit_whose_record_cannot_be_read_is_named_not_a_traceback(filled, model_dir, pipeline, tmp_path, capsys):
    """One hand-edited summary (not JSON) took down the patient list (500) and made `convert
    --from-store` and `adapt` end in a JSONDecodeError traceback."""
    root = copied_store(filled, tmp_path)
    with sqlite3.connect(root / "alonet.sqlite3") as conn:
        conn.execute("UPDATE visits SET summary = '{\"salt\": 3' WHERE id = ?", (filled["C"],))
    client = make_client(model_dir, pipeline, root)
    assert client.get("/patients").status_code == 200  # the list stands
    page = client.get(f"/visits/{filled['C']}")
    assert page.status_code == 500
    from html import unescape

    assert f"visit {filled['C']}'s summary in the store's database cannot be read" in unescape(page.get_data(as_text=True))
    assert client.get(f"/visits/{filled['A']}").status_code == 200  # other visits are unaffected
    out = tmp_path / "out"
    assert main(["convert", "--from-store", str(root), "-o", str(out), "--size", "32"]) == 0
    printed = capsys.readouterr().out
    assert "1 visit(s) whose database record cannot be read" in printed
    rows = list(csv.DictReader(open(out / "skipped.csv", encoding="utf-8")))
    assert [(r["visit"], r["code"]) for r in rows if r["code"] == "damaged_record"] == [(str(filled["C"]), "damaged_record")]
    assert len(open_dataset(out)) == 4  # visit A's four views


def test_a_store_that_cannot_be_opened_for_writing_says_so():
    from alonet.store.storage import open_error

    path = Path("/clinic/store/alonet.sqlite3")
    readonly = open_error(sqlite3.OperationalError("unable to open database file"), path)
    assert "cannot be opened for writing" in str(readonly) and "copy it somewhere writable" in str(readonly)
    damaged = open_error(sqlite3.DatabaseError("file is not a database"), path)
    assert "the database is damaged" in str(damaged) and "restore alonet.sqlite3 from a backup" in str(damaged)
    other = open_error(sqlite3.DatabaseError("something else"), path)
    assert "give --store a folder with an AloNet database" in str(other)


def test_a_stored_mask_of_another_size_is_called_damage_in_the_store(filled, model_dir, pipeline, tmp_path):
    """It answered 400 with advice for the command line ("draw the mask on the same photograph")."""
    from html import unescape

    root = copied_store(filled, tmp_path)
    stored = Store(root).get_visit(filled["A"]).views["top"]
    (root / "images" / stored.scalp_file).write_bytes(mask_png(np.ones((12, 34), bool)))
    client = make_client(model_dir, pipeline, root)
    answer = client.get(f"/visits/{filled['A']}/report.html")
    assert answer.status_code == 500
    assert "cannot be read (damaged in the store folder); restore the store from a backup" in unescape(
        answer.get_data(as_text=True))


def test_a_visit_deleted_in_the_web_app_during_the_export_is_said_so(filled, tmp_path, monkeypatch):
    """An audit of a server saving and deleting while `convert --from-store` ran: such views were
    left out as "stored file ... is missing (delete the visit in the web app and save it again)",
    and a file removed between the decode and the copy ended the whole export."""
    import shutil

    import alonet.store.export as export

    store_dir = tmp_path / "store"
    shutil.copytree(filled["store"], store_dir)
    load = export._load_view
    deleted = []

    def delete_first(store, stored):
        if not deleted:  # the web app deletes visit A after the export read its record
            deleted.append(Store(store_dir).delete_visit(filled["A"]))
        return load(store, stored)

    monkeypatch.setattr(export, "_load_view", delete_first)
    export_store(store_dir, tmp_path / "out", size=16, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "out" / "skipped.csv", encoding="utf-8")))
    changed = [r for r in rows if r["visit"] == str(filled["A"]) and r["view"]]
    assert deleted == [True] and len(changed) == 4
    assert all(r["code"] == "changed_during_export" and "export again" in r["reason"] for r in changed)
    # a file removed between the decode and the copy: the view is left out, the export goes on
    monkeypatch.setattr(export, "_load_view", load)
    store_dir2 = tmp_path / "store2"
    shutil.copytree(filled["store"], store_dir2)
    copy = shutil.copyfile

    def removed_before_the_copy(source, target):
        if "photographs" in str(target) and not deleted[1:]:  # the photograph being copied goes
            deleted.append(Store(store_dir2).delete_visit(filled["A"]))
        return copy(source, target)

    monkeypatch.setattr(export.shutil, "copyfile", removed_before_the_copy)
    export_store(store_dir2, tmp_path / "out2", size=16, progress=False)
    rows = list(csv.DictReader(open(tmp_path / "out2" / "skipped.csv", encoding="utf-8")))
    assert deleted == [True, True]
    assert [r["code"] for r in rows if r["visit"] == str(filled["A"]) and r["view"]] == ["changed_during_export"] * 4
