"""Make docs/images/web.png: the web application's result page for a phantom patient.

Starts ``alonet serve`` on 127.0.0.1 (free port) with the given model set, opens
it in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, via
Selenium), uploads the four photographs of ``alonet.phantom.render_patient(SEED)``,
waits for the result, paints one short brush stroke on the top view (to show
the editor) and saves a small palette PNG of the page.

    python docs/images/web_screenshot.py --model default
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from PIL import Image


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model set for `alonet serve --model`")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--seed", type=int, default=3, help="phantom patient seed")
    parser.add_argument("--size", type=int, default=480, help="long side of the phantom photographs")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("web.png"))
    parser.add_argument("--width", type=int, default=900, help="width of the saved PNG")
    args = parser.parse_args(argv)

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    from alonet.phantom import render_patient

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        visit = render_patient(args.seed, visits=1, size=args.size)[0]
        paths = {}
        for view, rendered in visit.views.items():
            paths[view] = tmp / f"{view}.jpg"
            Image.fromarray(rendered.image).save(paths[view], quality=92)
        proc = subprocess.Popen([sys.executable, "-m", "alonet.cli.main", "serve", "--port", "0", "--model",
                                 args.model, "--backend", args.backend],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        url: list[str] = []
        ready = threading.Event()

        def drain():
            for line in proc.stderr:
                found = re.search(r"on (http://127\.0\.0\.1:\d+/)", line)
                if found and not url:
                    url.append(found.group(1))
                    ready.set()
                if line.startswith("error:"):
                    print(line.rstrip(), file=sys.stderr)
            ready.set()

        threading.Thread(target=drain, daemon=True).start()
        ready.wait(120)
        if not url:
            proc.kill()
            raise SystemExit("the server did not start")
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                     "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
                     f"--user-data-dir={tmp / 'profile'}", "--window-size=1200,1000"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            driver.get(url[0])
            for view, path in paths.items():
                driver.find_element(By.ID, f"file-{view}").send_keys(str(path))
            driver.find_element(By.ID, "score-button").click()
            end = time.monotonic() + 300
            while not driver.find_elements(By.CSS_SELECTOR, "#editor[data-ready='1']"):
                if time.monotonic() > end:
                    raise SystemExit("no result page within 300 s")
                time.sleep(0.2)
            canvas = driver.find_element(By.CSS_SELECTOR, "figure[data-view='top'] canvas.overlay")
            width = canvas.size["width"]
            ActionChains(driver).move_to_element_with_offset(canvas, -width // 5, width // 6).click_and_hold() \
                .move_by_offset(width // 10, -4).move_by_offset(width // 10, 4).release().perform()
            time.sleep(1.0)
            driver.execute_script("window.scrollTo(0, 0)")
            shot = tmp / "shot.png"
            driver.save_screenshot(str(shot))
        finally:
            driver.quit()
            proc.terminate()
            proc.wait(timeout=20)
        image = Image.open(shot).convert("RGB")
        save_palette_png(image, args.output, (args.width, round(image.height * args.width / image.width)))
    return 0


def save_palette_png(image: Image.Image, path: Path, size: tuple[int, int]) -> None:
    """``image`` shrunk to ``size`` (width, height) and saved as a small 128-colour PNG."""
    small = image.resize(size, Image.Resampling.LANCZOS)
    small.quantize(colors=128, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(
        path, optimize=True)
    print(f"{path} ({path.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    sys.exit(main())
