"""End-to-end test of the web application in headless Chromium (Selenium).

A real ``alonet serve`` process (waitress, 127.0.0.1, a free port) scores a
phantom patient's four photographs (``alonet.phantom.render_patient``); the
page must show the SALT that ``alonet score`` gives for the same files and model
set. Then the test paints with the brush (SALT rises), erases (it falls), undoes,
downloads the JSON and HTML reports (they carry the corrected numbers) and saves
a screenshot. The server runs with an empty TMPDIR and working folder that must
stay empty: without --store nothing is written to disk.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import pytest
from PIL import Image
from conftest import require
from test_infer import make_model_set

from alonet.cli.main import main
from alonet.views import VIEWS

pytestmark = pytest.mark.browser

CHROMIUM = os.environ.get("ALONET_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("ALONET_CHROMEDRIVER", "/usr/bin/chromedriver")


def phantom_views(folder: Path, seed: int = 3) -> dict[str, Path]:
    """One phantom patient's four photographs (``alonet.phantom.render_patient``) as JPEGs."""
    from alonet.phantom import render_patient

    visit = render_patient(seed, visits=1, size=320)[0]
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for view in VIEWS:
        paths[view] = folder / f"patient{seed}_{view}.jpg"
        Image.fromarray(visit.views[view].image).save(paths[view], quality=92)
    return paths


class Server:
    """``alonet serve`` in a subprocess; its stderr is drained in a thread."""

    def __init__(self, args: list[str], env: dict, cwd: Path):
        self.proc = subprocess.Popen([sys.executable, "-m", "alonet.cli.main", "serve", *args], env=env,
                                     cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self.url: str | None = None
        self.ready = threading.Event()
        threading.Thread(target=self._drain, daemon=True).start()

    def _drain(self) -> None:
        for line in self.proc.stderr:
            self.lines.append(line.rstrip())
            found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
            if found and not self.ready.is_set():
                self.url = found.group(1)
                self.ready.set()
        self.ready.set()

    def wait(self, timeout: float = 60) -> str:
        self.ready.wait(timeout)
        if not self.url:
            raise AssertionError("server did not start:\n" + "\n".join(self.lines[-20:]))
        return self.url

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:  # pragma: no cover
            self.proc.kill()
            self.proc.wait()


def chromium(download_dir: Path, profile: Path):
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    for path in (CHROMIUM, CHROMEDRIVER):
        require(Path(path).is_file(), f"{path} not found: install Debian's chromium and chromium-driver "
                                      "(apt-get install chromium chromium-driver; .ci/run does this)")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--window-size=1280,1100"):
        options.add_argument(flag)
    options.add_experimental_option("prefs", {"download.default_directory": str(download_dir),
                                              "download.prompt_for_download": False})
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.execute_cdp_cmd("Page.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(download_dir)})
    return driver


def wait_for(predicate, timeout: float = 30, what: str = "condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def downloaded(folder: Path, suffix: str) -> Path:
    def done():
        files = [p for p in folder.glob(f"*{suffix}") if not p.name.endswith(".crdownload")]
        return files[0] if files and files[0].stat().st_size > 0 else None

    return wait_for(done, 20, f"a downloaded {suffix} file")


@contextmanager
def browser_on_server(tmp_path: Path, *args: str, store: bool = False):
    """``alonet serve`` on a tiny model set (extra ``args``; ``store``: with ``--store``) and a
    headless Chromium; yields ``(url, driver)`` and stops both."""
    models = make_model_set(tmp_path / "models", seed=1)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    argv = ["--port", "0", "--model", str(models), "--backend", "torch", *args]
    if store:
        argv += ["--store", str(tmp_path / "store")]
    server = Server(argv, dict(os.environ, PYTHONUNBUFFERED="1"), cwd)
    driver = None
    try:
        url = server.wait()
        driver = chromium(tmp_path / "downloads", tmp_path / "profile")
        yield url, driver
    finally:
        if driver is not None:
            driver.quit()
        server.stop()


def score_in_browser(driver, url: str, photos: dict[str, Path]) -> None:
    """Upload the four photographs on the upload page, score them, wait for the result page."""
    from selenium.webdriver.common.by import By

    driver.get(url)
    for view, path in photos.items():
        driver.find_element(By.ID, f"file-{view}").send_keys(str(path))
    wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".slot.filled")) == 4, 10, "four previews")
    driver.find_element(By.ID, "score-button").click()
    wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#editor[data-ready='1']"), 60, "the result page")


def test_browser_scores_corrects_and_downloads(tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    # seed 1 gives SALT about 9.5 on the phantom patient: room to paint and a number worth comparing
    models = make_model_set(tmp_path / "models", seed=1)
    photos = phantom_views(tmp_path / "photos")

    # Reference: the CLI on the same files and model set.
    out = tmp_path / "cli-report"
    args = ["score", "-o", str(out), "--model", str(models), "--backend", "torch"]
    for view, path in photos.items():
        args += [f"--{view}", str(path)]
    assert main(args) == 0
    cli = json.loads((out / "report.json").read_text())
    assert cli["complete"] and cli["salt"] is not None

    server_tmp, server_cwd, downloads = tmp_path / "server-tmp", tmp_path / "server-cwd", tmp_path / "downloads"
    for folder in (server_tmp, server_cwd, downloads):
        folder.mkdir()
    env = dict(os.environ, TMPDIR=str(server_tmp), PYTHONUNBUFFERED="1")
    server = Server(["--port", "0", "--model", str(models), "--backend", "torch"], env, server_cwd)
    driver = None
    try:
        url = server.wait()
        driver = chromium(downloads, tmp_path / "profile")
        driver.get(url)
        # An upload the server refuses (not a photograph): the error shows and the progress live
        # region is emptied, not left saying "Scoring 1 view..." beside it.
        not_a_photo = tmp_path / "notes.jpg"
        not_a_photo.write_text("not a photograph")
        driver.find_element(By.ID, "file-top").send_keys(str(not_a_photo))
        driver.find_element(By.ID, "score-button").click()
        error = driver.find_element(By.ID, "upload-error")
        wait_for(error.is_displayed, 20, "the refused upload's error")
        assert error.text.strip()
        assert driver.find_element(By.ID, "progress-text").get_attribute("textContent") == ""
        assert driver.find_element(By.ID, "score-button").is_enabled()
        assert not driver.find_element(By.ID, "progress-bar").is_displayed()
        for view, path in photos.items():
            driver.find_element(By.ID, f"file-{view}").send_keys(str(path))
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".slot.filled")) == 4, 10, "four previews")
        driver.find_element(By.ID, "score-button").click()
        # The progress state is visible while the request runs, then the result page loads.
        editor = wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#editor[data-ready='1']"), 60,
                          "the result page")[0]
        assert editor.is_displayed()

        def salt() -> float:
            return float(driver.find_element(By.ID, "salt-value").get_attribute("data-salt"))

        shown = driver.find_element(By.ID, "salt-value").text
        assert salt() == pytest.approx(cli["salt"], abs=0.006)
        assert float(shown) == pytest.approx(cli["salt"], abs=0.051)
        assert driver.find_element(By.ID, "grade").text == cli["grade"]
        assert driver.find_element(By.ID, "band").text == cli["band"]
        for view in VIEWS:
            cell = driver.find_element(By.ID, f"loss-{view}").text
            assert float(cell.rstrip("%")) == pytest.approx(cli["views"][view]["loss_pct"], abs=0.051)
        original = salt()

        # A second tab on the same result stays at revision 0: once the first tab has corrected,
        # its page is stale, and its corrections must be refused rather than overwrite the first's.
        first_tab, result_url = driver.current_window_handle, driver.current_url
        driver.switch_to.new_window("tab")
        driver.get(result_url)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#editor[data-ready='1']"), 30, "the second tab")
        stale_tab = driver.current_window_handle
        driver.switch_to.window(first_tab)

        # While the first correction is on its way the page's numbers are put back to those before
        # the stroke: the announcement must read the server's answer, not what the page showed.
        numbers = ("salt-value", "grade", "band")
        before = {ident: driver.find_element(By.ID, ident).text for ident in numbers}
        driver.execute_script("""
          var send = window.fetch, before = arguments[0];
          window.fetch = function (url, options) {
            if (options && options.method === 'POST' && String(url).endsWith('/masks')) {
              window.fetch = send;
              Object.keys(before).forEach(function (id) { document.getElementById(id).textContent = before[id]; });
            }
            return send.apply(this, arguments);
          };""", before)

        # Paint hair loss across the top view with a big brush: SALT rises at once.
        driver.execute_script("var s = document.getElementById('brush-size'); s.value = 70;"
                              "s.dispatchEvent(new Event('input'));")
        canvas = driver.find_element(By.CSS_SELECTOR, "figure[data-view='top'] canvas.overlay")
        width = canvas.size["width"]
        stroke = ActionChains(driver).move_to_element_with_offset(canvas, -int(width * 0.35), 0).click_and_hold()
        for _ in range(7):
            stroke.move_by_offset(int(width * 0.1), 3)
        stroke.release().perform()
        live = salt()
        assert live > original + 1.0
        status = driver.find_element(By.ID, "sync-status")
        wait_for(lambda: status.get_attribute("data-state") == "synced", 20, "corrections applied")
        painted = salt()
        # The server agrees with the page. Page vs server (here and below) within 0.01: the
        # server's summary rounds SALT and each view's % to 2 decimals (up to 0.005), and the
        # page's live SALT adds its own exact % to the server's rounded % of untouched views
        # (up to 0.6 x 0.005).
        assert painted == pytest.approx(live, abs=0.01)
        assert driver.find_element(By.ID, "conf-top").text == "corrected"
        # The polite live region announces the new SALT, grade and band, as the page now shows them.
        after = {ident: driver.find_element(By.ID, ident).text for ident in numbers}
        assert float(after["salt-value"]) == pytest.approx(painted, abs=0.051) and after != before
        assert status.get_attribute("textContent").startswith(
            f"Corrections applied: SALT {after['salt-value']}, grade {after['grade']}, AA-IGA {after['band']}.")

        # The stale tab's stroke is refused (it sends the revision its page was built on).
        driver.switch_to.window(stale_tab)
        stale_canvas = driver.find_element(By.CSS_SELECTOR, "figure[data-view='top'] canvas.overlay")
        ActionChains(driver).move_to_element_with_offset(stale_canvas, 0, 0).click_and_hold() \
            .move_by_offset(int(width * 0.1), 0).release().perform()
        stale_status = driver.find_element(By.ID, "sync-status")
        state = wait_for(lambda: stale_status.get_attribute("data-state") in ("error", "synced")
                         and stale_status.get_attribute("data-state"), 20, "the stale tab's answer")
        assert state == "error" and "reload" in stale_status.get_attribute("textContent")
        driver.close()
        driver.switch_to.window(first_tab)

        # Erase part of it again, then undo the erasing.
        driver.find_element(By.CSS_SELECTOR, "input[name='tool'][value='eraser']").click()
        ActionChains(driver).move_to_element_with_offset(canvas, 0, 0).click_and_hold() \
            .move_by_offset(int(width * 0.2), 0).release().perform()
        erased = salt()
        assert erased < painted - 0.5
        wait_for(lambda: status.get_attribute("data-state") == "synced" and salt() == pytest.approx(erased, abs=0.01),
                 20, "erasing applied")
        driver.find_element(By.ID, "undo").click()
        assert salt() == pytest.approx(painted, abs=0.01)
        wait_for(lambda: status.get_attribute("data-state") == "synced" and salt() == pytest.approx(painted, abs=0.006),
                 20, "undo applied")

        # Erasing scalp under hair loss drops that hair loss when applied; undoing the erasing
        # brings both back (a review, thirty-fourth session: the hair loss stayed lost)
        loss_before = driver.find_element(By.ID, "loss-top").text
        driver.find_element(By.CSS_SELECTOR, "input[name='layer'][value='scalp']").click()
        ActionChains(driver).move_to_element_with_offset(canvas, -int(width * 0.1), 0).click_and_hold() \
            .move_by_offset(int(width * 0.2), 0).release().perform()
        wait_for(lambda: status.get_attribute("data-state") == "synced" and salt() != pytest.approx(painted, abs=0.01),
                 20, "scalp erasing applied")
        driver.find_element(By.ID, "undo").click()
        wait_for(lambda: status.get_attribute("data-state") == "synced" and salt() == pytest.approx(painted, abs=0.006),
                 20, "scalp undo applied")
        assert driver.find_element(By.ID, "loss-top").text == loss_before
        driver.find_element(By.CSS_SELECTOR, "input[name='layer'][value='hairloss']").click()

        # Overlay controls: hide the hair-loss layer, change opacity.
        driver.find_element(By.ID, "show-hairloss").click()
        driver.execute_script("var o = document.getElementById('opacity'); o.value = 40;"
                              "o.dispatchEvent(new Event('input'));")
        assert canvas.value_of_css_property("opacity") == "0.4"
        driver.find_element(By.ID, "show-hairloss").click()

        # Reports carry the corrected numbers.
        driver.find_element(By.ID, "download-json").click()
        report = json.loads(downloaded(downloads, ".json").read_text())
        assert report["salt"] == pytest.approx(painted, abs=0.006)
        assert report["corrected_views"] == ["top"]
        assert report["views"]["back"]["loss_pct"] == pytest.approx(cli["views"]["back"]["loss_pct"], abs=0.006)
        driver.find_element(By.ID, "download-html").click()
        html = downloaded(downloads, ".html").read_text()
        assert f"{painted:.1f}" in html and "<script" not in html.lower()

        # Typing in a form field never undoes a stroke; undoing the last stroke gives the
        # model's own result back (its %, not "corrected").
        from selenium.webdriver.common.keys import Keys

        driver.find_element(By.CSS_SELECTOR, "#report-form input[name='patient_code']").send_keys(
            "AA-1", Keys.CONTROL, "z")
        assert salt() == pytest.approx(painted, abs=0.01)
        # Ctrl+Shift+Z (redo in other programs) is not a second undo: there is no redo here, and
        # it undid a stroke for good (a browser audit, thirty-fourth session)
        from selenium.webdriver.common.action_chains import ActionChains

        driver.find_element(By.TAG_NAME, "h1").click()
        ActionChains(driver).key_down(Keys.CONTROL).key_down(Keys.SHIFT).send_keys("z").key_up(Keys.SHIFT) \
            .key_up(Keys.CONTROL).perform()
        time.sleep(0.5)
        assert salt() == pytest.approx(painted, abs=0.01) and status.get_attribute("data-state") == "synced"
        driver.find_element(By.ID, "undo").click()
        wait_for(lambda: status.get_attribute("data-state") == "synced" and salt() == pytest.approx(original, abs=0.006),
                 20, "revert applied")
        assert driver.find_element(By.ID, "conf-top").text != "corrected"
        assert float(driver.find_element(By.ID, "loss-top").text.rstrip("%")) == pytest.approx(
            cli["views"]["top"]["loss_pct"], abs=0.051)

        # Without a pointer: the "correct the masks from files" form. An all-white scalp and
        # hair-loss mask for the top view make it 100 % loss; the page updates in place.
        legend = driver.find_element(By.CSS_SELECTOR, "fieldset.mask-files-view[data-view='top'] legend")
        legend = legend.get_attribute("textContent")  # the form is folded away: .text would be empty
        width_px, height_px = map(int, re.search(r"(\d+) × (\d+) pixels", legend).groups())
        page_url = driver.current_url
        white = tmp_path / "white.png"
        Image.new("L", (width_px, height_px), 255).save(white)
        driver.find_element(By.CSS_SELECTOR, "#mask-files summary").click()
        driver.find_element(By.CSS_SELECTOR, "input[name='scalp_top']").send_keys(str(white))
        driver.find_element(By.CSS_SELECTOR, "input[name='hairloss_top']").send_keys(str(white))
        # On a slow link (the upload held 2 s) a report asked for at once waits for the masks.
        driver.execute_script("""
          var send = window.fetch;
          window.fetch = function (url, options) {
            if (options && options.method === 'POST' && String(url).endsWith('/masks')) {
              return new Promise(function (go) { setTimeout(go, 2000); }).then(function () { return send(url, options); });
            }
            return send(url, options);
          };""")
        for old in downloads.iterdir():
            old.unlink()
        driver.find_element(By.ID, "mask-files-apply").click()
        driver.find_element(By.ID, "download-json").click()
        report = json.loads(downloaded(downloads, ".json").read_text())
        assert report["views"]["top"]["loss_pct"] == 100.0 and report["corrected_views"] == ["top"]
        wait_for(lambda: driver.find_element(By.ID, "loss-top").text.startswith("100.0"), 20, "the uploaded masks")
        assert driver.find_element(By.ID, "conf-top").text == "corrected"
        assert salt() > original
        announced = driver.find_element(By.ID, "mask-files-status").text
        assert announced.startswith("Masks applied to the top view: SALT ") and f"{salt():.1f}" in announced
        assert driver.current_url == page_url  # applied in place, no page load

        # "Model's masks" drops a view's corrections (here made from files, which Undo does not
        # hold) and takes the model's masks back; dismissing the question changes nothing
        revert = driver.find_element(By.ID, "revert-top")
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", revert)  # not under the tool bar
        driver.execute_script("window.confirm = function () { return false; }")
        revert.click()
        time.sleep(0.5)
        assert driver.find_element(By.ID, "conf-top").text == "corrected"
        driver.execute_script("window.confirm = function () { return true; }")
        revert.click()
        wait_for(lambda: status.get_attribute("data-state") == "synced" and salt() == pytest.approx(original, abs=0.006),
                 20, "the model's masks back")
        assert driver.find_element(By.ID, "conf-top").text != "corrected"
        assert float(driver.find_element(By.ID, "loss-top").text.rstrip("%")) == pytest.approx(
            cli["views"]["top"]["loss_pct"], abs=0.051)

        # [ and ] resize the brush only while the pointer is over a photograph (WCAG 2.1.4).
        size = driver.find_element(By.ID, "brush-size")
        before = size.get_attribute("value")
        ActionChains(driver).move_to_element(driver.find_element(By.ID, "salt-value")).send_keys("]").perform()
        assert size.get_attribute("value") == before
        ActionChains(driver).move_to_element(canvas).send_keys("]").perform()
        assert int(size.get_attribute("value")) == int(before) + 4

        driver.execute_script("window.scrollTo(0, 0)")
        shot = tmp_path / "web.png"
        assert driver.save_screenshot(str(shot))
        assert Image.open(shot).size[0] >= 1000

        # the refused upload and the stale tab's refused stroke are answered as they should be
        expected = re.compile(r"(/score - .* status of 400|/masks - .* status of 409) ")
        log = driver.get_log("browser")
        severe = [entry for entry in log if entry["level"] == "SEVERE" and not (
            entry.get("source") == "network" and expected.search(entry["message"]))]
        assert not severe, severe  # CSP violations and script errors show up here
    finally:
        if driver is not None:
            driver.quit()
        server.stop()
    assert any(re.search(r"POST /score 200 \d+ ms", line) for line in server.lines)
    assert list(server_tmp.iterdir()) == [] and list(server_cwd.iterdir()) == []
    shutil.rmtree(tmp_path / "profile", ignore_errors=True)


def test_browser_stale_tab_mask_files_are_refused_and_the_save_stands(tmp_path):
    """Two tabs on one result. The first applies masks from files (the top view all hair loss)
    and saves the visit; the second, still at the correction its page loaded, then applies other
    mask files (the top view without hair loss) with the "correct the masks from files" form.
    Those are refused, and the form's status says the page is out of date and what to do; the
    store and the result keep the first tab's masks. Reloaded as told, the second tab applies its
    files, and the page says they are not stored yet."""
    import numpy as np
    from selenium.webdriver.common.by import By

    from alonet.store.storage import Store

    def ready(what: str) -> None:
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#editor[data-ready='1']"), 30, what)

    def apply_files(scalp: Path, hairloss: Path) -> str:
        """Choose the top view's two masks in the form, apply them, and return what it says."""
        driver.find_element(By.CSS_SELECTOR, "#mask-files summary").click()
        driver.find_element(By.CSS_SELECTOR, "input[name='scalp_top']").send_keys(str(scalp))
        driver.find_element(By.CSS_SELECTOR, "input[name='hairloss_top']").send_keys(str(hairloss))
        driver.find_element(By.ID, "mask-files-apply").click()
        status = driver.find_element(By.ID, "mask-files-status")
        return wait_for(lambda: (status.text.startswith(("Masks applied", "Masks not applied")) and status.text),
                        30, "the form's answer")

    def stored_top(store: Store, visit_id: int) -> tuple:
        """What the store has of the top view: its loss, and its two mask files' pixels."""
        top = store.get_visit(visit_id).views["top"]
        masks = (np.asarray(Image.open(store.image_file(name))) for name in (top.scalp_file, top.hairloss_file))
        return (top.loss_pct, *(m.tobytes() for m in masks))

    photos = phantom_views(tmp_path / "photos")
    with browser_on_server(tmp_path, store=True) as (url, driver):
        score_in_browser(driver, url, photos)
        legend = driver.find_element(By.CSS_SELECTOR, "fieldset.mask-files-view[data-view='top'] legend")
        size = tuple(map(int, re.search(r"(\d+) × (\d+) pixels", legend.get_attribute("textContent")).groups()))
        white, black = tmp_path / "white.png", tmp_path / "black.png"
        Image.new("L", size, 255).save(white)
        Image.new("L", size, 0).save(black)
        model_loss = driver.find_element(By.ID, "loss-top").text
        assert model_loss not in ("100.0%", "0.0%")  # both uploads below change what the page shows

        first_tab, result_url = driver.current_window_handle, driver.current_url
        driver.switch_to.new_window("tab")
        driver.get(result_url)
        ready("the second tab")
        stale_tab = driver.current_window_handle

        # the first tab: all of the top is hair loss, then Save
        driver.switch_to.window(first_tab)
        assert apply_files(white, white).startswith("Masks applied to the top view")
        assert driver.find_element(By.ID, "loss-top").text == "100.0%"
        driver.find_element(By.CSS_SELECTOR, "#save-form input[name='new_code']").send_keys("AA-021")
        driver.execute_script("document.querySelector(\"#save-form input[name='visit_date']\").value = '2024-02-01';")
        driver.find_element(By.CSS_SELECTOR, "#save-form button[type='submit']").click()
        wait_for(lambda: "/visits/" in driver.current_url, 20, "the saved visit's page")
        visit_id = int(driver.current_url.rstrip("/").rsplit("/", 1)[1])
        store = Store(tmp_path / "store")
        saved, stamp = stored_top(store, visit_id), store.visit_stamp(visit_id)
        assert saved[0] == 100.0

        # the second tab, built on the result before that correction: its files are refused
        driver.switch_to.window(stale_tab)
        said = apply_files(white, black)
        assert said.startswith("Masks not applied: ") and "this page is out of date" in said, said
        assert "reload the page" in said and "choose the files again" in said, said
        assert "stroke" not in said, said  # no stroke was painted: the words fit what was done
        assert driver.find_element(By.ID, "loss-top").text == model_loss  # the page shows nothing it did not apply
        assert driver.find_element(By.ID, "mask-files-apply").is_enabled()
        assert stored_top(store, visit_id) == saved and store.visit_stamp(visit_id) == stamp

        # as the message says: reload (the first tab's correction shows, already saved), choose again
        driver.refresh()
        ready("the second tab reloaded")
        assert driver.find_element(By.ID, "loss-top").text == "100.0%"
        assert not driver.find_element(By.ID, "unsaved-note").is_displayed()
        assert apply_files(white, black).startswith("Masks applied to the top view")
        wait_for(lambda: driver.find_element(By.ID, "loss-top").text == "0.0%", 20, "the reloaded tab's masks")
        assert driver.find_element(By.ID, "unsaved-note").is_displayed()  # applied, not yet saved
        assert stored_top(store, visit_id) == saved and store.visit_stamp(visit_id) == stamp

        expected = re.compile(r"/masks - .* status of 409 ")  # the refused upload, answered as it should be
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE" and not (
            entry.get("source") == "network" and expected.search(entry["message"]))]
        assert not severe, severe


def test_browser_announces_the_pseudonym_tick_once(tmp_path):
    """A new patient code that looks like a name shows the "this code is pseudonymous" tick and
    says why in a live region, once; a study code hides it and clears the message."""
    from selenium.webdriver.common.by import By

    with browser_on_server(tmp_path, store=True) as (url, driver):
        driver.get(url + "patients")
        code = driver.find_element(By.CSS_SELECTOR, "input[name='code']")
        box = driver.find_element(By.CSS_SELECTOR, "[data-code-confirm]")
        status = driver.find_element(By.CSS_SELECTOR, "[data-code-confirm-status]")
        assert not box.is_displayed() and status.get_attribute("textContent") == ""
        code.send_keys("Jane Doe")
        said = status.get_attribute("textContent")
        assert box.is_displayed() and said.startswith("This code looks like a name") and "pseudonymous" in said
        code.send_keys("x")  # more typing while it shows: not said again, nor changed
        assert status.get_attribute("textContent") == said
        code.clear()
        code.send_keys("AA-017")
        assert not box.is_displayed() and status.get_attribute("textContent") == ""
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe


def test_browser_warns_before_a_result_is_forgotten_and_keeps_it(tmp_path):
    """With ``--keep-minutes 0.1`` (6 s; the page warns 3 s before) the result page shows an alert
    with the time, its "Keep this result" button keeps it for another 6 s, and when that runs out
    unused the page says the result is no longer on the server."""
    from selenium.webdriver.common.by import By

    photos = phantom_views(tmp_path / "photos")
    with browser_on_server(tmp_path, "--keep-minutes", "0.1") as (url, driver):
        score_in_browser(driver, url, photos)
        assert "forgets it 6 seconds after its last use" in driver.find_element(By.ID, "memory-note").text
        box, text = driver.find_element(By.ID, "lease-warning"), driver.find_element(By.ID, "lease-text")
        assert text.get_attribute("role") == "alert"
        wait_for(box.is_displayed, 10, "the warning")
        assert "Not stored: the server forgets this result at" in text.text and "download the report" in text.text
        driver.find_element(By.ID, "lease-keep").click()
        wait_for(lambda: text.text.startswith("Kept: the server now keeps this result until"), 5, "the confirmation")
        kept_at = time.monotonic()
        wait_for(lambda: "no longer on the server" in text.text, 15, "the result forgotten")
        assert time.monotonic() - kept_at > 5  # the press kept it for another 6 s
        assert "not used for 6 seconds" in text.text and not driver.find_element(By.ID, "lease-keep").is_displayed()
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"
                  and "/lease" not in entry["message"]]  # the last ask is answered 404, as it should be
        assert not severe, severe


#: Roles a user operates or reads as a unit: each needs a name in the accessibility tree.
NAMED_ROLES = {"button", "link", "textbox", "searchbox", "checkbox", "radio", "combobox", "slider", "spinbutton",
               "image", "img", "Date", "DisclosureTriangle", "switch", "tab", "menuitem", "option"}


def unnamed_controls(driver) -> list[str]:
    """Controls and images without a name in Chromium's accessibility tree (what a screen reader
    reads out), as ``role (DOM node id)``."""
    def built_tree():  # built after the page has loaded: late on a busy machine (one node under load)
        nodes = driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
        return nodes if len(nodes) > 20 else None

    nodes = wait_for(built_tree, 20, "the accessibility tree")
    bad = []
    for node in nodes:
        role = (node.get("role") or {}).get("value")
        name = str((node.get("name") or {}).get("value", ""))
        if not node.get("ignored") and role in NAMED_ROLES and not re.search(r"\w", name):
            bad.append(f"{role} ({node.get('backendDOMNodeId')}) {name!r}")
    return bad


def test_browser_accessibility_tree_names_every_control(tmp_path):
    """What a screen reader is given, from Chromium's own accessibility tree, on the result page
    (before and after saving), the stored visit, the patient, the patients list and the model
    page: every control and image has a name, and the sliders say their values in units."""
    from selenium.webdriver.common.by import By

    photos = phantom_views(tmp_path / "photos")
    with browser_on_server(tmp_path, store=True) as (url, driver):
        driver.get(url)
        assert unnamed_controls(driver) == []
        for view, path in photos.items():
            driver.find_element(By.ID, f"file-{view}").send_keys(str(path))
        wait_for(lambda: len(driver.find_elements(By.CSS_SELECTOR, ".slot.filled")) == 4, 10, "four previews")
        assert unnamed_controls(driver) == []  # with the previews and their remove buttons
        driver.find_element(By.ID, "score-button").click()
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#editor[data-ready='1']"), 60, "the result page")
        driver.find_element(By.CSS_SELECTOR, "#mask-files summary").click()  # the folded form's fields too
        assert unnamed_controls(driver) == []
        nodes = driver.execute_cdp_cmd("Accessibility.getFullAXTree", {})["nodes"]
        sliders = sorted(str(n["name"]["value"]) for n in nodes if (n.get("role") or {}).get("value") == "slider")
        assert sliders == ["Brush size", "Opacity"]
        size = driver.find_element(By.ID, "brush-size")
        assert size.get_attribute("aria-valuetext") == "30 pixels"
        driver.execute_script("var s = document.getElementById('brush-size'); s.value = 70;"
                              "s.dispatchEvent(new Event('input'));")
        assert size.get_attribute("aria-valuetext") == "70 pixels"
        assert driver.find_element(By.ID, "opacity").get_attribute("aria-valuetext") == "80 %"

        driver.find_element(By.CSS_SELECTOR, "#save-form input[name='new_code']").send_keys("AA-017")
        driver.execute_script("document.querySelector(\"#save-form input[name='visit_date']\").value = '2024-01-10';")
        result_url = driver.current_url
        driver.find_element(By.CSS_SELECTOR, "#save-form button[type='submit']").click()
        wait_for(lambda: "/visits/" in driver.current_url, 20, "the saved visit's page")
        for page in (result_url, driver.current_url, url + "patients/1", url + "patients", url + "model"):
            driver.get(page)
            wait_for(lambda: driver.execute_script("return document.readyState") == "complete", 20, page)
            assert unnamed_controls(driver) == [], page
        severe = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not severe, severe
