"""A video file for Chromium's fake camera (`--use-file-for-fake-video-capture`): scenes of
still pictures on a white background, written as uncompressed YUV4MPEG2 (Y4M), 4:2:0, the
format Chromium reads without a decoder. Chromium plays the file at its frame rate and loops
it, so a list of scenes is what a door camera sees, over and over."""

from __future__ import annotations

from pathlib import Path

from PIL import Image

#: Frame size: a 176-pixel ticket QR code fills most of the height, as on a held-up phone.
WIDTH, HEIGHT = 320, 240
#: Frames per second the file says it has; Chromium paces its frames by it.
FPS = 10


def _frame(picture: Image.Image | None) -> bytes:
    """One Y4M frame's planes (Y, then Cb and Cr at half size each way) of `picture`
    centred on white, or of white alone."""
    canvas = Image.new("RGB", (WIDTH, HEIGHT), "white")
    if picture is not None:
        canvas.paste(picture.convert("RGB"),
                     ((WIDTH - picture.width) // 2, (HEIGHT - picture.height) // 2))
    y, cb, cr = canvas.convert("YCbCr").split()
    half = (WIDTH // 2, HEIGHT // 2)
    return b"FRAME\n" + y.tobytes() + cb.resize(half).tobytes() + cr.resize(half).tobytes()


def write_video(path: Path, scenes: list[tuple[Image.Image | None, float]]) -> Path:
    """Write `scenes` — (picture or None for an empty view, seconds on screen) — to `path`
    as a Y4M file. C420jpeg: full-range chroma, which is what Pillow's YCbCr gives."""
    with path.open("wb") as out:
        out.write(f"YUV4MPEG2 W{WIDTH} H{HEIGHT} F{FPS}:1 Ip A1:1 C420jpeg\n".encode())
        for picture, seconds in scenes:
            frame = _frame(picture)
            out.write(frame * max(1, round(seconds * FPS)))
    return path
