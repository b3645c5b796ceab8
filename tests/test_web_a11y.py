"""Accessibility of the web application (WCAG 2.1 AA essentials), checked on the real pages.

Every page is rendered by the app (Flask's test client, the tiny model set of test_web) and
read with a small tree builder over ``html.parser``; colours are read from alonet.css and
compared with the WCAG relative-luminance contrast ratio. What a browser would do with the
JavaScript (announcements, keys) is checked in the script's text, since no browser runs here.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_web import csrf_token, files_for, make_app, model_dir, photos, pipeline, save_visit  # noqa: F401

from alonet.views import VIEWS
from alonet.web import WebConfig, create_app

WEB_DIR = Path(__file__).resolve().parents[1] / "src" / "alonet" / "web"
CSS = (WEB_DIR / "static" / "alonet.css").read_text()
TOKEN = "a11y-token-for-tests"

# --------------------------------------------------------------------------- a small HTML tree

VOID = {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}


class Node:
    def __init__(self, tag: str, attrs: dict, parent: Node | None):
        self.tag, self.attrs, self.parent = tag, attrs, parent
        self.children: list[Node | str] = []

    def get(self, name: str, default=None):
        return self.attrs.get(name, default)

    def iter(self, tag: str | None = None):
        for child in self.children:
            if isinstance(child, Node):
                if tag is None or child.tag == tag:
                    yield child
                yield from child.iter(tag)

    def text(self, skip_hidden: bool = False) -> str:
        parts = []
        for child in self.children:
            if isinstance(child, str):
                parts.append(child)
            elif not (skip_hidden and "hidden" in child.attrs):
                parts.append(child.text(skip_hidden))
        return re.sub(r"\s+", " ", " ".join(parts)).strip()

    def ancestors(self):
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def classes(self) -> set[str]:
        return set((self.get("class") or "").split())


class TreeBuilder(HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.root = Node("#document", {}, None)
        self.current = self.root

    def handle_starttag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)
        if tag not in VOID:
            self.current = node

    def handle_startendtag(self, tag, attrs):
        node = Node(tag, {k: (v if v is not None else "") for k, v in attrs}, self.current)
        self.current.children.append(node)

    def handle_endtag(self, tag):
        node = self.current
        while node is not self.root and node.tag != tag:
            node = node.parent
        if node is not self.root:
            self.current = node.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(html: str) -> Node:
    builder = TreeBuilder()
    builder.feed(html)
    return builder.root


def by_id(doc: Node, ident: str) -> Node:
    found = [n for n in doc.iter() if n.get("id") == ident]
    assert len(found) == 1, f"{len(found)} elements with id {ident!r}"
    return found[0]


def accessible_name(doc: Node, control: Node) -> str:
    """The name a screen reader gives a form control: aria-labelledby, aria-label, <label for>,
    or the label around it (text of hidden elements left out, as browsers do)."""
    if control.get("aria-labelledby"):
        return " ".join(by_id(doc, i).text() for i in control.get("aria-labelledby").split())
    if control.get("aria-label"):
        return control.get("aria-label").strip()
    names = [lab.text(skip_hidden=True) for lab in doc.iter("label")
             if control.get("id") and lab.get("for") == control.get("id")]
    names += [a.text(skip_hidden=True) for a in control.ancestors() if a.tag == "label"]
    return " ".join(n for n in names if n)


def is_hidden(node: Node) -> bool:
    return "hidden" in node.attrs or any("hidden" in a.attrs for a in node.ancestors())


# --------------------------------------------------------------------------- colours


def _linear(channel: int) -> float:
    c = channel / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def rgb(colour: str) -> tuple[int, int, int]:
    h = colour.strip().lstrip("#")
    if len(h) == 3:
        h = "".join(ch * 2 for ch in h)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", h), colour
    return int(h[0:2], 16), int(h[2:4], 16), int(h[4:6], 16)


def luminance(colour) -> float:
    r, g, b = (_linear(c) for c in (rgb(colour) if isinstance(colour, str) else colour))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a, b) -> float:
    """WCAG 2.1 contrast ratio of two colours (hex strings or RGB tuples), 1 to 21."""
    hi, lo = sorted((luminance(a), luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def blend(colour, background, alpha: float) -> tuple[int, int, int]:
    """``colour`` drawn with opacity ``alpha`` over ``background``."""
    fg, bg = rgb(colour), rgb(background)
    return tuple(round(f * alpha + g * (1 - alpha)) for f, g in zip(fg, bg))


def test_contrast_function_matches_known_ratios():
    assert contrast("#000", "#fff") == pytest.approx(21.0)
    assert contrast("#fff", "#fff") == pytest.approx(1.0)
    assert contrast("#777777", "#ffffff") == pytest.approx(4.48, abs=0.01)  # the classic just-failing grey


CSS_VARS = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-fA-F]{3,6})", CSS.split("}", 1)[0]))


def css_colour(value: str) -> str:
    value = value.strip()
    m = re.fullmatch(r"var\(--([a-z-]+)\)", value)
    return CSS_VARS[m.group(1)] if m else value


def css_rule(selector: str) -> dict[str, str]:
    """Declarations of the top-level rule(s) whose selector list contains ``selector`` exactly (later
    wins; rules inside @media blocks are left out: see media_rules)."""
    found: dict[str, str] = {}
    body = re.sub(r"/\*.*?\*/", "", CSS, flags=re.S)
    body = re.sub(r"@media[^{]*\{(?:[^{}]*\{[^{}]*\})*[^{}]*\}", "", body)
    for selectors, decls in re.findall(r"([^{}]+)\{([^{}]*)\}", body):
        if selector in [s.strip() for s in selectors.split(",")]:
            for decl in decls.split(";"):
                if ":" in decl:
                    key, value = decl.split(":", 1)
                    found[key.strip()] = value.strip()
    assert found, f"no rule for {selector!r} in alonet.css"
    return found


# --------------------------------------------------------------------------- pages


@pytest.fixture(scope="module")
def pages(model_dir, pipeline, photos, tmp_path_factory) -> dict[str, str]:  # noqa: F811
    """Every page of the app as HTML: upload, result (before and after saving), patients,
    patient (with a chart), stored visit, model, an error page and the login page."""
    store = tmp_path_factory.mktemp("a11y-store")
    app = create_app(WebConfig(models=str(model_dir), backend="torch", store=store), pipeline=pipeline)
    app.testing = True
    client = app.test_client()
    out = {"index": client.get("/").get_data(as_text=True)}

    def score() -> str:
        data = files_for(photos)
        data["csrf_token"] = csrf_token(client)
        response = client.post("/score", data=data, content_type="multipart/form-data")
        assert response.status_code == 303
        return response.headers["Location"]

    url = score()
    out["result"] = client.get(url).get_data(as_text=True)
    out["result_url"] = url
    visit_url = save_visit(client, url, patient="new", new_code="AA-001", visit_date="2024-01-10")
    out["result_saved"] = client.get(url).get_data(as_text=True)
    save_visit(client, score(), patient="1", visit_date="2024-03-10")
    out["patients"] = client.get("/patients").get_data(as_text=True)
    out["patient"] = client.get("/patients/1").get_data(as_text=True)
    out["visit"] = client.get(visit_url).get_data(as_text=True)
    out["model"] = client.get("/model").get_data(as_text=True)
    missing = client.get("/patients/999")
    assert missing.status_code == 404
    out["error"] = missing.get_data(as_text=True)
    guarded = create_app(WebConfig(models=str(model_dir), backend="torch", token=TOKEN), pipeline=pipeline)
    guarded.testing = True
    guarded_client = guarded.test_client()
    out["login"] = guarded_client.get("/login").get_data(as_text=True)
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', out["login"]).group(1)
    wrong = guarded_client.post("/login", data={"token": "not-the-token", "csrf_token": login_csrf})
    assert wrong.status_code == 401
    out["login_error"] = wrong.get_data(as_text=True)
    return out


PAGE_NAMES = ["index", "result", "result_saved", "patients", "patient", "visit", "model", "error", "login",
              "login_error"]


def test_every_page_renders(pages):
    for name in PAGE_NAMES:
        assert pages[name].lstrip().lower().startswith("<!doctype html>"), name


# --------------------------------------------------------------------------- upload page


def test_upload_controls_name_their_view(pages):
    """Before: the four file inputs were all called "Drop a photograph here or click to choose a
    file", the camera inputs "Take photo" and the buttons "Remove": a screen reader could not tell
    which view each belonged to."""
    doc = parse(pages["index"])
    for view in VIEWS:
        file_input = by_id(doc, f"file-{view}")
        name = accessible_name(doc, file_input).lower()
        assert view in name and "drop a photograph here" in name, name  # the visible words stay in it
        camera = by_id(doc, f"camera-{view}")
        name = accessible_name(doc, camera).lower()
        assert view in name and "take photo" in name, name
        slot = by_id(doc, f"slot-{view}")
        remove = [b for b in slot.iter("button") if "slot-clear" in b.classes()]
        assert len(remove) == 1 and view in remove[0].text().lower() and "remove" in remove[0].text().lower()


def test_upload_progress_is_announced_and_labelled(pages):
    """Before: the progress text's live region sat inside a container that is display:none until
    the upload starts, and the text was written in the same moment it was shown, which screen
    readers do not reliably announce; the <progress> bar had no name."""
    doc = parse(pages["index"])
    status = by_id(doc, "progress-text")
    assert status.get("role") == "status" and status.get("aria-live") == "polite"
    assert not is_hidden(status), "the live region must exist (rendered, empty) before it speaks"
    bar = by_id(doc, "progress-bar")
    assert bar.get("aria-label") or bar.get("aria-labelledby")
    # that a refused upload empties the status text: test_web_browser.py (in Chromium)


def test_a_focused_camera_input_shows_focus_on_its_own_button():
    """Before: the hidden camera input's focus lit up the drop area (.slot:focus-within), so the
    keyboard user saw the wrong control as focused and "Take photo" never showed focus."""
    rule = css_rule(".slot-camera:focus-visible + .button")
    assert "outline" in rule
    assert css_rule(".slot-file:focus-visible + .slot-drop")
    body = re.sub(r"/\*.*?\*/", "", CSS, flags=re.S)
    assert ".slot:focus-within .slot-drop" not in body


# --------------------------------------------------------------------------- images and overlays


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_every_image_has_a_text_alternative(pages, name):
    doc = parse(pages[name])
    for img in doc.iter("img"):
        assert (img.get("alt") or "").strip(), f"{name}: <img> without alt text: {img.attrs}"
    for canvas in doc.iter("canvas"):
        # a canvas has no role of its own: an aria-label on it is ignored unless it is an image
        if canvas.get("aria-hidden") != "true":
            assert canvas.get("role") == "img" and canvas.get("aria-label"), f"{name}: {canvas.attrs}"


@pytest.mark.parametrize("name", ["result", "visit"])
def test_overlays_say_which_view_and_what_the_colours_and_forms_mean(pages, name):
    """Before: each overlay canvas had an aria-label ("top overlay") that screen readers ignore
    (a canvas has no role), and the legend gave two colour swatches and the words "scalp" and
    "hair loss": nothing said which colour was which or that the scalp is drawn as an outline
    and hair loss as a fill, the difference that remains without colour vision."""
    doc = parse(pages[name])
    legend = by_id(doc, "overlay-legend")
    text = legend.text().lower()
    assert "green outline" in text and "magenta fill" in text, text
    assert all(s.get("aria-hidden") == "true" for s in legend.iter("span") if "swatch" in s.classes())
    figures = [f for f in doc.iter("figure") if "view" in f.classes()]
    assert [f.get("data-view") for f in figures] == list(VIEWS)
    for figure in figures:
        view = figure.get("data-view")
        (canvas,) = [c for c in figure.iter("canvas") if "overlay" in c.classes()]
        label = canvas.get("aria-label", "").lower()
        assert canvas.get("role") == "img" and view in label and "hair loss" in label and "scalp" in label
        assert canvas.get("aria-describedby") == "overlay-legend"
        (photo,) = figure.iter("img")
        assert view in photo.get("alt").lower()
    # the scalp swatch is drawn as an outline, hair loss as a fill, like the overlay itself
    assert "border" in css_rule(".swatch.scalp") and "background" in css_rule(".swatch.hairloss")


def test_the_legend_colours_are_the_overlay_colours():
    """The legend's names (green, magenta) hold for the colours actually drawn: the report's
    OverlayStyle, the page's CSS swatches and editor.js agree. The defaults are kept (report
    images are compared in tests); under simulated deuteranopia and protanopia green turns
    yellowish and magenta bluish, so they stay apart, and the forms differ anyway."""
    from alonet.report.overlay import OverlayStyle

    style = OverlayStyle()
    assert rgb(css_colour("var(--scalp)")) == style.outline_color == (40, 230, 90)
    assert rgb(css_colour("var(--loss)")) == style.hairloss_color == (255, 40, 200)
    editor = (WEB_DIR / "static" / "editor.js").read_text()
    assert "loss: [255, 40, 200," in editor and "scalpEdge: [40, 230, 90," in editor


# --------------------------------------------------------------------------- the SALT chart


def test_the_salt_chart_has_a_text_alternative_with_every_point(pages):
    """Before: the chart was an image named "SALT over time" and nothing more; the values were only
    in each circle's tooltip, which neither a screen reader (inside role=img) nor a keyboard reaches."""
    doc = parse(pages["patient"])
    chart = by_id(doc, "salt-chart")
    assert chart.get("role") == "img"
    title = by_id(doc, chart.get("aria-labelledby"))
    desc = by_id(doc, chart.get("aria-describedby"))
    assert title.tag == "title" and title.text() == "SALT over time"
    assert desc.tag == "desc"
    text = desc.text()
    assert "2 visits" in text and "Visits table" in text
    for point in (t.text() for c in chart.iter("circle") for t in c.iter("title")):
        assert point in text, (point, text)
    assert re.search(r"2024-01-10: SALT \d+\.\d", text) and re.search(r"2024-03-10: SALT \d+\.\d", text)


def test_chart_lines_that_carry_meaning_have_3_to_1_contrast():
    """Before: the SALT 10/20 target lines (#b9c2cb, 1.8:1 on the white card) and the baseline
    (the accent at 60 % opacity, 2.4:1) were too faint to see for many (WCAG 1.4.11)."""
    target = css_rule("svg.chart .grid.target")
    assert contrast(css_colour(target["stroke"]), "#ffffff") >= 3.0
    base = css_rule("svg.chart .baseline")
    alpha = float(base.get("opacity", "1"))
    assert contrast(blend(css_colour(base["stroke"]), "#ffffff", alpha), (255, 255, 255)) >= 3.0
    for rule in ("svg.chart .series", "svg.chart .point"):
        assert contrast(css_colour(css_rule(rule)["stroke"]), "#ffffff") >= 3.0
    assert contrast(css_colour(css_rule("svg.chart .point.provisional")["stroke"]), "#ffffff") >= 3.0


# --------------------------------------------------------------------------- contrast


def _pair(selector: str) -> tuple[str, str]:
    rule = css_rule(selector)
    return css_colour(rule["color"]), css_colour(rule["background"].split()[0])


def test_text_colours_have_4_5_to_1_contrast():
    """Every text colour of alonet.css on the backgrounds it is used on (normal-size text)."""
    v = CSS_VARS
    pairs = {
        "ink on page": (v["ink"], v["bg"]), "ink on card": (v["ink"], v["card"]),
        "muted on page": (v["muted"], v["bg"]), "muted on card": (v["muted"], v["card"]),
        "muted on a warning": (v["muted"], css_colour(css_rule(".warning")["background"])),
        "table head": _pair(".views-table thead th"),
        "drop area hint": _pair(".slot-drop"),
        "header": _pair("header.site"),
        "primary button": _pair("button.primary"),
        "danger button": (css_colour(css_rule("button.danger")["color"]), "#ffffff"),
        "error": _pair(".error"), "warning": _pair(".warning"),
        "sync ok": (css_colour(css_rule(".sync[data-state=synced]")["color"]), v["card"]),
        "sync error": (css_colour(css_rule(".sync[data-state=error]")["color"]), v["card"]),
        "flag": _pair(".flag"), "flag retake": _pair(".flag.retake"), "flag good": _pair(".flag.good"),
        "flag base": _pair(".flag.base"),
    }
    header_fg, header_bg = pairs["header"]
    alpha = float(css_rule("header.site nav a")["opacity"])
    pairs["header link"] = (blend(header_fg, header_bg, alpha), header_bg)
    low = {name: round(contrast(a, b), 2) for name, (a, b) in pairs.items() if contrast(a, b) < 4.5}
    assert not low, low


def test_form_field_borders_and_focus_ring_have_3_to_1_contrast():
    """Before: text, password and date fields and selects were outlined in --line (#d7dde3), 1.4:1
    on white and 1.3:1 on the page: a field's extent was hard to see (WCAG 1.4.11)."""
    rule = css_rule("input[type=text]")
    edge = css_colour(rule["border"].split()[-1])
    for background in (CSS_VARS["card"], CSS_VARS["bg"]):
        assert contrast(edge, background) >= 3.0, (edge, background)
    ring = css_colour(css_rule("a:focus-visible")["outline"].split()[-1])
    for background in (CSS_VARS["card"], CSS_VARS["bg"], css_colour(css_rule("header.site")["background"])):
        assert contrast(ring, background) >= 3.0, (ring, background)


def test_no_focus_outline_is_removed():
    body = re.sub(r"/\*.*?\*/", "", CSS, flags=re.S)
    assert not re.search(r"outline\s*:\s*(none|0)\b", body)
    for name in ("common.js", "upload.js", "editor.js"):
        assert not re.search(r"outline\s*=\s*[\"'](none|0)", (WEB_DIR / "static" / name).read_text())


# --------------------------------------------------------------------------- zoom and narrow windows


def media_rules(condition_part: str) -> str:
    """The rules inside the @media blocks whose condition contains ``condition_part``."""
    body = re.sub(r"/\*.*?\*/", "", CSS, flags=re.S)
    found = []
    for m in re.finditer(r"@media([^{]*)\{", body):
        if condition_part not in m.group(1):
            continue
        depth, i = 1, m.end()
        while depth:
            depth += {"{": 1, "}": -1}.get(body[i], 0)
            i += 1
        found.append(body[m.end():i - 1])
    return "\n".join(found)


def test_rows_wrap_instead_of_running_off_a_narrow_or_zoomed_window(pages):
    """Before: the header (brand, three links, the model's name, Log out) and the Score row (button,
    a 220 px bar, the status) were flex rows that never wrapped: at 320 px (a phone, or 400 % zoom)
    they ran off the side of the page (WCAG 1.4.10)."""
    for selector in ("header.site", "header.site nav", ".submit-row", ".overlay-controls", "form.inline"):
        assert css_rule(selector).get("flex-wrap") == "wrap", selector
    assert "max-width" in css_rule(".progress progress")
    doc = parse(pages["index"])
    (viewport,) = [m for m in doc.iter("meta") if m.get("name") == "viewport"]
    assert "width=device-width" in viewport.get("content") and "user-scalable" not in viewport.get("content")
    assert "maximum-scale" not in viewport.get("content")


def test_the_sticky_tool_bar_lets_go_on_narrow_or_short_windows():
    """Before: the overlay tool bar stayed stuck to the top at any size; zoomed to 200 % it wraps
    to several rows and covered about half of a laptop's window while scrolling the photographs."""
    assert css_rule(".overlay-controls").get("position") == "sticky"  # kept on a large screen
    narrow = media_rules("max-width: 640px")
    short = media_rules("max-height")
    for block in (narrow, short):
        assert re.search(r"\.overlay-controls\s*\{[^}]*position:\s*static", block), block


# --------------------------------------------------------------------------- structure and navigation


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_language_title_one_h1_headings_in_order_and_landmarks(pages, name):
    doc = parse(pages[name])
    (html,) = doc.iter("html")
    assert html.get("lang") == "en"
    (title,) = [t for t in doc.iter("title") if not any(a.tag == "svg" for a in t.ancestors())]
    assert re.fullmatch(r".+ · AloNet", title.text()) and not title.text().startswith("AloNet")
    headings = [int(h.tag[1]) for h in doc.iter() if re.fullmatch(r"h[1-6]", h.tag)]
    assert headings.count(1) == 1 and headings[0] == 1, headings
    assert all(b <= a + 1 for a, b in zip(headings, headings[1:])), f"a heading level is skipped: {headings}"
    assert len(list(doc.iter("main"))) == 1 and list(doc.iter("header")) and list(doc.iter("footer"))
    navs = list(doc.iter("nav"))
    assert navs
    if len(navs) > 1:  # several navigation landmarks: each says which it is
        assert all(n.get("aria-label") for n in navs)


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_a_skip_link_comes_first_and_leads_to_main(pages, name):
    """Before: a keyboard user tabbed through the header's links on every page to reach its content."""
    doc = parse(pages[name])
    (body,) = doc.iter("body")
    first = next(n for n in body.iter() if n.tag in ("a", "button", "input", "select", "textarea"))
    assert first.tag == "a" and first.get("href") == "#main" and "skip" in first.text().lower()
    (main,) = doc.iter("main")
    assert main.get("id") == "main"
    assert css_rule(".skip-link:focus").get("top")  # shown when focused


@pytest.mark.parametrize("name, link", [("index", "Score a visit"), ("patients", "Patients"), ("model", "Model")])
def test_the_navigation_marks_the_current_page(pages, name, link):
    doc = parse(pages[name])
    (nav,) = [n for n in doc.iter("nav") if n.get("aria-label") == "Main"]
    current = [a.text() for a in nav.iter("a") if a.get("aria-current") == "page"]
    assert len(current) == 1 and current[0].startswith(link), current


def test_a_visit_page_names_its_patient_in_its_title(pages):
    """Before: a visit's title was "Visit 2024-01-10": among several open visits of several patients,
    the tab and window list (read out by screen readers) did not say whose visit it was."""
    doc = parse(pages["visit"])
    (title,) = [t for t in doc.iter("title") if not any(a.tag == "svg" for a in t.ancestors())]
    assert "2024-01-10" in title.text() and "AA-001" in title.text()
    (h1,) = doc.iter("h1")
    assert "AA-001" in h1.text()


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_table_headers_and_buttons_are_named_and_repeated_buttons_tell_apart(pages, name):
    """Before: the patient page's last column had an empty header, and each row's button was just
    "Delete": a screen reader listing the buttons heard "Delete, Delete, Delete"."""
    doc = parse(pages[name])
    for th in doc.iter("th"):
        assert th.text(), f"{name}: empty table header"
    for link in doc.iter("a"):
        assert link.text() or link.get("aria-label"), f"{name}: link without text {link.attrs}"
    names: dict[str, list[str]] = {}
    for button in doc.iter("button"):
        text = button.get("aria-label") or button.text()
        assert text, f"{name}: button without a name"
        form = next((a for a in button.ancestors() if a.tag == "form"), None)
        target = button.get("formaction") or (form.get("action") if form is not None else None) or button.get("id")
        names.setdefault(text, []).append(target)
    clashes = {t: ts for t, ts in names.items() if len(set(ts)) > 1}
    assert not clashes, f"{name}: buttons with one name doing different things: {clashes}"


@pytest.mark.parametrize("name", PAGE_NAMES)
def test_nothing_is_said_in_a_tooltip_only(pages, name):
    """A ``title`` shows only under a mouse pointer (not to keyboard or touch users, and screen
    readers treat it unevenly), so explanations are page text; the two titles left repeat what
    the page says elsewhere (Undo's Ctrl+Z is in the overlay legend, the model link's text names
    the model)."""
    doc = parse(pages[name])
    titled = [node for node in doc.iter() if node.tag != "title" and node.get("title") is not None]
    assert {node.get("id") for node in titled} <= {"undo", "model-link"}, [n.attrs for n in titled]
    if name.startswith("result"):
        legend = " ".join(by_id(doc, "overlay-legend").text().split())
        assert "Ctrl+Z undoes a stroke" in legend and "[ and ] change the brush size" in legend
        form = " ".join(by_id(doc, "save-form").text().split())
        assert "(files it although the patient already has a visit on that date)" in form
        assert "(the masks have been checked and may train the model" in form
    if name == "visit":
        button = [b for b in doc.iter("button") if b.get("id") == "correct-visit"][0]
        hint = by_id(doc, button.get("aria-describedby")).text()
        assert "Save there updates this visit" in hint


def test_a_wrong_token_is_tied_to_its_field(pages):
    doc = parse(pages["login_error"])
    (field,) = [i for i in doc.iter("input") if i.get("name") == "token"]
    assert field.get("aria-invalid") == "true"
    error = by_id(doc, field.get("aria-describedby"))
    assert error.get("role") == "alert" and "wrong access token" in error.text()


# --------------------------------------------------------------------------- live updates


@pytest.mark.parametrize("name", ["result", "result_saved"])
def test_applied_corrections_are_announced_with_the_new_salt(pages, name):
    """Before: after a correction (a stroke, Undo or Ctrl+Z) the polite status said only "Corrections
    applied": the SALT, grade and band changed silently, so a screen reader user never heard the
    new numbers."""
    doc = parse(pages[name])
    status = by_id(doc, "sync-status")
    assert status.get("role") == "status" and status.get("aria-live") == "polite" and not is_hidden(status)
    for ident in ("salt-value", "grade", "band"):
        by_id(doc, ident)  # what the sentence is made of
    # that the sentence carries the server's new numbers: test_web_browser.py (in Chromium)


@pytest.mark.parametrize("name", ["patients", "result"])
def test_the_pseudonym_tick_is_announced_when_it_appears(pages, name):
    """Before: typing a code that looks like a name showed a warning and a tick box, silently; a
    screen reader user learnt of it only from the server's refusal after pressing Save."""
    doc = parse(pages[name])
    boxes = [n for n in doc.iter() if "data-code-confirm" in n.attrs]
    assert boxes
    for box in boxes:
        siblings = [c for c in box.parent.children if isinstance(c, Node)]
        status = siblings[siblings.index(box) + 1]
        assert "data-code-confirm-status" in status.attrs
        assert status.get("role") == "status" and status.get("aria-live") == "polite" and not is_hidden(status)
    common = (WEB_DIR / "static" / "common.js").read_text()
    assert "data-code-confirm-status" in common and "status.textContent" in common


# --------------------------------------------------------------------------- correcting masks without a pointer


def test_the_result_page_offers_mask_correction_without_a_pointer(pages):
    """Before: masks could only be corrected by painting on a canvas (mouse, pen or touch); the page
    did not say how else. Now a form under the photographs takes corrected mask files, with links to
    download the current ones at the size the page edits, and the legend points to it."""
    doc = parse(pages["result"])
    legend = by_id(doc, "overlay-legend")
    assert any(a.get("href") == "#mask-files" for a in legend.iter("a"))
    details = by_id(doc, "mask-files")
    (summary,) = details.iter("summary")
    assert "from files" in summary.text() and "mouse" in summary.text()
    form = by_id(doc, "mask-files-form")
    assert form.get("enctype") == "multipart/form-data" and form.get("action").endswith("/masks")
    hidden = {i.get("name"): i.get("value") for i in form.iter("input") if i.get("type") == "hidden"}
    assert hidden.keys() == {"csrf_token", "revision", "then"} and hidden["then"] == "page"
    figures = {f.get("data-view"): f for f in doc.iter("figure")}
    for view in VIEWS:
        (fieldset,) = [f for f in form.iter("fieldset") if f.get("data-view") == view]
        (legend_el,) = fieldset.iter("legend")
        assert view in legend_el.text().lower() and "pixels" in legend_el.text()
        links = {a.get("href"): a.text() for a in fieldset.iter("a")}
        assert links == {figures[view].get("data-scalp"): f"{view} scalp mask",
                         figures[view].get("data-hairloss"): f"{view} hair-loss mask"}
        for layer, words in (("scalp", "scalp mask"), ("hairloss", "hair-loss mask")):
            (field,) = [i for i in fieldset.iter("input") if i.get("name") == f"{layer}_{view}"]
            assert field.get("type") == "file"
            name = accessible_name(doc, field).lower()
            assert view in name and words in name, name
    status = by_id(doc, "mask-files-status")
    assert status.get("role") == "status" and status.get("aria-live") == "polite"
    assert "mask-files-form" not in pages["visit"]  # a stored visit is corrected via "Correct the masks"
    editor = (WEB_DIR / "static" / "editor.js").read_text()
    assert re.search(r"if \(editable\) \{[^}]*\bbindMaskFiles\(\);", editor)


def test_the_mask_files_form_works_as_posted_without_javascript(make_app, photos):  # noqa: F811
    """The form as rendered, sent by a browser without JavaScript: the top view's downloaded masks
    with the hair loss cleared, the other views' file fields left empty (a browser sends those as
    empty parts without a file name). The server applies the top view and answers with the page."""
    import io

    from PIL import Image

    client = make_app().test_client()
    data = files_for(photos)
    data["csrf_token"] = csrf_token(client)
    url = client.post("/score", data=data, content_type="multipart/form-data").headers["Location"]
    doc = parse(client.get(url).get_data(as_text=True))
    form = by_id(doc, "mask-files-form")
    fields: dict = {i.get("name"): i.get("value") for i in form.iter("input") if i.get("type") == "hidden"}
    top = [f for f in form.iter("fieldset") if f.get("data-view") == "top"][0]
    scalp_url = [a.get("href") for a in top.iter("a") if "scalp" in a.text()][0]
    scalp_png = client.get(scalp_url).data
    size = Image.open(io.BytesIO(scalp_png)).size
    empty = io.BytesIO()
    Image.new("L", size, 0).save(empty, format="PNG")
    hidden = dict(fields)

    def form_fields() -> dict:
        sent = dict(hidden)
        for i in form.iter("input"):
            if i.get("type") == "file":
                sent[i.get("name")] = (io.BytesIO(b""), "")
        sent["scalp_top"] = (io.BytesIO(scalp_png), "top_scalp.png")
        sent["hairloss_top"] = (io.BytesIO(empty.getvalue()), "top_hairloss.png")
        return sent

    fields = form_fields()
    answer = client.post(form.get("action"), data=fields, content_type="multipart/form-data")
    assert answer.status_code == 303 and answer.headers["Location"] == f"{url}?applied=top", \
        answer.get_data(as_text=True)[:300]
    page = parse(client.get(answer.headers["Location"]).get_data(as_text=True))
    assert by_id(page, "loss-top").text() == "0.0%" and by_id(page, "conf-top").text() == "corrected"
    notice = by_id(page, "masks-applied")  # said on the page, not only by the numbers
    assert notice.get("role") == "status" and "Masks applied to the top view" in notice.text()
    assert 'id="masks-applied"' not in client.get(url).get_data(as_text=True)
    # the same form sent again (Back, then Apply): out of date, said as such, with the way back
    again = client.post(form.get("action"), data=form_fields(), content_type="multipart/form-data")
    text = again.get_data(as_text=True)
    assert again.status_code == 409 and "this page is out of date" in text and "someone else" not in text
    assert f'href="{url}"' in text and "Back to the result" in text
    assert by_id(page, "conf-back").text() != "corrected"
    report = client.get(f"{url}/report.json").get_json()
    assert report["corrected_views"] == ["top"] and report["views"]["top"]["loss_pct"] == 0.0
    # the same fields from a script (no then=page) still get the JSON answer
    fields = {"scalp_top": (io.BytesIO(scalp_png), "s.png"), "hairloss_top": (io.BytesIO(empty.getvalue()), "h.png"),
              "csrf_token": fields["csrf_token"]}
    answer = client.post(form.get("action"), data=fields, content_type="multipart/form-data")
    assert answer.status_code == 200 and answer.get_json()["summary"]["views"]["top"]["loss_pct"] == 0.0


# --------------------------------------------------------------------------- keys


def test_single_key_shortcuts_act_only_over_a_photograph(pages):
    """Before: [ and ] changed the brush size wherever the focus was (outside text fields), a
    single-character shortcut that speech input or a stray key could set off (WCAG 2.1.4). Now they
    act only while the pointer is over a photograph, where the brush is; Ctrl+Z is named on Undo."""
    editor = (WEB_DIR / "static" / "editor.js").read_text()
    keys = editor.split('document.addEventListener("keydown"', 1)[1].split("\n      });", 1)[0]
    guard = keys.index("if (!pointerOverView) { return; }")
    assert guard < keys.index('event.key === "["') and guard < keys.index('event.key === "]"')
    assert guard > keys.index('=== "z"')  # Ctrl+Z (with a modifier) works wherever the focus is
    assert "pointerOverView = true" in editor and "pointerOverView = false" in editor
    undo = by_id(parse(pages["result"]), "undo")
    assert undo.tag == "button" and undo.get("aria-keyshortcuts") == "Control+Z"
    # the brush size is also a plain range input (arrow keys), named by its label
    doc = parse(pages["result"])
    assert "size" in accessible_name(doc, by_id(doc, "brush-size")).lower()
