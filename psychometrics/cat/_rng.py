"""The selection randomness of one CAT step, ``numpy.random.default_rng([seed, position])``.

Building that ``Generator`` costs ≈ 20–35 µs (``SeedSequence`` hashing, ``PCG64`` seeding,
wrapper objects), more than the rest of a single-examinee step.  Randomesque and
Sympson–Hetter selection only need the first few uniform doubles of its stream, so
:class:`StepRandom` computes them directly in Python — the same ``SeedSequence`` entropy
mixing, the same ``PCG64`` (XSL-RR 128/64) state and output function, and the same
``(next_uint64 >> 11) · 2⁻⁵³`` conversion as numpy's ``Generator.random`` — and builds the
real ``Generator`` only when something else (``integers``, a whole random row) is asked for.
The unit tests compare it with numpy over many seeds and positions.

References: O'Neill (2014), PCG; numpy ``bit_generator.pyx`` (``SeedSequence``) and
``pcg64.h`` (``pcg_setseq_128_srandom_r``, ``pcg_output_xsl_rr_128_64``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["StepRandom", "step_generator"]

_M32 = 0xFFFFFFFF
_M64 = 0xFFFFFFFFFFFFFFFF
_M128 = (1 << 128) - 1
_POOL = 4
_INIT_A = 0x43B0D7E5
_MULT_A = 0x931E8875
_INIT_B = 0x8B51F9DD
_MULT_B = 0x58F38DED
_MIX_L = 0xCA01F9DD
_MIX_R = 0x4973F715
_PCG_MULT = (2549297995355413924 << 64) + 4865540595714422341
_TO_DOUBLE = 1.0 / 9007199254740992.0


def _hash_constants(init: int, mult: int, n: int) -> tuple[tuple[int, int], ...]:
    """``(xor, mul)`` of the first ``n`` calls of SeedSequence's ``hashmix`` (the running
    hash constant does not depend on the data, so it is tabulated once)."""
    out = []
    h = init
    for _ in range(n):
        xor = h
        h = (h * mult) & _M32
        out.append((xor, h))
    return tuple(out)


# mix_entropy with a 4-word pool and at most 4 entropy words makes 4 + 12 hashmix calls and
# generate_state(4, uint64) 8; _seed_words has these constants written out.
HASH_A = _hash_constants(_INIT_A, _MULT_A, 4 + 12)
HASH_B = _hash_constants(_INIT_B, _MULT_B, 8)


def _words(n: int) -> list[int]:
    """numpy's ``_int_to_uint32_array`` for a non-negative Python int."""
    if n == 0:
        return [0]
    out = []
    while n > 0:
        out.append(n & _M32)
        n >>= 32
    return out


def _seed_words(e0: int, e1: int, e2: int, e3: int) -> tuple[int, ...]:
    """SeedSequence(entropy ``e0 … e3``, 4-word pool).generate_state(8): mix_entropy and
    generate_state unrolled, with the running hash constants written out (see
    :func:`_hash_constants`; the unit tests compare the result with numpy)."""
    # the entropy into the pool
    v = ((e0 ^ 0x43B0D7E5) * 0xAE5A53A9) & 0xFFFFFFFF
    p0 = v ^ (v >> 16)
    v = ((e1 ^ 0xAE5A53A9) * 0x8488043D) & 0xFFFFFFFF
    p1 = v ^ (v >> 16)
    v = ((e2 ^ 0x8488043D) * 0x5A9057E1) & 0xFFFFFFFF
    p2 = v ^ (v >> 16)
    v = ((e3 ^ 0x5A9057E1) * 0x9205B1D5) & 0xFFFFFFFF
    p3 = v ^ (v >> 16)
    # every pool word into every other
    h = ((p0 ^ 0x9205B1D5) * 0xE9096E59) & 0xFFFFFFFF
    r = (0xCA01F9DD * p1 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p1 = r ^ (r >> 16)
    h = ((p0 ^ 0xE9096E59) * 0x8D5CB6AD) & 0xFFFFFFFF
    r = (0xCA01F9DD * p2 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p2 = r ^ (r >> 16)
    h = ((p0 ^ 0x8D5CB6AD) * 0x9BB16511) & 0xFFFFFFFF
    r = (0xCA01F9DD * p3 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p3 = r ^ (r >> 16)
    h = ((p1 ^ 0x9BB16511) * 0x00C238C5) & 0xFFFFFFFF
    r = (0xCA01F9DD * p0 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p0 = r ^ (r >> 16)
    h = ((p1 ^ 0x00C238C5) * 0x4D029A09) & 0xFFFFFFFF
    r = (0xCA01F9DD * p2 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p2 = r ^ (r >> 16)
    h = ((p1 ^ 0x4D029A09) * 0xCC132E1D) & 0xFFFFFFFF
    r = (0xCA01F9DD * p3 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p3 = r ^ (r >> 16)
    h = ((p2 ^ 0xCC132E1D) * 0x83A97B41) & 0xFFFFFFFF
    r = (0xCA01F9DD * p0 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p0 = r ^ (r >> 16)
    h = ((p2 ^ 0x83A97B41) * 0xFA8DDCB5) & 0xFFFFFFFF
    r = (0xCA01F9DD * p1 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p1 = r ^ (r >> 16)
    h = ((p2 ^ 0xFA8DDCB5) * 0xAC4C06B9) & 0xFFFFFFFF
    r = (0xCA01F9DD * p3 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p3 = r ^ (r >> 16)
    h = ((p3 ^ 0xAC4C06B9) * 0x26FF5A8D) & 0xFFFFFFFF
    r = (0xCA01F9DD * p0 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p0 = r ^ (r >> 16)
    h = ((p3 ^ 0x26FF5A8D) * 0x0E554A71) & 0xFFFFFFFF
    r = (0xCA01F9DD * p1 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p1 = r ^ (r >> 16)
    h = ((p3 ^ 0x0E554A71) * 0x78C50DA5) & 0xFFFFFFFF
    r = (0xCA01F9DD * p2 - 0x4973F715 * (h ^ (h >> 16))) & 0xFFFFFFFF
    p2 = r ^ (r >> 16)
    # generate_state(8 words)
    w0 = ((p0 ^ 0x8B51F9DD) * 0x464A0A99) & 0xFFFFFFFF
    w1 = ((p1 ^ 0x464A0A99) * 0x819D14A5) & 0xFFFFFFFF
    w2 = ((p2 ^ 0x819D14A5) * 0xD369FDC1) & 0xFFFFFFFF
    w3 = ((p3 ^ 0xD369FDC1) * 0x501638AD) & 0xFFFFFFFF
    w4 = ((p0 ^ 0x501638AD) * 0xA600C129) & 0xFFFFFFFF
    w5 = ((p1 ^ 0xA600C129) * 0x8B0167F5) & 0xFFFFFFFF
    w6 = ((p2 ^ 0x8B0167F5) * 0x5C1E2ED1) & 0xFFFFFFFF
    w7 = ((p3 ^ 0x5C1E2ED1) * 0x301D747D) & 0xFFFFFFFF
    return (
        w0 ^ (w0 >> 16),
        w1 ^ (w1 >> 16),
        w2 ^ (w2 >> 16),
        w3 ^ (w3 >> 16),
        w4 ^ (w4 >> 16),
        w5 ^ (w5 >> 16),
        w6 ^ (w6 >> 16),
        w7 ^ (w7 >> 16),
    )


def _pcg_state(seed: int, position: int) -> tuple[int, int] | None:
    """``(state, inc)`` of ``PCG64(SeedSequence([seed, position]))``, or ``None`` when the
    entropy is longer than the 4-word pool (the caller then uses numpy)."""
    entropy = _words(seed) + _words(position)
    if len(entropy) > _POOL:
        return None
    entropy += [0] * (_POOL - len(entropy))
    w = _seed_words(*entropy)
    # generate_state(4, uint64): little-endian pairs of 32-bit words.
    initstate = (w[0] << 64) | (w[1] << 96) | w[2] | (w[3] << 32)
    initseq = (w[4] << 64) | (w[5] << 96) | w[6] | (w[7] << 32)
    inc = ((initseq << 1) | 1) & _M128
    # pcg_setseq_128_srandom_r: state = 0; step; state += initstate; step.
    state = (((inc + initstate) & _M128) * _PCG_MULT + inc) & _M128
    return state, inc


def step_generator(seed: int, position: int) -> np.random.Generator:
    """The selection generator of the step at ``position``: ``default_rng([seed, position])``."""
    return np.random.default_rng([seed, position])


class StepRandom:
    """Lazily, ``numpy.random.default_rng([seed, position])`` for one CAT step.

    :meth:`uniform` returns the stream's next double (exactly ``Generator.random()``);
    :meth:`generator` returns the numpy ``Generator`` itself, positioned after the doubles
    already drawn.  Invalid seeds raise what numpy raises, when the object is created.
    """

    __slots__ = ("_drawn", "_gen", "_inc", "_position", "_seed", "_state")

    def __init__(self, seed: int, position: int) -> None:
        self._seed = seed
        self._position = position
        self._drawn = 0
        self._gen: np.random.Generator | None = None
        self._state: int | None = None
        self._inc = 0
        if not (type(seed) is int and type(position) is int and seed >= 0 and position >= 0):
            self._gen = step_generator(seed, position)  # numpy validates (and may raise)

    def uniform(self) -> float:
        """The next uniform double in ``[0, 1)``."""
        if self._gen is not None:
            return float(self._gen.random())
        if self._state is None:
            seeded = _pcg_state(self._seed, self._position)
            if seeded is None:
                return float(self.generator().random())
            self._state, self._inc = seeded
        self._drawn += 1
        s = (self._state * _PCG_MULT + self._inc) & _M128
        self._state = s
        rot = s >> 122
        x = ((s >> 64) ^ s) & _M64
        out = ((x >> rot) | (x << ((-rot) & 63))) & _M64
        return (out >> 11) * _TO_DOUBLE

    def generator(self) -> np.random.Generator:
        """The numpy generator, advanced past the doubles :meth:`uniform` returned."""
        if self._gen is None:
            self._gen = step_generator(self._seed, self._position)
            if self._drawn:
                self._gen.random(self._drawn)
        return self._gen
