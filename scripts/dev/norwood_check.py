"""A real-photograph check with no masks: does % hair loss rise with the Norwood level?

Usage::

    PYTHONPATH=src python scripts/dev/norwood_check.py ../shared/data/real-heads-cc-by \\
        --model default --model candidates/default-2026-12-05 -o /tmp/norwood

The real head photographs (``../shared/data/real-heads-cc-by``, CC BY 4.0) carry the
publisher's Norwood level (2-7) of androgenetic hair loss, no masks. On top and back
views, Norwood 2-3 heads have a full crown (little or no loss in view) and Norwood 6-7
heads a large bare top and crown. That is not alopecia areata and not a SALT reference,
but it is an ordinal label on *real* photographs, which the phantom sets cannot give:

* ``spearman``: rank correlation between a model's % loss and the Norwood level (per
  source photograph; higher is better, 1 = perfectly ordered);
* ``low_mean``: mean % loss on Norwood 2-3 heads (hair over the whole crown, often cropped
  short: the false-positive side, real failure modes 1 and 2; lower is better);
* ``high_mean``: mean % loss on Norwood 6-7 heads (the miss side; higher is better);
* ``auc``: chance that a random Norwood 6-7 head gets a higher % than a random Norwood
  2-3 head (0.5 = no better than chance);
* with several models, each one's Spearman minus the first model's, with a 95 % interval
  from a paired bootstrap over source photographs (``delta_vs_first``): an interval that
  excludes 0 is a difference this set can tell apart;
* ``tone``: on Norwood 6-7 heads, a model's mean % on the third of sources whose bald skin
  looks darkest against the other two thirds (``dark_mean``, ``rest_mean``, ``gap`` and a
  Mann-Whitney ``p``). How dark the bald skin looks is ``bald_lstar`` in ``percents.csv``:
  the median CIE L* of the pixels the *first* model marks as hair loss (the measure of the
  pipeline's "dark bald skin" check, ``alonet.infer.quality``), so every model is
  split the same way. Measured on marked skin, not on the whole region, it does not fall
  just because more hair is in view; it does mix skin tone with the light of the photograph
  (dim, warm or shaded photographs look darker too). A model that under-calls darker bald
  skin has a large ``gap`` (the phantom test sets show the same lean on Fitzpatrick V-VI).

Each source photograph appears up to three times, rotated by a multiple of 90° (see the
folder's README). Clinical photographs are upright, so each source (``source_group`` and
view) is scored once, upright: every copy in its four rotations goes through the *first*
model's scalp network and the copy and rotation it is surest about is taken
(``pseudo_label.upright``); every model then scores that same photograph. That choice is
reliable on top and back views but not on side views (it turns many sideways), so for left
and right views ``--upright real_side_upright.json`` (beside this script) takes the copy and
quarter turn chosen by hand instead, and the side the face looks to after turning as the
view; sources it leaves out are skipped. Writes
``percents.csv`` (one row per source, upright), ``summary.json`` / ``summary.csv`` (one row per model and view),
``norwood.png`` (mean % per Norwood level, one line per model, one panel per view) and
``tone.png`` (Norwood 6-7 heads: % against ``bald_lstar``, one panel per view).
The photographs are third-party: keep the outputs outside the repository and the docs.
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
from scipy.stats import mannwhitneyu, spearmanr
from tqdm import tqdm

from alonet.data.photo import read_photo
from alonet.infer import Pipeline
from alonet.infer.quality import marked_lightness

LOW = (2, 3)
HIGH = (6, 7)
#: Fewest marked pixels, as a share of the photograph, to say how dark the bald skin looks.
MIN_MARKED_SHARE = 0.005


def per_source(records: list[dict], key: str) -> list[tuple[int, str, float]]:
    """(Norwood level, source group, median % of its records) per source group holding ``key``."""
    groups: dict[str, list[float]] = defaultdict(list)
    level: dict[str, int] = {}
    for record in records:
        if record.get(key) is not None:
            groups[record["source_group"]].append(record[key])
            level[record["source_group"]] = record["norwood"]
    return [(level[g], g, float(np.median(values))) for g, values in sorted(groups.items())]


def group_percents(records: list[dict], key: str) -> list[tuple[int, float]]:
    """(Norwood level, median % of its records) per source group, for records holding ``key``."""
    return [(level, pct) for level, _, pct in per_source(records, key)]


def summarise(pairs: list[tuple[int, float]]) -> dict:
    """Spearman, low/high means, AUC and per-level means of (level, %) pairs."""
    levels = np.array([p[0] for p in pairs])
    pct = np.array([p[1] for p in pairs])
    low, high = pct[np.isin(levels, LOW)], pct[np.isin(levels, HIGH)]
    out = {"sources": int(len(pairs))}
    out["spearman"] = float(spearmanr(levels, pct).statistic) if len(pairs) > 2 else float("nan")
    out["low_mean"] = float(low.mean()) if len(low) else float("nan")
    out["high_mean"] = float(high.mean()) if len(high) else float("nan")
    if len(low) and len(high):
        u = mannwhitneyu(high, low).statistic
        out["auc"] = float(u / (len(low) * len(high)))
    else:
        out["auc"] = float("nan")
    out["by_level"] = {int(k): float(pct[levels == k].mean()) for k in sorted(set(levels.tolist()))}
    return out


def bald_lightness(photo: np.ndarray, loss: np.ndarray) -> float | None:
    """Median L* of the photograph where ``loss`` marks hair loss; None when it marks
    less than ``MIN_MARKED_SHARE`` of the photograph (too little skin to say)."""
    if np.count_nonzero(loss) < MIN_MARKED_SHARE * loss.size:
        return None
    return marked_lightness(photo, loss)


def tone_gap(records: list[dict], key: str, tone: str = "bald_lstar") -> dict:
    """Norwood 6-7 records holding both ``key`` (% loss) and ``tone``: the mean % of the darkest
    third (``tone`` below its 33.3rd percentile) and of the rest, their gap and Mann-Whitney p.
    Fewer than six such records give NaN figures."""
    pairs = [(r[tone], r[key]) for r in records
             if r["norwood"] in HIGH and r.get(tone) is not None and r.get(key) is not None]
    out: dict = {"sources": len(pairs)}
    if len(pairs) < 6:
        return out | {"dark": 0} | {k: float("nan") for k in ("cut", "dark_mean", "rest_mean", "gap", "p")}
    tones = np.array([p[0] for p in pairs])
    pct = np.array([p[1] for p in pairs])
    cut = float(np.percentile(tones, 100 / 3))
    dark, rest = pct[tones < cut], pct[tones >= cut]
    return out | {"cut": cut, "dark": int(len(dark)), "dark_mean": float(dark.mean()),
                  "rest_mean": float(rest.mean()), "gap": float(rest.mean() - dark.mean()),
                  "p": float(mannwhitneyu(dark, rest).pvalue)}


def paired_rho_difference(levels: np.ndarray, first: np.ndarray, other: np.ndarray,
                          rounds: int = 2000, seed: int = 0) -> tuple[float, float, float]:
    """Spearman(levels, other) - Spearman(levels, first) and its 95 % paired-bootstrap interval."""
    rng = np.random.default_rng(seed)
    point = float(spearmanr(levels, other).statistic - spearmanr(levels, first).statistic)
    draws = []
    for _ in range(rounds):
        i = rng.integers(0, len(levels), len(levels))
        draws.append(spearmanr(levels[i], other[i]).statistic - spearmanr(levels[i], first[i]).statistic)
    low, high = np.nanpercentile(draws, [2.5, 97.5])
    return point, float(low), float(high)


def paired(records: list[dict], first: str, other: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Levels and both models' per-source medians, for sources both models scored."""
    a = dict(((lv, g), p) for lv, g, p in per_source(records, first))
    b = dict(((lv, g), p) for lv, g, p in per_source(records, other))
    keys = sorted(set(a) & set(b))
    return (np.array([k[0] for k in keys]), np.array([a[k] for k in keys]), np.array([b[k] for k in keys]))


def view_panels(views: list[str], path: Path, draw) -> None:
    """One panel per view, % hair loss upwards; ``draw(ax, view)`` plots a panel's series and
    returns its title and x-axis label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(views), figsize=(5 * len(views), 4), squeeze=False)
    for ax, view in zip(axes[0], views):
        title, xlabel = draw(ax, view)
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("predicted % of scalp with hair loss")
        ax.set_ylim(0, 100)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot(summary: dict, views: list[str], path: Path) -> None:
    def draw(ax, view):
        for name, per_view in summary.items():
            by_level = per_view[view]["by_level"]
            ax.plot(list(by_level), list(by_level.values()), marker="o",
                    label=f"{name} (rho {per_view[view]['spearman']:.2f})")
        return f"{view} views: mean % hair loss per Norwood level", "Norwood level (publisher's label)"

    view_panels(views, path, draw)


def plot_tone(records: list[dict], summary: dict, views: list[str], path: Path) -> None:
    def draw(ax, view):
        high = [r for r in records if r["view"] == view and r["norwood"] in HIGH and r.get("bald_lstar") is not None]
        for name in summary:
            points = [(r["bald_lstar"], r[name]) for r in high if r.get(name) is not None]
            if points:
                x, y = zip(*points)
                ax.scatter(x, y, s=14, alpha=0.7, label=name)
        cut = next(iter(summary.values()))[view]["tone"]["cut"]  # the same for every model
        if not np.isnan(cut):
            ax.axvline(cut, color="grey", linestyle="--", linewidth=1, label="darkest third below")
        return f"{view} views, Norwood 6-7", "median L* of the marked bald skin (first model's mask)"

    view_panels(views, path, draw)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", type=Path, help="folder with manifest.csv and photos/")
    parser.add_argument("--model", action="append", required=True, help="model set (repeat)")
    parser.add_argument("--views", default="top,back",
                        help="comma-separated views (top, back, left, right; for side views give --upright)")
    parser.add_argument("--upright", type=Path, default=None,
                        help="JSON of hand-turned photographs ({'photos': {file: {'rot90': k, 'view': v}}}, "
                             "e.g. scripts/dev/real_side_upright.json): sources of the views it covers are "
                             "taken from it, and skipped where it has none of their copies")
    parser.add_argument("--splits", default=None, help="comma-separated publisher splits (default: all)")
    parser.add_argument("--part", choices=("learn", "test", "all"), default="all",
                        help="sources of this part only (pseudo_label.part_of: the split the hand-drawn "
                             "side limits and real_norwood_pairs.py use; test = never trained on)")
    parser.add_argument("--limit", type=int, default=None, help="at most this many sources (a quick look)")
    parser.add_argument("-o", "--output", type=Path, required=True)
    args = parser.parse_args(argv)

    views = [v.strip() for v in args.views.split(",") if v.strip()]
    splits = None if args.splits is None else {s.strip() for s in args.splits.split(",")}
    rows = [r for r in csv.DictReader((args.folder / "manifest.csv").open())
            if r["view"] in views and (splits is None or r["split"] in splits)]
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from pseudo_label import hand_upright, load_turned, part_of, upright

    rows = [r for r in rows if args.part == "all" or part_of(r["source_group"]) == args.part]
    sources: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        sources[(row["source_group"], row["view"])].append(row)
    chosen = sorted(sources.items())[: args.limit] if args.limit else sorted(sources.items())

    names = [Path(m).name for m in args.model]
    pipelines = [Pipeline(m) for m in args.model]
    turned = load_turned(args.upright)
    turned_views = {"left", "right"} if turned else set()
    records = []
    for (group, view), copies in tqdm(chosen, unit="source"):
        if view in turned_views:
            found = hand_upright(args.folder, [c["file"] for c in copies], turned)
            if found is None:
                continue
            photo, view = found
        else:
            photo = upright(pipelines[0], [read_photo(args.folder / c["file"]) for c in copies], view)
        row = copies[0]
        record = {"files": " ".join(c["file"] for c in copies), "view": view,
                  "norwood": int(row["norwood_level"]), "split": row["split"], "source_group": group}
        for name, pipeline in zip(names, pipelines):
            result = pipeline.predict_view(photo, view)
            record[name] = None if result.loss_pct is None else float(result.loss_pct)
            if name == names[0]:
                record["bald_lstar"] = bald_lightness(result.image, result.hairloss_mask)
        records.append(record)

    args.output.mkdir(parents=True, exist_ok=True)
    with (args.output / "percents.csv").open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=list(records[0]))
        writer.writeheader()
        writer.writerows(records)
    summary = {name: {view: summarise(group_percents([r for r in records if r["view"] == view], name))
                      for view in views} for name in names}
    for name in names:
        for view in views:
            summary[name][view]["tone"] = tone_gap([r for r in records if r["view"] == view], name)
    for name in names[1:]:
        for view in views:
            levels, first, other = paired([r for r in records if r["view"] == view], names[0], name)
            point, low, high = paired_rho_difference(levels, first, other)
            summary[name][view]["delta_vs_first"] = {"vs": names[0], "spearman": point, "low": low, "high": high}
            print(f"{name:>20} {view:>5}: Spearman minus {names[0]}'s {point:+.3f} (95 % {low:+.3f} .. {high:+.3f})")
    (args.output / "summary.json").write_text(json.dumps(summary, indent=2))
    with (args.output / "summary.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["model", "view", "sources", "spearman", "auc", "low_mean", "high_mean",
                         "high_dark_third_mean", "high_rest_mean"])
        for name in names:
            for view in views:
                s = summary[name][view]
                t = s["tone"]
                writer.writerow([name, view, s["sources"], f"{s['spearman']:.3f}", f"{s['auc']:.3f}",
                                 f"{s['low_mean']:.1f}", f"{s['high_mean']:.1f}", f"{t['dark_mean']:.1f}",
                                 f"{t['rest_mean']:.1f}"])
                print(f"{name:>20} {view:>5}: {s['sources']} sources, spearman {s['spearman']:.3f}, "
                      f"AUC {s['auc']:.3f}, Norwood 2-3 {s['low_mean']:.1f} %, 6-7 {s['high_mean']:.1f} % "
                      f"(darkest third of bald skin {t['dark_mean']:.1f} %, rest {t['rest_mean']:.1f} %, "
                      f"p {t['p']:.3f}, {t['sources']} sources)")
    plot(summary, views, args.output / "norwood.png")
    plot_tone(records, summary, views, args.output / "tone.png")
    print(f"wrote {args.output}/percents.csv, summary.json, summary.csv, norwood.png, tone.png")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
