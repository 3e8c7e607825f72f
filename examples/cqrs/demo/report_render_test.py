#!/usr/bin/env python3
"""The demo's HTML report, checked two ways.

--fixture BIN --chromium PATH: BIN writes the report of a fixed timeline;
headless Chromium renders it to a PNG, and each plot's block (found at its
data-top, its fixed place) must hold enough pixels that are not the white
background, while the margin below the last plot stays blank.

--report FILE: a demo run's report names every plot (no browser).
"""
import argparse
import os
import re
import signal
import subprocess
import sys
import tempfile

# report.hpp's report_plots, in order.
PLOTS = ["orders", "lag", "attempts", "retries", "rejections", "breakers", "bulkheads"]
# A plot with axes, grid, shaded phases and lines has thousands of
# non-background pixels; a block that failed to render has none.
MIN_INK_PIXELS = 1500
MARGIN = 120  # px below the last plot, expected blank


def plot_blocks(html):
    """(name, top, width, height) of every plot, in document order."""
    blocks = []
    for m in re.finditer(r'<svg id="plot-([a-z]+)" class="plot" data-top="(\d+)" '
                         r'width="(\d+)" height="(\d+)"', html):
        blocks.append((m.group(1), int(m.group(2)), int(m.group(3)), int(m.group(4))))
    return blocks


def check_names(html, where):
    names = [b[0] for b in plot_blocks(html)]
    if names != PLOTS:
        sys.exit(f"{where}: plots {names}, expected {PLOTS}")


def ink(image, box):
    """Pixels in box (left, top, right, bottom) visibly different from white."""
    region = image.crop(box).convert("RGB")
    return sum(1 for r, g, b in region.getdata() if min(r, g, b) < 235)


def screenshot(chromium, html_path, png_path, width, height, work):
    # --disable-dev-shm-usage: containers often give /dev/shm 64 MB, where
    # Chromium's renderer crashes; the others keep it off the network.
    args = [chromium, "--headless", "--disable-gpu", "--hide-scrollbars",
            "--disable-dev-shm-usage", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync",
            "--force-device-scale-factor=1", f"--user-data-dir={work}/profile",
            f"--screenshot={png_path}", f"--window-size={width},{height}",
            "file://" + html_path]
    if os.geteuid() == 0:
        args.insert(1, "--no-sandbox")  # Chromium refuses to run as root otherwise
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # its own group: it and its helpers
        proc.communicate()
        sys.exit(f"chromium did not finish within 90 s rendering {html_path}")
    if proc.returncode != 0 or not os.path.exists(png_path):
        sys.exit(f"chromium exited {proc.returncode} without {png_path}:\n"
                 + out.decode(errors="replace"))


def render_check(fixture, chromium):
    from PIL import Image

    with tempfile.TemporaryDirectory(prefix="keel-report-") as work:
        html_path = os.path.join(work, "report.html")
        subprocess.run([fixture, html_path], check=True)
        with open(html_path, encoding="utf-8") as f:
            html = f.read()
        check_names(html, html_path)
        blocks = plot_blocks(html)
        width = max(b[2] for b in blocks)
        bottom = max(b[1] + b[3] for b in blocks)
        png_path = os.path.join(work, "report.png")
        screenshot(chromium, html_path, png_path, width, bottom + MARGIN, work)
        image = Image.open(png_path)
        if image.size != (width, bottom + MARGIN):
            sys.exit(f"screenshot is {image.size}, asked for {(width, bottom + MARGIN)}")
        failures = []
        for name, top, w, h in blocks:
            count = ink(image, (0, top, w, top + h))
            print(f"plot {name}: {count} non-background pixels at y {top}..{top + h}")
            if count < MIN_INK_PIXELS:
                failures.append(f"plot {name} at y {top}: {count} non-background pixels, "
                                f"expected at least {MIN_INK_PIXELS}")
        blank = ink(image, (0, bottom, width, bottom + MARGIN))
        print(f"margin below the plots: {blank} non-background pixels")
        if blank > 0:
            failures.append(f"the margin below the plots is not blank ({blank} pixels): "
                            "the blocks are not where the report says")
        if failures:
            sys.exit("\n".join(failures))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixture")
    parser.add_argument("--chromium")
    parser.add_argument("--report")
    args = parser.parse_args()
    if args.report:
        if not os.path.exists(args.report):
            sys.exit(f"{args.report}: no report written")
        with open(args.report, encoding="utf-8") as f:
            check_names(f.read(), args.report)
        print(f"{args.report}: every plot present")
        return
    if not (args.fixture and args.chromium):
        parser.error("--fixture and --chromium, or --report")
    render_check(args.fixture, args.chromium)
    print("every plot rendered")


if __name__ == "__main__":
    main()
