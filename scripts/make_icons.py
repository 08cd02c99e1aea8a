"""Regenerate every icon from the one source image, assets/aoa.png (pillow only).

    python scripts/make_icons.py                 # PNG sizes, .ico, .icns, tray state variants
    python scripts/make_icons.py --draw-source   # first redraw assets/aoa.png itself

The source mark is drawn here too (no copied artwork): a rounded square with one ring on the
left fanning out to three dots on the right - one local endpoint in front of several providers.
Tray variants add a status dot (running / paused / error) and are copied into
aoa_desktop/assets/, where the tray loads them from.
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from PIL import Image, ImageDraw, ImageEnhance

ROOT = Path(__file__).resolve().parent.parent
ASSETS = ROOT / "assets"
SOURCE = ASSETS / "aoa.png"
PACKAGE_ASSETS = ROOT / "aoa_desktop" / "assets"

PNG_SIZES = (16, 24, 32, 48, 64, 128, 256, 512, 1024)
ICO_SIZES = (16, 24, 32, 48, 64, 128, 256)
TRAY_SIZE = 64
SOURCE_SIZE = 1024

# Status colours: (dot fill, glyph) per tray state; the paused mark is also desaturated.
STATES: dict[str, tuple[str, str]] = {
    "running": ("#2fbf5b", "none"),
    "paused": ("#f0a020", "pause"),
    "error": ("#e0383b", "bang"),
}


def draw_source(size: int = SOURCE_SIZE) -> Image.Image:
    """Draw the app mark at `size` px (supersampled 2x for smooth edges)."""
    s = size * 2
    img = Image.new("RGBA", (s, s), (0, 0, 0, 0))

    # Vertical teal -> indigo gradient, masked by a rounded square.
    top, bottom = (20, 170, 170), (52, 62, 170)
    grad = Image.new("RGBA", (1, s))
    for y in range(s):
        t = y / (s - 1)
        grad.putpixel(
            (0, y), (*(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)), 255)
        )
    grad = grad.resize((s, s))
    mask = Image.new("L", (s, s), 0)
    margin = s * 6 // 100
    ImageDraw.Draw(mask).rounded_rectangle(
        (margin, margin, s - margin, s - margin), radius=s * 22 // 100, fill=255
    )
    img.paste(grad, (0, 0), mask)

    d = ImageDraw.Draw(img)
    white = (255, 255, 255, 255)
    u = s / 100  # layout in percent of the canvas
    ring_c, ring_r, ring_w = (36 * u, 50 * u), 15 * u, round(7.5 * u)
    dots = [(72 * u, 28 * u), (76 * u, 50 * u), (72 * u, 72 * u)]
    dot_r = 7 * u
    for px, py in dots:  # fan lines first so the ring and dots sit on top of them
        d.line((ring_c[0] + ring_r, ring_c[1], px, py), fill=white, width=round(5 * u))
    cx, cy = ring_c
    d.ellipse((cx - ring_r, cy - ring_r, cx + ring_r, cy + ring_r), outline=white, width=ring_w)
    for px, py in dots:
        d.ellipse((px - dot_r, py - dot_r, px + dot_r, py + dot_r), fill=white)
    return img.resize((size, size), Image.Resampling.LANCZOS)


def tray_variant(source: Image.Image, state: str, size: int = TRAY_SIZE) -> Image.Image:
    """The mark with a status dot in the lower-right corner (drawn 4x, then downscaled)."""
    colour, glyph = STATES[state]
    s = size * 4
    base = source.resize((s, s), Image.Resampling.LANCZOS)
    if state == "paused":  # grey the mark so "paused" reads at a glance even without the dot
        alpha = base.getchannel("A")
        base = ImageEnhance.Color(base).enhance(0.15)
        base.putalpha(alpha)
    d = ImageDraw.Draw(base)
    r = s * 0.22
    cx = cy = s - r - s * 0.02
    # A dark rim keeps the dot visible on light and dark panels alike.
    rim = s * 0.045
    d.ellipse((cx - r - rim, cy - r - rim, cx + r + rim, cy + r + rim), fill=(20, 20, 30, 255))
    d.ellipse((cx - r, cy - r, cx + r, cy + r), fill=colour)
    white = (255, 255, 255, 255)
    if glyph == "pause":
        w, h = r * 0.28, r * 1.0
        for dx in (-r * 0.3, r * 0.3):
            d.rectangle((cx + dx - w / 2, cy - h / 2, cx + dx + w / 2, cy + h / 2), fill=white)
    elif glyph == "bang":
        w = r * 0.3
        d.rectangle((cx - w / 2, cy - r * 0.6, cx + w / 2, cy + r * 0.15), fill=white)
        d.ellipse((cx - w / 2, cy + r * 0.3, cx + w / 2, cy + r * 0.3 + w), fill=white)
    return base.resize((size, size), Image.Resampling.LANCZOS)


def generate(source_path: Path = SOURCE, out: Path = ASSETS) -> list[Path]:
    """Write every derived icon from `source_path` into `out`; return the written paths."""
    source = Image.open(source_path).convert("RGBA")
    written: list[Path] = []
    png_dir = out / "png"
    png_dir.mkdir(parents=True, exist_ok=True)
    for size in PNG_SIZES:
        path = png_dir / f"aoa-{size}.png"
        source.resize((size, size), Image.Resampling.LANCZOS).save(path, optimize=True)
        written.append(path)
    ico = out / "aoa.ico"
    source.save(ico, sizes=[(n, n) for n in ICO_SIZES])
    icns = out / "aoa.icns"
    source.save(icns)  # pillow writes every ICNS size it knows from the 1024 px source
    written += [ico, icns]
    tray_dir = out / "tray"
    tray_dir.mkdir(exist_ok=True)
    for state in STATES:
        path = tray_dir / f"icon-{state}.png"
        tray_variant(source, state).save(path, optimize=True)
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--draw-source", action="store_true", help="redraw assets/aoa.png first")
    args = parser.parse_args(argv)
    if args.draw_source:
        ASSETS.mkdir(exist_ok=True)
        draw_source().save(SOURCE, optimize=True)
    written = generate()
    PACKAGE_ASSETS.mkdir(exist_ok=True)
    for state in STATES:
        shutil.copy2(ASSETS / "tray" / f"icon-{state}.png", PACKAGE_ASSETS / f"icon-{state}.png")
    shutil.copy2(ASSETS / "png" / "aoa-256.png", PACKAGE_ASSETS / "aoa.png")
    for path in written:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
