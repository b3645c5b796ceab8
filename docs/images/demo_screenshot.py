"""Make docs/images/demo_report.png: the report `alonet demo` writes, as a picture.

Runs ``alonet demo`` (built-in phantom patient, bundled model unless ``--model``)
into a temporary folder, opens its ``report/report.html`` in headless Chromium
(Debian's ``chromium`` + ``chromium-driver``, via Selenium), and saves the top
of the page (per-view table, SALT, grade, band, flags, overlays) as a small
palette PNG.

    python docs/images/demo_screenshot.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

from PIL import Image
from web_screenshot import save_palette_png  # this folder is on sys.path when run as a script


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default="default", help="model set for `alonet demo --model`")
    parser.add_argument("-o", "--output", type=Path, default=Path(__file__).with_name("demo_report.png"))
    parser.add_argument("--width", type=int, default=770, help="width of the saved PNG")
    parser.add_argument("--height", type=int, default=1050, help="height of the saved PNG")
    args = parser.parse_args(argv)

    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        done = subprocess.run([sys.executable, "-m", "alonet.cli.main", "demo", "-o", str(tmp / "demo"),
                               "--model", args.model], capture_output=True, text=True)
        if done.returncode != 0:
            raise SystemExit(f"alonet demo failed: {done.stderr.strip().splitlines()[-1:]}")
        print(done.stdout.strip().splitlines()[-1])
        options = Options()
        options.binary_location = "/usr/bin/chromium"
        scale = 1100 / args.width  # render wider than saved, then shrink (sharper text)
        for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-sync",
                     "--disable-background-networking", "--disable-component-update", "--hide-scrollbars",
                     f"--user-data-dir={tmp / 'profile'}",
                     f"--window-size={round(args.width * scale)},{round(args.height * scale)}"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service("/usr/bin/chromedriver"))
        try:
            driver.get((tmp / "demo" / "report" / "report.html").as_uri())
            shot = tmp / "shot.png"
            driver.save_screenshot(str(shot))
        finally:
            driver.quit()
        save_palette_png(Image.open(shot).convert("RGB"), args.output, (args.width, args.height))
    return 0


if __name__ == "__main__":
    sys.exit(main())
