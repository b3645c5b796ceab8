"""Patient-level appearance of a phantom: who the patient is and how the clinic
photographs them.

A :class:`Look` is drawn once per phantom patient with :func:`sample_look` and
stays the same for every view and every visit of that patient (the same skin,
hair, clothes, backdrop and lighting set-up), exactly as in a real series of
clinical photographs. Everything that changes from one photograph to the next
(camera jitter, blur, noise, JPEG, which strands fall where) is drawn later,
per view, in :func:`alonet.phantom.render.compose.render_view`.

Colours are RGB tuples of floats in 0..1 (linear-ish display values).

The sampling weights lean towards what clinical alopecia-areata photographs
most often show (the AloNet study comes from a Korean clinic: dark hair,
Fitzpatrick II–IV skin, blue backdrops), while every category keeps enough
weight that the model sees the whole range.

Styles: ``sample_look(rng, style="train")`` is what training data is rendered
with. ``style="heldout"`` draws the same patient and then swaps in one or more
appearance families that the training sampler never produces (see
:data:`HELDOUT_FAMILIES`), for a *style-held-out* test set: the gap between it
and the ordinary test split stands in for the gap to real photographs.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType

import numpy as np

from alonet.errors import InvalidValueError
from alonet.phantom.sampling import weighted_choice

RGB = tuple[float, float, float]

#: Base skin colours per Fitzpatrick type I..VI (face/neck skin, sRGB 0..1).
FITZPATRICK_SKIN: tuple[RGB, ...] = (
    (0.96, 0.84, 0.76),
    (0.92, 0.77, 0.65),
    (0.85, 0.67, 0.53),
    (0.72, 0.53, 0.39),
    (0.55, 0.37, 0.26),
    (0.35, 0.24, 0.18),
)
FITZPATRICK_WEIGHTS: tuple[float, ...] = (0.08, 0.22, 0.34, 0.20, 0.09, 0.07)

#: Hair colour families: name -> (base colour, weight). Grey/white looks mix in
#: white strands through ``grey_fraction`` instead of a single flat colour.
HAIR_COLOURS: Mapping[str, tuple[RGB, float]] = MappingProxyType({
    "black": ((0.07, 0.06, 0.06), 0.34),
    "dark_brown": ((0.17, 0.12, 0.09), 0.20),
    "brown": ((0.32, 0.22, 0.15), 0.11),
    "light_brown": ((0.50, 0.37, 0.25), 0.06),
    "auburn": ((0.45, 0.20, 0.10), 0.05),
    "dark_blond": ((0.60, 0.47, 0.31), 0.05),
    "blond": ((0.80, 0.69, 0.52), 0.05),
    "salt_pepper": ((0.12, 0.10, 0.09), 0.08),
    "grey": ((0.55, 0.54, 0.52), 0.04),
    "white": ((0.86, 0.85, 0.82), 0.02),
})

#: Backdrop kinds and their weights (blue is the classic clinic backdrop).
BACKGROUND_KINDS: Mapping[str, float] = MappingProxyType({
    "blue": 0.52,
    "grey": 0.13,
    "white": 0.09,
    "green": 0.10,
    "wall": 0.10,
    "gradient": 0.06,
})

#: Share of training looks with short-cropped hair (a few millimetres, evenly
#: over the head; a hard negative: not loss) and hair lengths it is drawn from.
CROPPED_SHARE = 0.12
CROPPED_LENGTH = (0.008, 0.028)
#: Share of the cropped looks that are *shaved* (stubble of under a millimetre: a
#: grey-blue shadow over the skin with a fine grain, no visible hairs; still NOT
#: loss). 0 in the renderer's defaults, so no random draw is made and every
#: phantom stays as it was; ``scripts/dev/render_shaved.py`` raises it for a
#: supplementary training set (real failure mode 2: shaved heads read as bald).
SHAVED_SHARE = 0.0
SHAVED_LENGTH = (0.002, 0.006)

#: Share of looks whose bald skin is glossy: a broad soft highlight over much of the
#: dome (oily or freshly washed skin under household or window light), besides the
#: flash's small hard one; still loss. 0 in the renderer's defaults, so no random draw
#: is made and every phantom stays as it was; ``scripts/dev/render_glossy.py`` raises
#: it for a supplementary training set (real bald tops with large bright areas were
#: partly read as hair-bearing: the Norwood check, eighth session).
GLOSS_SHARE = 0.0
GLOSS_STRENGTH = (0.35, 0.9)

#: Share of training looks whose bald skin keeps scattered terminal hairs
#: (diffuse loss where skin dominates: loss).
REMNANT_SHARE = 0.35

#: Share of training looks photographed with a studio flash close to the lens
#: (a hard specular highlight on bald skin).
FLASH_SHARE = 0.6

#: Look styles: what training sees, and appearance families training never sees.
STYLES: tuple[str, ...] = ("train", "heldout")

#: Appearance families of ``style="heldout"``; each held-out look has at least
#: one. Every family lies outside what ``style="train"`` can produce (the
#: bounds are the ones tests/test_phantom_style.py checks):
#: - ``copper_hair``: vividly dyed copper/red/burgundy hair, green/red ratio
#:   0.22-0.34 (every training hair colour has green/red ≥ 0.40; auburn, the
#:   reddest, ≥ 0.40);
#: - ``black_backdrop``: black velvet backdrop, brightest channel ≤ 0.11 (the
#:   darkest training backdrop colour has its brightest channel ≥ 0.17);
#: - ``side_light``: one low-key lamp from the side, light 55-75° off the camera
#:   axis with ambient 0.06-0.16 (training: flash/ring light within 35° of
#:   the axis, later visits within 45°, ambient ≥ 0.20).
HELDOUT_FAMILIES: tuple[str, ...] = ("copper_hair", "black_backdrop", "side_light")

#: Bounds separating the held-out families from training looks.
COPPER_MAX_GREEN_RATIO = 0.36
BLACK_BACKDROP_MAX = 0.12
SIDE_LIGHT_MAX_AMBIENT = 0.18
TRAIN_LIGHT_MAX_ANGLE = 45.0  # degrees off the camera axis, on any visit

#: Facial hair (side views) and its weights: hair-like texture on cheek, jaw
#: and in front of the ear that is *outside* the scalp region (a hard negative
#: for the scalp network, which on real side views spread over beards).
BEARDS: Mapping[str, float] = MappingProxyType({"none": 0.45, "sideburns": 0.15, "stubble": 0.25, "full": 0.15})
BEARD_DENSITY: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"sideburns": (0.6, 1.0), "stubble": (0.25, 0.6), "full": (0.7, 1.0)})

#: How the hair is combed; drives the flow field in :mod:`.hair`.
HAIR_STYLES: tuple[str, ...] = ("side_part", "centre_part", "back", "forward", "messy")


@dataclass(frozen=True)
class Look:
    """Appearance of one phantom patient (constant across views and visits)."""

    # skin
    fitzpatrick: int  # 1..6
    skin_rgb: RGB  # face/neck/ear skin
    scalp_rgb: RGB  # bald scalp skin: paler and pinker than the face
    skin_shine: float  # 0..1 strength of specular highlights on bald skin
    # hair
    hair_name: str
    hair_rgb: RGB
    grey_fraction: float  # 0..1 share of white strands
    hair_density: float  # 0.25 (very thin) .. 1.0 (thick)
    hair_length: float  # strand length relative to the scalp size (0.04 short .. 0.6 long)
    curl: float  # 0 straight .. 1 curly
    hair_style: str  # one of HAIR_STYLES
    part_offset: float  # parting position across the head, -0.35..0.35 of the width
    whorl_offset: tuple[float, float]  # crown whorl position offset (fraction of size)
    whorl_turn: float  # spiral angle at the whorl, radians (sign = clockwise or not)
    hair_volume: float  # how far the hair mass reaches beyond the scalp region (fraction)
    # body, face, props
    clothing_rgb: RGB
    collar_kind: str  # "crew", "shirt", "gown", "none"
    glasses: bool
    glasses_rgb: RGB
    # scene
    background: str  # key of BACKGROUND_KINDS
    background_rgb: RGB
    background_rgb2: RGB  # second colour for gradients/walls
    light_dir: tuple[float, float, float]  # unit vector towards the main light (camera frame)
    light_ambient: float
    light_warmth: float  # -1 cool .. +1 warm tint of the light
    head_shadow: float  # 0..1 strength of the head's shadow on the backdrop
    clip_count: int  # 0..4 metal hair clips/pins used in this clinic visit style
    hands: float  # chance that fingers hold the hair aside in a view (0 for most patients)
    glove_rgb: RGB  # nitrile/latex glove colour, or the clinician's skin when bare-handed
    # photo-scale hair appearance (failure modes seen on real clinical photographs)
    hair_texture: float = 0.0  # 0 separate strands .. 1 fine directional texture (dense hair at photo scale)
    sheen: float = 0.3  # 0..1 strength of the light's sheen bands along the hair (1: strong highlights)
    cropped: bool = False  # short-cropped hair (a few mm) evenly over the whole head: NOT loss
    shaved: bool = False  # cropped to stubble (< 1 mm): a grey-blue shadow with fine grain: NOT loss
    skin_gloss: float = 0.0  # 0..1 broad soft highlight on bald skin (glossy skin): still loss
    remnant_hairs: float = 0.0  # 0..1 scattered terminal hairs left inside loss (skin dominates): IS loss
    clothing_pattern: str = "plain"  # "plain", "stripes" or "check"
    beard: str = "none"  # one of BEARDS: facial hair on the cheek and jaw (side views; never scalp)
    beard_density: float = 0.0  # 0..1 how much of the beard area its hairs cover
    style: str = "train"  # one of STYLES
    heldout: tuple[str, ...] = ()  # the HELDOUT_FAMILIES this look uses (empty for "train")


def _rgb(values: Iterable[float]) -> RGB:
    """Three channel values as a colour of plain floats (a ValueError if not three)."""
    r, g, b = (float(v) for v in values)
    return r, g, b


def _jitter_rgb(rng: np.random.Generator, rgb: RGB, amount: float) -> RGB:
    """Vary a colour mostly in brightness (relative std ``amount``) and only a
    little in hue (a fifth of it per channel), both bounded at two std, so a
    brown stays brown and never turns green."""
    common = 1.0 + np.clip(rng.normal(0.0, amount), -2 * amount, 2 * amount)
    tint = 1.0 + np.clip(rng.normal(0.0, amount * 0.2, 3), -0.4 * amount, 0.4 * amount)
    c = np.clip(np.asarray(rgb) * common * tint, 0.0, 1.0)
    return (float(c[0]), float(c[1]), float(c[2]))


def _background_colours(rng: np.random.Generator, kind: str) -> tuple[RGB, RGB]:
    if kind == "blue":
        base = (rng.uniform(0.08, 0.35), rng.uniform(0.25, 0.55), rng.uniform(0.55, 0.90))
    elif kind == "grey":
        g = rng.uniform(0.35, 0.75)
        base = (g, g * rng.uniform(0.97, 1.03), g * rng.uniform(0.97, 1.06))
    elif kind == "white":
        g = rng.uniform(0.82, 0.97)
        base = (g, g, g * rng.uniform(0.95, 1.02))
    elif kind == "green":
        base = (rng.uniform(0.15, 0.40), rng.uniform(0.45, 0.70), rng.uniform(0.30, 0.55))
    elif kind == "wall":
        base = (rng.uniform(0.70, 0.92), rng.uniform(0.65, 0.88), rng.uniform(0.55, 0.80))
    else:  # gradient: any of the above colours towards a darker/lighter second colour
        base = _background_colours(rng, weighted_choice(rng, ["blue", "grey", "green"], [3, 2, 1]))[0]
    base = _rgb(base)
    second = _jitter_rgb(rng, _rgb(v * rng.uniform(0.55, 1.15) for v in base), 0.05)
    return base, second


def sample_look(rng: np.random.Generator, style: str = "train") -> Look:
    """Draw the appearance of one phantom patient.

    ``style="train"`` (the default) is the training distribution;
    ``style="heldout"`` draws the same kind of patient and then gives it one
    or more of :data:`HELDOUT_FAMILIES`, which training never sees.
    Deterministic for a given generator state. The result is immutable and can
    be reused for every view and visit of the patient.
    """
    if style not in STYLES:
        raise InvalidValueError(f"unknown look style {style!r}", fix=f"use one of: {', '.join(STYLES)}")
    look = _sample_train_look(rng)
    return _heldout_look(look, rng) if style == "heldout" else look


def _heldout_look(look: Look, rng: np.random.Generator) -> Look:
    """``look`` with one or more held-out appearance families swapped in."""
    chosen: tuple[str, ...] = ()
    while not chosen:
        chosen = tuple(f for f in HELDOUT_FAMILIES if rng.random() < 0.5)
    changes: dict = {"style": "heldout", "heldout": chosen}
    if "copper_hair" in chosen:
        red = rng.uniform(0.38, 0.78)
        green = red * rng.uniform(0.22, 0.34)
        blue = red * rng.uniform(0.06, 0.32)
        changes.update(hair_name="copper", hair_rgb=(float(red), float(green), float(blue)),
                       grey_fraction=0.0)
    if "black_backdrop" in chosen:
        v = rng.uniform(0.015, 0.08)
        base = (float(v * rng.uniform(0.9, 1.1)), float(v * rng.uniform(0.9, 1.1)), float(v * rng.uniform(0.9, 1.2)))
        second = tuple(float(c * rng.uniform(0.55, 1.15)) for c in base)
        changes.update(background="black", background_rgb=base, background_rgb2=second)
    if "side_light" in chosen:
        changes.update(light_dir=_side_light(rng), light_ambient=float(rng.uniform(0.06, 0.16)))
    return replace(look, **changes)


def _side_light(rng: np.random.Generator) -> tuple[float, float, float]:
    """A lamp 55-75° off the camera axis, from any side."""
    off = np.deg2rad(rng.uniform(55.0, 75.0))
    az = rng.uniform(0, 2 * np.pi)
    return (float(np.sin(off) * np.cos(az)), float(np.sin(off) * np.sin(az)), float(np.cos(off)))


def _light_within(light: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Unit vector ``light`` with its angle to the camera axis clamped to
    ``lo``..``hi`` degrees (same azimuth)."""
    off = np.deg2rad(np.clip(np.rad2deg(np.arccos(np.clip(light[2], -1.0, 1.0))), lo, hi))
    az = np.arctan2(light[1], light[0])
    return np.array([np.sin(off) * np.cos(az), np.sin(off) * np.sin(az), np.cos(off)])


def _skin_tones(rng: np.random.Generator) -> tuple[int, RGB, RGB]:
    """Fitzpatrick type, face skin, and the bald scalp's skin: less sun, so
    paler; pink from blood flow, stronger on light skin."""
    fitz = int(rng.choice(6, p=np.asarray(FITZPATRICK_WEIGHTS) / sum(FITZPATRICK_WEIGHTS))) + 1
    skin = _jitter_rgb(rng, FITZPATRICK_SKIN[fitz - 1], 0.04)
    pink = rng.uniform(0.05, 0.28) * (1.2 - fitz / 7.0)
    pale = rng.uniform(0.0, 0.12)
    scalp = np.asarray(skin) * (1.0 - pink) + np.asarray((0.93, 0.62, 0.62)) * pink
    scalp = np.clip(scalp + pale * (1.0 - scalp) * 0.5, 0.0, 1.0)
    return fitz, skin, (float(scalp[0]), float(scalp[1]), float(scalp[2]))


def _hair_colour(rng: np.random.Generator) -> tuple[str, RGB, float]:
    """Hair colour family, its colour, and the share of white strands."""
    names = list(HAIR_COLOURS)
    hair_name = weighted_choice(rng, names, [HAIR_COLOURS[n][1] for n in names])
    hair_rgb = _jitter_rgb(rng, HAIR_COLOURS[hair_name][0], 0.12)
    # every one of the four shares is drawn, whichever family it is (the draws stay as they were)
    grey = {"salt_pepper": rng.uniform(0.2, 0.5), "grey": rng.uniform(0.5, 0.8),
            "white": rng.uniform(0.8, 1.0)}.get(hair_name, float(rng.uniform(0, 0.025)))
    return hair_name, hair_rgb, float(grey)


def _clothing_colour(rng: np.random.Generator) -> RGB:
    """Dark, white, or coloured clothes (muted like most real fabrics)."""
    clothes_kind = rng.integers(4)
    if clothes_kind == 0:
        return _jitter_rgb(rng, (0.1, 0.1, 0.12), 0.3)
    if clothes_kind == 1:
        return _jitter_rgb(rng, (0.85, 0.85, 0.85), 0.08)
    vivid = rng.uniform(0.1, 0.8, 3)
    return _rgb(vivid * 0.6 + vivid.mean() * 0.4)


def _camera_light(rng: np.random.Generator) -> tuple[float, float, float]:
    """Main light mostly from the camera (flash or ring light), somewhat from above."""
    az = rng.uniform(0, 2 * np.pi)
    tilt = rng.uniform(0.0, 0.7)
    light = np.array([np.cos(az) * tilt, np.sin(az) * tilt, 1.0])
    light /= np.linalg.norm(light)
    return (float(light[0]), float(light[1]), float(light[2]))


def _hair_lie(rng: np.random.Generator, length: float) -> dict:
    """How thick the hair is and how it lies (fields of :class:`Look`)."""
    return dict(
        hair_density=float(np.clip(rng.beta(4, 1.6), 0.25, 1.0)),
        curl=float(rng.beta(1.1, 4.0)),
        part_offset=float(rng.uniform(-0.35, 0.35)),
        whorl_offset=(float(rng.normal(0, 0.08)), float(rng.normal(0, 0.06))),
        whorl_turn=float(rng.choice([-1, 1]) * rng.uniform(0.3, 1.2)),
        hair_volume=float(rng.uniform(0.06, 0.22) + 0.25 * length),
    )


def _collar_and_glasses(rng: np.random.Generator) -> dict:
    """Collar kind and glasses (fields of :class:`Look`)."""
    return dict(
        collar_kind=weighted_choice(rng, ["crew", "shirt", "gown", "none"], [0.4, 0.25, 0.2, 0.15]),
        glasses=bool(rng.random() < 0.2),
        glasses_rgb=_jitter_rgb(rng, (0.1, 0.08, 0.07) if rng.random() < 0.7 else (0.7, 0.7, 0.72), 0.2),
    )


def _clinic_set_up(rng: np.random.Generator) -> dict:
    """Ambient light, light tint, head shadow, hair clips, and the hands (and
    gloves) that hold hair aside (fields of :class:`Look`)."""
    return dict(
        light_ambient=float(rng.uniform(0.25, 0.55)),
        light_warmth=float(rng.uniform(-1, 1)),
        head_shadow=float(rng.uniform(0.0, 0.6)),
        clip_count=int(rng.choice(5, p=[0.45, 0.2, 0.17, 0.1, 0.08])),
        hands=float(rng.uniform(0.3, 0.7) if rng.random() < 0.08 else 0.0),
        glove_rgb=_jitter_rgb(rng, [(0.35, 0.45, 0.85), (0.55, 0.4, 0.8), (0.92, 0.92, 0.9), (0.85, 0.68, 0.55),
                                    (0.2, 0.2, 0.22)][int(rng.choice(5, p=[0.4, 0.2, 0.15, 0.15, 0.1]))], 0.06),
    )


def _sample_train_look(rng: np.random.Generator) -> Look:
    """The training distribution of :func:`sample_look`. Every step draws from
    ``rng`` in the order written (the order fixes every phantom)."""
    fitz, skin, scalp = _skin_tones(rng)
    hair_name, hair_rgb, grey = _hair_colour(rng)
    length = float(np.exp(rng.uniform(np.log(0.035), np.log(0.55))))
    style = weighted_choice(rng, list(HAIR_STYLES), [0.35, 0.12, 0.25, 0.13, 0.15])
    bg = weighted_choice(rng, list(BACKGROUND_KINDS), list(BACKGROUND_KINDS.values()))
    bg1, bg2 = _background_colours(rng, bg)
    clothing = _clothing_colour(rng)
    light = _camera_light(rng)
    shine = float(rng.beta(2, 3))
    lie = _hair_lie(rng, length)
    dress = _collar_and_glasses(rng)
    clinic = _clinic_set_up(rng)
    look = Look(
        fitzpatrick=fitz, skin_rgb=skin, scalp_rgb=scalp, skin_shine=shine,
        hair_name=hair_name, hair_rgb=hair_rgb, grey_fraction=grey, hair_length=length, hair_style=style, **lie,
        clothing_rgb=clothing, **dress,
        background=bg, background_rgb=bg1, background_rgb2=bg2, light_dir=light, **clinic,
    )
    return _photo_scale(look, rng)


def _photo_scale(look: Look, rng: np.random.Generator) -> Look:
    """Drawn after everything else (so the draws above stay as they were):
    how the hair reads at photo scale, cropped hair, hairs left in bald skin,
    and the studio flash."""
    dense = float(np.clip((look.hair_density - 0.45) / 0.4, 0.0, 1.0))
    changes: dict = {
        # dense hair is a fine directional texture, sparse hair shows strands
        "hair_texture": float(np.clip(dense * rng.uniform(0.5, 1.0) + rng.uniform(-0.1, 0.2), 0.0, 1.0)),
        # strong highlights on a third of the heads (a hard negative on dark hair)
        "sheen": float(rng.uniform(0.55, 1.0) if rng.random() < 0.35 else rng.uniform(0.1, 0.5)),
        "remnant_hairs": float(rng.uniform(0.2, 1.0)) if rng.random() < REMNANT_SHARE else 0.0,
    }
    if rng.random() < CROPPED_SHARE:
        length = float(rng.uniform(*CROPPED_LENGTH))
        changes.update(cropped=True, hair_length=length, hair_volume=float(rng.uniform(0.01, 0.05)),
                       hair_density=float(rng.uniform(0.7, 1.0)), curl=0.0, hair_style="back",
                       hair_texture=float(rng.uniform(0.6, 1.0)))
        if SHAVED_SHARE > 0 and rng.random() < SHAVED_SHARE:  # no draw at all with the default 0
            changes.update(shaved=True, hair_length=float(rng.uniform(*SHAVED_LENGTH)))
    if rng.random() < FLASH_SHARE:  # flash: a hard, bright highlight on bald skin
        changes["skin_shine"] = float(rng.uniform(0.6, 1.0))
    if GLOSS_SHARE > 0 and rng.random() < GLOSS_SHARE:  # no draw at all with the default 0
        changes["skin_gloss"] = float(rng.uniform(*GLOSS_STRENGTH))
    changes["clothing_pattern"] = weighted_choice(rng, ["plain", "stripes", "check"], [0.75, 0.15, 0.10])
    # facial hair, drawn last so that every draw above stays as it was
    beard = weighted_choice(rng, list(BEARDS), list(BEARDS.values()))
    if beard != "none":
        changes.update(beard=beard, beard_density=float(rng.uniform(*BEARD_DENSITY[beard])))
    return replace(look, **changes)


def visit_look(look: Look, rng: np.random.Generator) -> Look:
    """The same patient on another visit day: other clothes (and collar),
    maybe a haircut or a little growth, glasses on or off now and then, the
    clinic's light set up slightly differently and another number of clips.
    Skin, hair colour, hairstyle and backdrop stay."""
    clothes = _rgb(np.clip(rng.uniform(0.1, 0.8, 3) * 0.6 + rng.uniform(0.1, 0.8) * 0.4, 0, 1))
    shortest, longest = SHAVED_LENGTH if look.shaved else CROPPED_LENGTH if look.cropped else (0.03, 0.6)
    length = float(np.clip(look.hair_length * np.exp(rng.normal(0.0, 0.25)), shortest, longest))
    light = np.asarray(look.light_dir) + rng.normal(0.0, 0.1, 3)
    light[2] = abs(light[2])
    light /= np.linalg.norm(light)
    ambient = float(np.clip(look.light_ambient + rng.normal(0, 0.05), 0.2, 0.6))
    lo, hi = (55.0, 75.0) if "side_light" in look.heldout else (0.0, TRAIN_LIGHT_MAX_ANGLE)
    light = _light_within(light, lo, hi)
    if "side_light" in look.heldout:  # the same low-key lamp, moved a little: stays held-out
        ambient = float(np.clip(look.light_ambient + rng.normal(0, 0.02), 0.06, 0.16))
    return replace(
        look,
        clothing_rgb=clothes,
        collar_kind=weighted_choice(rng, ["crew", "shirt", "gown", "none"], [0.4, 0.25, 0.2, 0.15]),
        hair_length=length,
        glasses=look.glasses if rng.random() < 0.9 else not look.glasses,
        light_dir=(float(light[0]), float(light[1]), float(light[2])),
        light_ambient=ambient,
        clip_count=int(rng.choice(5, p=[0.45, 0.2, 0.17, 0.1, 0.08])),
    )
