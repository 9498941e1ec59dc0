"""Contact sheets: the duplicate groups and each quality issue's worst samples, as pictures.

The App is where a reviewer acts on them; a sheet is what one looks at right after
``curata curate`` in a terminal, or attaches to a report. Each is one PNG at a fixed path,
redrawn only when what it shows has changed (media paths name their content, so the tiles'
paths and captions say it all): a rerun that changed nothing decodes no thumbnails.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont, PngImagePlugin

from curata.images import open_image

TILE = 150  # thumbnail box, px
CAPTION = 34  # two caption lines under each thumbnail
HEADER = 22  # a row's title
GAP = 6
BACKGROUND = (250, 250, 250)
INK, ALERT, QUIET = (30, 30, 30), (200, 30, 30), (120, 120, 120)
_DRAWN_FROM = "curata-sheet"  # PNG text key: a digest of what the sheet shows


@dataclass(frozen=True)
class Tile:
    path: str
    caption: str
    note: str = ""
    alert: bool = False  # the note in red (a label that differs within its group)


@dataclass(frozen=True)
class Row:
    title: str
    tiles: Sequence[Tile]


def write_sheet(rows: Sequence[Row], target: Path, columns: int = 8) -> Path:
    """Draw ``rows`` (each cut to ``columns`` tiles) into one PNG at ``target``."""
    digest = hashlib.sha256(repr((list(rows), columns, TILE)).encode()).hexdigest()
    if _drawn_from(target) == digest:
        return target
    width = GAP + columns * (TILE + GAP)
    height = GAP + len(rows) * (HEADER + TILE + CAPTION + GAP)
    sheet = Image.new("RGB", (width, max(height, HEADER + GAP)), BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default(size=12)
    top = GAP
    for row in rows:
        shown = list(row.tiles)[:columns]
        more = len(row.tiles) - len(shown)
        draw.text((GAP, top + 4), row.title + (f"  (+{more} more)" if more > 0 else ""), fill=INK, font=font)
        top += HEADER
        for column, tile in enumerate(shown):
            left = GAP + column * (TILE + GAP)
            thumb = _thumbnail(tile.path)
            if thumb is None:
                draw.rectangle((left, top, left + TILE - 1, top + TILE - 1), outline=QUIET)
                draw.text((left + 8, top + TILE // 2), "cannot be read", fill=ALERT, font=font)
            else:
                sheet.paste(thumb, (left + (TILE - thumb.width) // 2, top + (TILE - thumb.height) // 2))
            draw.text((left, top + TILE + 3), _fit(draw, tile.caption, font), fill=INK, font=font)
            colour = ALERT if tile.alert else QUIET
            draw.text((left, top + TILE + 18), _fit(draw, tile.note, font), fill=colour, font=font)
        top += TILE + CAPTION + GAP
    target.parent.mkdir(parents=True, exist_ok=True)
    text = PngImagePlugin.PngInfo()
    text.add_text(_DRAWN_FROM, digest)
    sheet.save(target, pnginfo=text)
    return target


def _drawn_from(target: Path) -> str | None:
    try:
        with Image.open(target) as existing:
            return existing.text.get(_DRAWN_FROM)
    except (OSError, ValueError, AttributeError):  # absent, damaged, or not a PNG
        return None


def _thumbnail(path: str) -> Image.Image | None:
    try:
        image = open_image(path, at_least=(TILE, TILE))
    except (OSError, ValueError, Image.DecompressionBombError):
        return None
    image.thumbnail((TILE, TILE))
    return image


def _fit(draw: ImageDraw.ImageDraw, text: str, font: ImageFont.ImageFont) -> str:
    """``text`` cut with an ellipsis to the width of a tile."""
    if draw.textlength(text, font=font) <= TILE:
        return text
    while text and draw.textlength(text + "…", font=font) > TILE:
        text = text[:-1]
    return text + "…"
