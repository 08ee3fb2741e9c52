"""S2 geometry for the emulator: the leaf cell id a server stores with a GeoJSON point.

A real server keeps, in front of a GeoJSON point's text, one covering cell: the level-30 S2 cell
of the point (observed: ``{"type":"Point","coordinates":[1.5,2.5]}`` -> ``0x101b4a5f93e10dd1``).
This is the standard S2 mapping: lat/lng -> unit vector -> cube face and (u, v) -> quadratic
(s, t) -> (i, j) -> position on the Hilbert curve.
"""

from __future__ import annotations

import math

__all__ = ["s2_cell_id"]

_MAX_LEVEL = 30
_LOOKUP_BITS = 4
_LOOKUP_POS: list[int] = []


def _init_lookup() -> None:
    table = [0] * (1 << (2 * _LOOKUP_BITS + 2))
    swap_mask, invert_mask = 1, 2
    pos_to_ij = ((0, 1, 3, 2), (0, 2, 3, 1), (3, 2, 0, 1), (3, 1, 0, 2))
    pos_to_orient = (swap_mask, 0, 0, invert_mask | swap_mask)

    def fill(level: int, i: int, j: int, orig: int, pos: int, orient: int) -> None:
        if level == _LOOKUP_BITS:
            ij = (i << _LOOKUP_BITS) + j
            table[(ij << 2) + orig] = (pos << 2) + orient
            return
        level += 1
        i <<= 1
        j <<= 1
        pos <<= 2
        r = pos_to_ij[orient]
        for index in range(4):
            fill(
                level,
                i + (r[index] >> 1),
                j + (r[index] & 1),
                orig,
                pos + index,
                orient ^ pos_to_orient[index],
            )

    for o in range(4):
        fill(0, 0, 0, o, 0, o)
    _LOOKUP_POS.extend(table)


def s2_cell_id(lat_deg: float, lng_deg: float) -> int:
    """Leaf (level 30) S2 cell id of a point, as Google's S2 library computes it."""
    if not _LOOKUP_POS:
        _init_lookup()
    lat, lng = math.radians(lat_deg), math.radians(lng_deg)
    x, y, z = math.cos(lat) * math.cos(lng), math.cos(lat) * math.sin(lng), math.sin(lat)
    ax, ay, az = abs(x), abs(y), abs(z)
    face = (0 if ax > az else 2) if ax > ay else (1 if ay > az else 2)
    if (x, y, z)[face] < 0:
        face += 3
    if face == 0:
        u, v = y / x, z / x
    elif face == 1:
        u, v = -x / y, z / y
    elif face == 2:
        u, v = -x / z, -y / z
    elif face == 3:
        u, v = z / x, y / x
    elif face == 4:
        u, v = z / y, -x / y
    else:
        u, v = -y / z, -x / z

    def uv_to_st(t: float) -> float:
        if t >= 0:
            return 0.5 * math.sqrt(1 + 3 * t)
        return 1 - 0.5 * math.sqrt(1 - 3 * t)

    limit = 1 << _MAX_LEVEL

    def st_to_ij(s: float) -> int:
        return max(0, min(limit - 1, int(math.floor(limit * s))))

    i, j = st_to_ij(uv_to_st(u)), st_to_ij(uv_to_st(v))
    n = face << 60
    bits = face & 1  # swap mask
    mask = (1 << _LOOKUP_BITS) - 1
    for k in range(7, -1, -1):
        bits += ((i >> (k * _LOOKUP_BITS)) & mask) << (_LOOKUP_BITS + 2)
        bits += ((j >> (k * _LOOKUP_BITS)) & mask) << 2
        bits = _LOOKUP_POS[bits]
        n |= (bits >> 2) << (k * 2 * _LOOKUP_BITS)
        bits &= 3
    return (n << 1) + 1
