#!/usr/bin/env python3
"""Turns the QR code a terminal view drew (text captured by `tmux capture-pane -p`) into a
PNG image that zbarimg reads (written with zlib alone: no imaging library needed). The view draws light modules as half blocks on a dark
background, two rows of modules to a line: '█' both light, '▀' the upper, '▄' the lower,
' ' neither. Usage: qr-from-pane.py CAPTURE.txt OUT.png (exits 1 if no QR code is found)."""
import struct
import sys
import zlib

BLOCKS = set("█▀▄ ")
SCALE = 6
BORDER = 8  # modules of light quiet zone around what was drawn


def main():
    lines = open(sys.argv[1], encoding="utf-8").read().split("\n")
    # The QR code: the longest run of lines made only of blocks, each with a full block.
    runs, current = [], []
    for line in lines:
        text = line.rstrip()
        if text and "█" in text and set(text.strip()) <= BLOCKS and len(text.strip()) >= 21:
            current.append(text)
        else:
            if current:
                runs.append(current)
            current = []
    if current:
        runs.append(current)
    if not runs:
        sys.exit("no QR code in the capture")
    rows = max(runs, key=len)
    left = min(len(r) - len(r.lstrip()) for r in rows)
    rows = [r[left:] for r in rows]
    width = max(len(r) for r in rows)
    modules = []  # True: light
    for r in rows:
        r = r.ljust(width)
        modules.append([c in "█▀" for c in r])
        modules.append([c in "█▄" for c in r])
    size_x = (width + 2 * BORDER) * SCALE
    size_y = (len(modules) + 2 * BORDER) * SCALE
    pixels = bytearray([255]) * (size_x * size_y)
    for y, row in enumerate(modules):
        for x, light in enumerate(row):
            if light:
                continue
            for dy in range(SCALE):
                start = ((y + BORDER) * SCALE + dy) * size_x + (x + BORDER) * SCALE
                pixels[start:start + SCALE] = bytes(SCALE)
    # PNG: 8-bit greyscale, each row after a filter byte of 0 (zbarimg here reads PNG,
    # not PGM).
    raw = b"".join(b"\x00" + bytes(pixels[y * size_x:(y + 1) * size_x]) for y in range(size_y))

    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    header = struct.pack(">IIBBBBB", size_x, size_y, 8, 0, 0, 0, 0)
    with open(sys.argv[2], "wb") as out:
        out.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))


main()
