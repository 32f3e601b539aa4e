"""docs/screenshots.py makes the docs' images from a real run: every page, light and dark, small PNGs.

The script runs as the docs say (a subprocess, a short agent run) into a temporary folder; its images are checked,
and the committed ``docs/images`` must hold exactly the files it writes, so the docs show every page there is
and no page that is gone.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.binaries import require_binary
from tests.support.serve import ROOT, clean_env

try:
    from PIL import Image, ImageStat
except ImportError:  # Pillow comes with the docs extra
    if os.environ.get("CI"):
        raise
    pytest.skip("Pillow is not installed (pip install -e '.[docs]')", allow_module_level=True)

SCRIPT = ROOT / "docs" / "screenshots.py"
COMMITTED = ROOT / "docs" / "images"
PAGES = ("index", "system", "performance", "alerts", "metrics", "llm", "traces", "trace", "logs")
NAMES = {f"{page}-{scheme}.png" for page in PAGES for scheme in ("light", "dark")}
MAX_BYTES = 120_000


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=clean_env(), cwd=ROOT,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    """The script's images after an 8 s agent run, and what it printed."""
    require_binary("chromium")
    out = tmp_path_factory.mktemp("shots")
    result = _run("--out", str(out), "--seconds", "8")
    assert result.returncode == 0, result.stderr
    return out, result.stdout


def _brightness(png: Path) -> float:
    with Image.open(png) as image:
        return float(ImageStat.Stat(image.convert("L")).mean[0])


def _check_image(png: Path) -> None:
    """A PNG of the first screen (1400 x 900), in a palette, at most MAX_BYTES."""
    with Image.open(png) as image:
        assert (image.format, image.size, image.mode) == ("PNG", (1400, 900), "P"), png.name
    assert png.stat().st_size <= MAX_BYTES, f"{png.name}: {png.stat().st_size} bytes"


def test_every_page_light_and_dark_as_a_small_png(shots: tuple[Path, str]) -> None:
    out, printed = shots
    assert {p.name for p in out.iterdir()} == NAMES
    for png in out.iterdir():
        _check_image(png)
        assert f"{png}  {png.stat().st_size / 1000:.1f} kB" in printed  # each file and its size
    total = sum(p.stat().st_size for p in out.iterdir())
    assert printed.splitlines()[-1] == f"{len(NAMES)} images, {total / 1000:.1f} kB in all"


def test_the_dark_images_are_dark(shots: tuple[Path, str]) -> None:
    out, _ = shots
    for page in PAGES:
        light, dark = _brightness(out / f"{page}-light.png"), _brightness(out / f"{page}-dark.png")
        assert light > 180 and dark < 70, (page, light, dark)


def test_the_committed_images_are_the_pages_the_script_writes(shots: tuple[Path, str]) -> None:
    out, _ = shots
    assert {p.name for p in COMMITTED.iterdir()} == {p.name for p in out.iterdir()}
    for png in COMMITTED.iterdir():
        _check_image(png)


def test_without_chromium_the_script_says_so_in_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "chromium"
    result = _run("--chromium", str(missing), "--out", str(tmp_path / "shots"))
    assert result.returncode == 1
    assert result.stderr == f"screenshots.py: Chromium is not installed at {missing} (apt-get install chromium)\n"
    assert not (tmp_path / "shots").exists()
