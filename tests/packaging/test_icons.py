"""assets/: the committed icons are exactly what scripts/make_icons.py makes from the source."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
from PIL import Image, ImageChops

from tests.packaging.conftest import ROOT

ASSETS = ROOT / "assets"


def _make_icons() -> ModuleType:
    spec = importlib.util.spec_from_file_location("make_icons", ROOT / "scripts" / "make_icons.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


make_icons = _make_icons()


def _same_pixels(a: Path, b: Path) -> bool:
    with Image.open(a) as x, Image.open(b) as y:
        if x.size != y.size:
            return False
        return ImageChops.difference(x.convert("RGBA"), y.convert("RGBA")).getbbox() is None


def _rgba(img: Image.Image, xy: tuple[int, int]) -> tuple[int, int, int, int]:
    pixel = img.convert("RGBA").getpixel(xy)
    assert isinstance(pixel, tuple) and len(pixel) == 4
    return (int(pixel[0]), int(pixel[1]), int(pixel[2]), int(pixel[3]))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("icons")
    make_icons.generate(ASSETS / "aoa.png", out)
    return out


def test_source_is_a_square_transparent_1024_png() -> None:
    with Image.open(ASSETS / "aoa.png") as img:
        assert img.size == (1024, 1024)
        assert img.mode == "RGBA"
        assert _rgba(img, (0, 0))[3] == 0  # rounded corner is transparent
        assert _rgba(img, (512, 100))[3] == 255


def test_committed_icons_match_a_fresh_run(regenerated: Path) -> None:
    fresh = sorted(p.relative_to(regenerated) for p in regenerated.rglob("*.png"))
    committed = sorted(p.relative_to(ASSETS) for p in ASSETS.rglob("*.png") if p.name != "aoa.png")
    assert fresh == committed
    stale = [str(p) for p in fresh if not _same_pixels(regenerated / p, ASSETS / p)]
    assert stale == [], "run scripts/make_icons.py and commit the result"


def test_png_sizes_from_16_to_1024() -> None:
    for size in make_icons.PNG_SIZES:
        with Image.open(ASSETS / "png" / f"aoa-{size}.png") as img:
            assert img.size == (size, size)
    assert min(make_icons.PNG_SIZES) == 16 and max(make_icons.PNG_SIZES) == 1024


def test_ico_holds_every_windows_size() -> None:
    with Image.open(ASSETS / "aoa.ico") as ico:
        assert ico.format == "ICO"
        assert {(n, n) for n in (16, 32, 48, 256)} <= set(ico.info["sizes"])


def test_icns_holds_retina_sizes() -> None:
    with Image.open(ASSETS / "aoa.icns") as icns:
        assert icns.format == "ICNS"
        assert (512, 512, 2) in icns.info["sizes"]  # 1024 px, the size macOS wants for .app


def test_tray_states_are_distinct_and_shipped_with_the_package() -> None:
    images = {}
    for state in ("running", "paused", "error"):
        shipped = ROOT / "aoa_desktop" / "assets" / f"icon-{state}.png"
        assert _same_pixels(shipped, ASSETS / "tray" / f"icon-{state}.png")
        with Image.open(shipped) as img:
            assert img.size == (64, 64)
            images[state] = img.convert("RGBA")
    # the status dot sits bottom-right; its colour tells the states apart
    dots = {state: _rgba(img, (52, 52)) for state, img in images.items()}
    assert len(set(dots.values())) == 3
    r, g, b, _ = dots["running"]
    assert g > r and g > b
    r, g, b, _ = dots["error"]
    assert r > g and r > b
