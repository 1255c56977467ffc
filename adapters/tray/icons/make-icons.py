#!/usr/bin/env python3
"""Draws the tray's four icons (ready, degraded, error, stopped) as 64x64 PNGs.

Pure Python (zlib only), deterministic: run it again after a change and commit the PNGs,
which the binary embeds. A hub with three spokes (the proxy in front of its servers) and a
status badge in the lower right corner with a glyph: none (ready), ! (degraded),
x (error), - (stopped).
"""
import math
import struct
import zlib
from pathlib import Path

SIZE = 64
SUB = 4  # samples per axis per pixel
HUB = (0x64, 0x74, 0x8B)
BADGES = {
    "ready": (0x22, 0xC5, 0x5E),
    "degraded": (0xF5, 0x9E, 0x0B),
    "error": (0xEF, 0x44, 0x44),
    "stopped": (0x9C, 0xA3, 0xAF),
}


def seg_dist(px, py, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((px - ax) * dx + (py - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(px - (ax + t * dx), py - (ay + t * dy))


def shapes(badge):
    cx, cy = 26.0, 26.0
    nodes = [(cx + 19 * math.cos(a), cy + 19 * math.sin(a)) for a in
             (math.radians(-90), math.radians(30), math.radians(150))]
    out = []
    for nx, ny in nodes:
        out.append((lambda x, y, nx=nx, ny=ny: seg_dist(x, y, cx, cy, nx, ny) <= 3.0, HUB))
    for nx, ny in nodes:
        out.append((lambda x, y, nx=nx, ny=ny: math.hypot(x - nx, y - ny) <= 6.0, HUB))
    out.append((lambda x, y: math.hypot(x - cx, y - cy) <= 10.0, HUB))
    bx, by = 48.0, 48.0
    out.append((lambda x, y: math.hypot(x - bx, y - by) <= 15.0, (0xFF, 0xFF, 0xFF)))
    out.append((lambda x, y: math.hypot(x - bx, y - by) <= 12.0, BADGES[badge]))
    # A white glyph in the badge, so the states differ by shape as well as by colour.
    white = (0xFF, 0xFF, 0xFF)
    if badge == "degraded":  # !
        out.append((lambda x, y: seg_dist(x, y, bx, by - 6, bx, by + 1) <= 2.0, white))
        out.append((lambda x, y: math.hypot(x - bx, y - (by + 6)) <= 2.0, white))
    elif badge == "error":  # x
        out.append((lambda x, y: seg_dist(x, y, bx - 5, by - 5, bx + 5, by + 5) <= 2.0, white))
        out.append((lambda x, y: seg_dist(x, y, bx - 5, by + 5, bx + 5, by - 5) <= 2.0, white))
    elif badge == "stopped":  # -
        out.append((lambda x, y: seg_dist(x, y, bx - 6, by, bx + 6, by) <= 2.0, white))
    return out


def render(badge):
    layers = shapes(badge)
    rows = []
    for py in range(SIZE):
        row = bytearray([0])  # filter: none
        for px in range(SIZE):
            r = g = b = a = 0.0
            for sy in range(SUB):
                for sx in range(SUB):
                    x = px + (sx + 0.5) / SUB
                    y = py + (sy + 0.5) / SUB
                    color = None
                    for inside, c in layers:
                        if inside(x, y):
                            color = c
                    if color:
                        r += color[0]; g += color[1]; b += color[2]; a += 1
            n = SUB * SUB
            if a:
                row += bytes([round(r / a), round(g / a), round(b / a), round(255 * a / n)])
            else:
                row += bytes([0, 0, 0, 0])
        rows.append(bytes(row))
    raw = b"".join(rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", SIZE, SIZE, 8, 6, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


if __name__ == "__main__":
    here = Path(__file__).resolve().parent
    for name in BADGES:
        (here / f"{name}.png").write_bytes(render(name))
        print(f"wrote {name}.png")
