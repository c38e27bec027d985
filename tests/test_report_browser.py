"""The HTML report as a reader sees it: a grid's report opened in headless Chromium (Debian's
``chromium`` and ``chromium-driver``, driven by Selenium), every figure loaded, no console error,
the leaderboard present with a row per run.

Without a Chromium and its driver on the machine the test is skipped, unless
``IMBEXP_REQUIRE_BROWSER=1`` (set by CI, which installs them) makes that a failure.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

CHROMIUM = next((shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome")
                 if shutil.which(name)), None)
DRIVER = shutil.which("chromedriver")


def _browser():
    if CHROMIUM is None or DRIVER is None:
        reason = ("headless Chromium and its driver are needed (Debian: apt-get install chromium chromium-driver); "
                  f"found browser={CHROMIUM}, driver={DRIVER}")
        if os.environ.get("IMBEXP_REQUIRE_BROWSER") == "1":
            pytest.fail(reason)
        pytest.skip(reason)
    webdriver = pytest.importorskip("selenium.webdriver")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                 "--window-size=1400,1000"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    return webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)


@pytest.mark.slow
def test_a_grid_report_opens_in_chromium_with_every_figure_and_no_console_error(run_cli, imbexp_home) -> None:
    done = run_cli("-m", "strategy=downsample_upweight", "strategy.downsample_factor=1,4,10",
                   "dataset.rows=4000", "model=logistic_regression", "metrics.bootstrap=0",
                   "tracking.experiment=browser")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    found = re.search(r"report written to (\S+\.html)", done.stdout + done.stderr)
    assert found, done.stdout[-3000:] + done.stderr[-3000:]
    page = Path(found.group(1))
    assert page.is_file()
    text = page.read_text(encoding="utf-8")
    # written just before the grid closes its parent: the page shows the status it is closed with
    assert re.search(r"parent run [0-9a-f]{32} \(FINISHED\)", text) and "(RUNNING)" not in text

    browser = _browser()
    try:
        browser.get(page.as_uri())
        images = browser.execute_script(
            "return Array.from(document.images).map(i => [i.alt, i.complete, i.naturalWidth, i.naturalHeight]);")
        assert images, "the report shows figures"
        broken = [alt for alt, complete, width, height in images if not (complete and width > 0 and height > 0)]
        assert not broken, f"figures that did not load: {broken}"
        errors = [entry for entry in browser.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
        headings = [h.text for h in browser.find_elements("css selector", "h2")]
        assert "Leaderboard" in headings
        rows = browser.execute_script(
            "const h = Array.from(document.querySelectorAll('h2')).find(e => e.textContent === 'Leaderboard');"
            "let t = h.nextElementSibling; while (t && t.tagName !== 'TABLE') t = t.nextElementSibling;"
            "return t ? t.querySelectorAll('tbody tr').length : 0;")
        assert rows == 3, "a leaderboard row per run: downsample_upweight at f=1, 4 and 10"
    finally:
        browser.quit()
