"""Fill a web-app store from a phantom folder THROUGH THE WEB API, as a clinic would.

    python scripts/dev/fill_store.py PHANTOM_DIR STORE_DIR [--patients N] [--offset K]
                                     [--model default] [--backend auto] [--no-review]

PHANTOM_DIR is the output of ``alonet phantom -o DIR`` (photographs/, scalp/,
hairloss/, manifest.csv). For each phantom patient (in manifest order, the
patients ``offset`` .. ``offset + N - 1``) this script drives the Flask app of
``alonet.web.create_app`` with its test client (no server, no network), exactly
as the browser does:

1. ``POST /patients`` creates the patient (its code is the phantom's patient id);
2. per visit, ``POST /score`` scores the visit's views with the model set;
3. ``POST /result/<id>/masks`` replaces every view's masks by the phantom's TRUE
   masks (the "corrections"; the editing size is set to the photographs' size,
   so the stored masks are the true masks pixel for pixel);
4. ``POST /result/<id>/save`` stores the visit (date from the manifest);
5. ``POST /visits/<id>/review`` marks it "reviewed — use for training".

Then ``alonet convert --from-store STORE_DIR -o DATASET`` (or ``alonet adapt
STORE_DIR``) turns the store into training data. The store must not already
hold a patient with one of the codes (use a fresh folder). Prints a JSON
summary (patients, visits, views, the patient codes, the model's SALT before
correction and the true SALT per visit) on stdout; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import re
import sys
from collections import OrderedDict
from pathlib import Path

import numpy as np
from PIL import Image

from alonet.data.convert import phantom_paths
from alonet.data.annotation import read_annotation
from alonet.data.imagefile import image_info
from alonet.errors import AloNetError, DatasetError
from alonet.views import VIEWS, normalize_view

_CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)"')


def read_visits(phantom_dir: Path) -> OrderedDict:
    """``{patient: {visit: {"date": str, "views": {view: row}}}}`` in manifest order."""
    paths = phantom_paths(phantom_dir)
    with open(paths["manifest"], newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    patients: OrderedDict = OrderedDict()
    for row in rows:
        visit = patients.setdefault(row["patient"], OrderedDict()).setdefault(
            row["visit"], {"date": row.get("visit_date", ""), "views": {}})
        visit["views"][normalize_view(row["view"])] = row
    if not patients:
        raise DatasetError(f"{paths['manifest']} lists no photographs", path=paths["manifest"],
                           fix="render phantoms with `alonet phantom -o DIR` first")
    return patients


def _png(mask: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(np.where(mask, 255, 0).astype(np.uint8)).save(buf, format="PNG")
    return buf.getvalue()


class WebClient:
    """The app's test client plus the session's CSRF token; every call checks its status."""

    def __init__(self, app):
        self.client = app.test_client()
        page = self.client.get("/patients")
        self._check(page, 200, "GET /patients")
        self.token = _CSRF.search(page.get_data(as_text=True)).group(1)

    @staticmethod
    def _check(response, status: int, what: str):
        if response.status_code != status:
            body = response.get_data(as_text=True)
            try:
                reason = json.loads(body)["error"]
            except (ValueError, KeyError, TypeError):
                reason = " ".join(re.sub(r"<[^>]+>", " ", body).split())[:300]
            raise AloNetError(f"{what} answered {response.status_code}: {reason}")
        return response

    def post(self, url: str, status: int, what: str, **kwargs):
        headers = {"X-CSRFToken": self.token, "Accept": "application/json", **kwargs.pop("headers", {})}
        return self._check(self.client.post(url, headers=headers, **kwargs), status, what)


def fill_store(phantom_dir: str | Path, store_dir: str | Path, *, models: str = "default", backend: str = "auto",
               patients: int | None = None, offset: int = 0, review: bool = True, progress: bool = True,
               pipeline=None) -> dict:
    """Store the phantom patients' visits through the web API (see the module doc);
    return the summary. ``pipeline`` may pass a loaded ``alonet.infer.Pipeline``."""
    from tqdm import tqdm

    from alonet.web import WebConfig, create_app

    phantom_dir = Path(phantom_dir)
    paths = phantom_paths(phantom_dir)
    chosen = list(read_visits(phantom_dir).items())[offset:None if patients is None else offset + patients]
    if not chosen:
        raise DatasetError(f"no phantom patients left after skipping {offset}", path=phantom_dir,
                           fix="lower --offset or render more patients")
    rows = [row for _, visits in chosen for v in visits.values() for row in v["views"].values()]
    longest = max(max(image_info(paths["photos"] / row["photo"]).oriented_size) for row in rows)
    config = WebConfig(models=models, backend=backend, store=Path(store_dir), edit_max_side=longest,
                       max_pixels=max(40_000_000, longest * longest))
    web = WebClient(create_app(config, pipeline=pipeline))

    summary = {"store": str(store_dir), "phantom": str(phantom_dir), "patients": [], "visits": 0, "views": 0,
               "reviewed": 0, "salt": []}
    bar = tqdm(total=sum(len(v) for _, v in chosen), desc="storing visits", unit="visit", file=sys.stderr,
               disable=not progress)
    with bar:
        for code, visits in chosen:
            created = web.post("/patients", 303, f"creating patient {code}", data={"code": code})
            patient_id = int(created.headers["Location"].rsplit("/", 1)[1])
            summary["patients"].append(code)
            for number, visit in visits.items():
                views = {v: visit["views"][v] for v in VIEWS if v in visit["views"]}
                files = {v: (io.BytesIO((paths["photos"] / row["photo"]).read_bytes()), row["photo"])
                         for v, row in views.items()}
                scored = web.post("/score", 200, f"scoring {code} visit {number}", data=files,
                                  content_type="multipart/form-data").get_json()
                masks = {}
                for v, row in views.items():
                    masks[f"scalp_{v}"] = (io.BytesIO(_png(read_annotation(paths["scalp"] / row["scalp"]))), "s.png")
                    masks[f"hairloss_{v}"] = (io.BytesIO(_png(read_annotation(paths["hairloss"] / row["hairloss"]))),
                                              "h.png")
                corrected = web.post(f"{scored['url']}/masks", 200, f"correcting {code} visit {number}", data=masks,
                                     content_type="multipart/form-data").get_json()
                form = {"patient": str(patient_id), "visit_date": visit["date"], "csrf_token": web.token}
                saved = web.post(f"{scored['url']}/save", 303, f"saving {code} visit {number}", data=form)
                visit_id = int(saved.headers["Location"].rsplit("/", 1)[1])
                if review:
                    web.post(f"/visits/{visit_id}/review", 200, f"marking visit {visit_id} reviewed",
                             json={"reviewed": True})
                    summary["reviewed"] += 1
                truth = next((row.get("salt") for row in views.values()), "")
                summary["salt"].append({
                    "patient": code, "visit": number, "store_visit": visit_id,
                    "model": scored["summary"]["salt"], "corrected": corrected["summary"]["salt"],
                    "true": float(truth) if truth not in ("", None) else None,
                })
                summary["visits"] += 1
                summary["views"] += len(views)
                bar.update(1)
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("phantom_dir", type=Path, help="output of `alonet phantom -o DIR`")
    parser.add_argument("store_dir", type=Path, help="store folder (as for `alonet serve --store`)")
    parser.add_argument("--patients", type=int, default=None, help="how many phantom patients (default: all)")
    parser.add_argument("--offset", type=int, default=0, help="skip this many patients first (manifest order)")
    parser.add_argument("--model", default="default", help="model set that scores the visits")
    parser.add_argument("--backend", default="auto", choices=("auto", "torch", "onnx"))
    parser.add_argument("--no-review", action="store_true", help="store the visits without marking them reviewed")
    args = parser.parse_args(argv)
    if (args.patients is not None and args.patients < 1) or args.offset < 0:
        parser.error("--patients must be at least 1 and --offset at least 0")
    try:
        summary = fill_store(args.phantom_dir, args.store_dir, models=args.model, backend=args.backend,
                             patients=args.patients, offset=args.offset, review=not args.no_review)
    except AloNetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
