"""Which terms may never be a paper's `why` reason: units, numbers, word fragments and filler (pure).

The classifier's explanation code asks `is_noise(words)` for every term; a term it answers True for is never
shown to a reviewer ("percentage points", "mm", "insights", "rethinking", "inter", "dropout", "7b", "2x").
"""

from __future__ import annotations

import re
from collections.abc import Sequence

#: Units and measures: what a number is counted in, never what a paper is about.
UNITS = frozenset("""
    mm cm km nm um µm ms ns us sec secs second seconds minute minutes hour hours day days kb mb gb tb pb kib mib gib
    hz khz mhz ghz db dbs fps flop flops gflops tflops pflops macs watt watts kwh percent percentage percentages
    points point pp pts fold times bit bits byte bytes token tokens param params billion million thousand
    px pixel pixels dpi ppm iter iters epoch epochs x
""".split())
#: Prefixes left over from split hyphenated words ("inter-layer" -> "inter"), never a topic alone.
FRAGMENTS = frozenset("""
    inter intra multi non pre post sub semi self cross co re un anti over under meta hyper ultra mid
    de dis en ex im in mis out trans bi tri uni fine well
""".split())
#: Words that frame a paper but name no topic of the list (its sections are about using trained models).
FILLER = frozenset("""
    insight insights rethinking rethink revisiting revisit towards toward via beyond lessons lesson perspective
    perspectives survey overview primer tutorial unified unifying simple simpler simplest surprising surprisingly
    dropout understanding empirical empirically principled principle principles comprehensive holistic
    systematic systematically closer look deeper matters matter need needs really truly free
""".split())
_NUMBERISH = re.compile(r"^(?:\d+(?:[.,]\d+)*[a-z]{0,2}|[a-z]?\d+[a-z]?\d*|\d+(?:st|nd|rd|th))$")


def is_noise(words: Sequence[str]) -> bool:
    """True when a term (its lower-case words) is a unit, a number, a fragment or filler, alone or in a phrase
    made only of such words and numbers ("percentage points", "10 mm"); a phrase with a real topic word stays."""
    if not words:
        return True
    noisy = [_noise_word(w) for w in words]
    if len(words) == 1:
        return noisy[0]
    return all(noisy) or any(w in UNITS or _NUMBERISH.match(w) for w in words)


def _noise_word(w: str) -> bool:
    return len(w) < 3 or w in UNITS or w in FRAGMENTS or w in FILLER or bool(_NUMBERISH.match(w))
