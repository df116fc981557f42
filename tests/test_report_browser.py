"""report.html and study.html in a real browser: headless Chromium over the DevTools protocol.

A demo-like run directory (every section of the report: answer block, verdict beside the
forest plot, main and comparison tables, additive null, figures) and a study
directory of two such cohorts are rendered at a desktop width of 1440 px. The page must load every image (naturalWidth > 0), request nothing
but the file itself and its data: images, raise no script error, overflow
neither the page nor its column with any table, and caption every figure. A
screenshot goes to the test's tmp dir and, when ``INTERSURV_REPORT_SCREENSHOT``
names a file, there too (for a person to look at; the study's beside it, ``_study`` added to the name). Skipped, saying so, where no
Chromium is installed (Debian: ``apt-get install chromium``; ``.ci/run`` does).
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from intersurv.audit.verdict import answer_block, verdict
from intersurv.io.atomic import write_json_atomic
from intersurv.report import build_report
from intersurv.report.study import build_study_report
from intersurv.study.summary import study_summary

from test_report import arch_entry, make_run, stat

WIDTH, HEIGHT = 1440, 900
BROWSERS = ("chromium", "chromium-browser", "google-chrome")
DEMO_ARCHS = ["unimodal:wsi", "unimodal:rna", "early", "late", "cross_attention", "bilinear", "gated", "kronecker"]

CHECK_PAGE = """(() => {
  const body = document.body.getBoundingClientRect();
  const imgs = [...document.images].map(i => ({alt: i.alt, complete: i.complete, width: i.naturalWidth}));
  const wide = [...document.querySelectorAll('table')].filter(
      t => t.getBoundingClientRect().right > body.right + 1 || t.scrollWidth > t.clientWidth + 1)
    .map(t => t.className + ' ' + Math.round(t.getBoundingClientRect().width) + 'px');
  const figures = [...document.querySelectorAll('figure')].map(
      f => (f.querySelector('figcaption') || {}).textContent || '');
  return {imgs, wide, figures, pageWidth: document.documentElement.scrollWidth,
          viewport: window.innerWidth, firstHeading: (document.querySelector('h2') || {}).textContent};
})()"""


def _browser() -> str | None:
    return next((p for p in map(shutil.which, BROWSERS) if p), None)


def demo_like_run(root: Path) -> Path:
    """A run directory shaped like the demo's: eight architectures, comparisons, a verdict."""
    make_run(root)
    results = json.loads((root / "results.json").read_text())
    shares = {"wsi": 0.45, "<b>rna</b>&co": 0.45}
    null = {"intershap": stat(0.08, 0.02), "excess": stat(0.01, 0.02), "p": [0.33, 0.5, 0.17], "refits": 5}
    for k, name in enumerate(DEMO_ARCHS):
        entry = arch_entry(0.70 + 0.01 * k, 0.02 * k, results["architectures"]["early"]["prognostic"], shares)
        entry["additive_null"] = None if name.startswith("unimodal") else null
        results["architectures"][name] = entry
    ci = {"late": (0.004, -0.021, 0.029), "best_unimodal": (0.041, 0.012, 0.070)}
    results["references"] = {"late": "late", "best_unimodal": "unimodal:rna",
                             "best_unimodal_selection": "lowest mean Cox loss on the early-stopping patients"}
    results["comparisons"] = {
        name: {ref: {"ref_arch": results["references"][ref], "delta_c": d, "ci": [lo, hi], "p_value": 0.04,
                     "delta_ibs": {"delta": -0.002, "ci": [-0.01, 0.006]}, "discordance": {"mean": 0.12}}
               for ref, (d, lo, hi) in ci.items() if results["references"][ref] != name}
        for name in results["architectures"]}
    results["protocol"].update(kind="cv", folds=5, seeds=[0, 1, 2])
    results["answer"] = answer_block(results)
    results["verdict"] = verdict(results)
    (root / "results.json").write_text(json.dumps(results))
    return root


class DevTools:
    """A minimal Chrome DevTools Protocol client over one page's websocket."""

    def __init__(self, url: str) -> None:
        import websocket

        self.ws = websocket.create_connection(url, timeout=30)
        self.ids = itertools.count(1)
        self.events: list[dict[str, Any]] = []

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        i = next(self.ids)
        self.ws.send(json.dumps({"id": i, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == i:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            self.events.append(msg)

    def wait_for(self, method: str, timeout: float = 30.0) -> None:
        end = time.monotonic() + timeout
        while not any(e.get("method") == method for e in self.events):
            if time.monotonic() > end:
                raise TimeoutError(f"no {method} within {timeout} s")
            self.events.append(json.loads(self.ws.recv()))


def study_like_dir(root: Path) -> Path:
    """A study directory of two demo-like cohorts (one with a name that needs escaping)."""
    cohorts = {}
    for k, name in enumerate(("GBMLGG", "<i>B&amp;</i>")):
        run = demo_like_run(root / "cohorts" / f"c{k}")
        results = json.loads((run / "results.json").read_text())
        for entry in results["comparisons"].values():
            for e in entry.values():
                e["delta_c"] += 0.01 * k
                e["ci"] = [e["ci"][0] + 0.02 * k, e["ci"][1] + 0.02 * k]
                e["df"] = 14
        cohorts[name] = (f"cohorts/c{k}", results)
    write_json_atomic(root / "study.json", study_summary(cohorts))
    return build_study_report(root)


#: Per page: how to build it, the first section heading, the fewest images it shows.
PAGES = {"report": (lambda tmp: build_report(demo_like_run(tmp / "RUN")), "Answer", 3),
         "study": (lambda tmp: study_like_dir(tmp / "STUDY"), "Combined answer", 1)}


@pytest.fixture(scope="module", params=list(PAGES))
def page(request, tmp_path_factory) -> dict[str, Any]:
    browser = _browser()
    if browser is None:
        pytest.skip("no Chromium found (looked for chromium, chromium-browser, google-chrome): "
                    "install Debian's `chromium` to run the browser test of report.html")
    pytest.importorskip("websocket", reason="websocket-client (the dev extra) is needed to drive Chromium")
    tmp = tmp_path_factory.mktemp("browser")
    build, heading, min_images = PAGES[request.param]
    report = build(tmp)
    profile = tmp / "profile"
    proc = subprocess.Popen(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
         "--remote-debugging-port=0", f"--user-data-dir={profile}", f"--window-size={WIDTH},{HEIGHT}",
         "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE localhost", "about:blank"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        port_file = profile / "DevToolsActivePort"
        end = time.monotonic() + 60
        while not port_file.is_file() or not port_file.read_text().strip():
            if time.monotonic() > end or proc.poll() is not None:
                pytest.fail(f"{browser} did not start its DevTools endpoint")
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=10) as r:
            target = next(t for t in json.load(r) if t["type"] == "page")
        dt = DevTools(target["webSocketDebuggerUrl"])
        for domain in ("Page", "Network", "Runtime", "Log"):
            dt.call(f"{domain}.enable")
        dt.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT, deviceScaleFactor=1, mobile=False)
        dt.events.clear()
        dt.call("Page.navigate", url=report.as_uri())
        dt.wait_for("Page.loadEventFired")
        checks = dt.call("Runtime.evaluate", expression=CHECK_PAGE, returnByValue=True)["result"]["value"]
        shot = base64.b64decode(dt.call("Page.captureScreenshot", format="png")["data"])
        full = base64.b64decode(dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)["data"])
        dt.ws.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    (tmp / "report_top.png").write_bytes(shot)
    (tmp / "report_full.png").write_bytes(full)
    if os.environ.get("INTERSURV_REPORT_SCREENSHOT"):
        shot_path = Path(os.environ["INTERSURV_REPORT_SCREENSHOT"])
        if request.param != "report":
            shot_path = shot_path.with_name(f"{shot_path.stem}_{request.param}{shot_path.suffix}")
        shot_path.write_bytes(full)
    return {"checks": checks, "events": dt.events, "shot": shot, "report": report, "heading": heading,
            "min_images": min_images}


def test_every_image_loads(page) -> None:
    imgs = page["checks"]["imgs"]
    assert len(imgs) >= page["min_images"]
    assert all(i["complete"] and i["width"] > 0 for i in imgs), imgs


def test_nothing_is_requested_from_the_network(page) -> None:
    urls = [e["params"]["request"]["url"] for e in page["events"] if e.get("method") == "Network.requestWillBeSent"]
    assert page["report"].as_uri() in urls
    assert [u for u in urls if not u.startswith(("file:", "data:"))] == []


def test_no_script_errors(page) -> None:
    errors = [e for e in page["events"] if e.get("method") == "Runtime.exceptionThrown"
              or (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error")
              or (e.get("method") == "Runtime.consoleAPICalled" and e["params"]["type"] == "error")]
    assert errors == []


def test_reads_well_at_desktop_width(page) -> None:
    checks = page["checks"]
    assert checks["viewport"] == WIDTH
    assert checks["pageWidth"] <= WIDTH, "the page scrolls sideways"
    assert checks["wide"] == [], "tables wider than the text column"
    assert all(caption.strip() for caption in checks["figures"])
    assert checks["firstHeading"] == page["heading"]  # the report: the compact answer block leads
    # both pages lead with the forest plot of the paired differences, its intervals said in the caption
    assert any(c.startswith("Difference in Harrell's C") and "95 % interval" in c for c in checks["figures"])
    assert page["shot"].startswith(b"\x89PNG") and len(page["shot"]) > 10_000
