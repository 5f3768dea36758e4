"""The venue of a paper from its arXiv comment ("Accepted at NeurIPS 2025", "EMNLP 2025 Main"), in the list's tag
style (`ICLR 2024`); None when the comment names no venue it was accepted at (pure)."""

from __future__ import annotations

import re

# Canonical name -> the spellings authors use in arXiv comments (matched as whole words, case-insensitively unless
# the spelling has a capital after its first letter, which is then matched exactly to avoid English words: "ACL").
VENUES: dict[str, tuple[str, ...]] = {
    "NeurIPS": ("NeurIPS", "NIPS", "Neural Information Processing Systems"),
    "ICML": ("ICML", "International Conference on Machine Learning"),
    "ICLR": ("ICLR", "International Conference on Learning Representations"),
    "CVPR": ("CVPR", "Computer Vision and Pattern Recognition"),
    "ICCV": ("ICCV", "International Conference on Computer Vision"),
    "ECCV": ("ECCV", "European Conference on Computer Vision"),
    "ACL": ("ACL", "Annual Meeting of the Association for Computational Linguistics"),
    "EMNLP": ("EMNLP", "Empirical Methods in Natural Language Processing"),
    "NAACL": ("NAACL", "NAACL-HLT"),
    "EACL": ("EACL",),
    "COLING": ("COLING",),
    "AAAI": ("AAAI",),
    "IJCAI": ("IJCAI",),
    "KDD": ("KDD", "SIGKDD"),
    "WWW": ("WWW", "The Web Conference", "TheWebConf"),
    "SIGIR": ("SIGIR",),
    "AISTATS": ("AISTATS",),
    "UAI": ("UAI",),
    "COLT": ("COLT",),
    "WACV": ("WACV",),
    "BMVC": ("BMVC",),
    "ICASSP": ("ICASSP",),
    "INTERSPEECH": ("Interspeech", "INTERSPEECH"),
    "MICCAI": ("MICCAI",),
    "CoRL": ("CoRL",),
    "ICRA": ("ICRA",),
    "IROS": ("IROS",),
    "COLM": ("COLM",),
    "TMLR": ("TMLR", "Transactions on Machine Learning Research"),
    "JMLR": ("JMLR", "Journal of Machine Learning Research"),
    "TPAMI": ("TPAMI", "T-PAMI", "IEEE Transactions on Pattern Analysis and Machine Intelligence",
              "Transactions on Pattern Analysis and Machine Intelligence"),
    "IJCV": ("IJCV", "International Journal of Computer Vision"),
    "TNNLS": ("TNNLS",),
    "TIP": ("IEEE TIP",),
    "Nature Machine Intelligence": ("Nature Machine Intelligence",),
}
#: Comments that mention a venue without having been accepted there.
_NOT_ACCEPTED = re.compile(
    r"\b(?:submitted|submission|under\s+review|in\s+review|preprint\s+under|rejected|withdrawn|"
    r"resubmi|to\s+be\s+submitted|reviewing|rolling\s+review)", re.IGNORECASE)
_WORKSHOP = re.compile(r"\b(?:workshops?|W\d|symposium|tutorial|challenge|competition|track\s+on\s+datasets)\b",
                       re.IGNORECASE)
_ACCEPTED = re.compile(r"\b(?:accepted|to\s+appear|appear(?:s|ed)?\s+(?:in|at)|published|camera[-\s]ready|"
                       r"oral|spotlight|poster|main\s+(?:conference|track)|proceedings|findings)\b", re.IGNORECASE)
_FINDINGS = re.compile(r"\bfindings\b", re.IGNORECASE)
_YEAR_AFTER = re.compile(r"^[\s'’,-]*(?:(20[0-4]\d)|'?’?(\d{2}))\b")
_YEAR_ANY = re.compile(r"\b(20[0-4]\d)\b")


def _pattern(spelling: str) -> re.Pattern[str]:
    exact = any(c.isupper() for c in spelling[1:]) and " " not in spelling
    body = re.escape(spelling).replace(r"\ ", r"\s+")
    # "ICLR2024", "NeurIPS'24" and "CVPR-2025" glue the year on; letters may not.
    return re.compile(rf"(?<![A-Za-z]){body}(?![A-Za-z])", 0 if exact else re.IGNORECASE)


_PATTERNS = [(name, _pattern(s)) for name, spellings in VENUES.items() for s in spellings]


def _year_near(text: str, end: int) -> str | None:
    m = _YEAR_AFTER.match(text[end:end + 8])
    if m:
        return m.group(1) or (f"20{m.group(2)}" if m.group(2) else None)
    return None


def venue_from_comment(comment: str | None, published_year: str | int | None = None) -> str | None:
    """`NeurIPS 2025` / `EMNLP 2025 Findings` / `TPAMI 2024` when the comment says the paper is accepted there.

    The year is the one written after the venue (`ICLR 2024`, `ICLR'24`, `ICLR2024`), else any year in the comment
    when it says accepted, else `published_year` when it says accepted. Submissions, reviews and workshops give None.
    """
    text = " ".join(str(comment or "").split())
    if not text or _NOT_ACCEPTED.search(text):
        return None
    cue = _ACCEPTED.search(text)
    found = sorted(((m.start(), name, m) for name, pattern in _PATTERNS for m in [pattern.search(text)] if m),
                   key=lambda f: (f[0], f[2].start() - f[2].end()))  # leftmost, then longest
    if not found:
        return None
    # "Extended version of our ICML 2023 paper; accepted to TPAMI": the venue after the word "accepted" wins.
    _, name, m = next((f for f in found if cue and f[0] >= cue.start()), found[0])
    clause = text[max(0, m.start() - 60): m.end() + 40]
    if _WORKSHOP.search(clause):
        return None
    year = _year_near(text, m.end())
    if year is None and cue:
        years = _YEAR_ANY.findall(text)
        year = years[0] if years else (str(published_year)[:4] if published_year else None)
    if year is None:
        return None  # "compares with ICML baselines": a mention, not a venue
    findings = " Findings" if _FINDINGS.search(clause) else ""
    return f"{name} {year}{findings}"


def entry_venue(paper: dict[str, object]) -> str | None:
    """The tag label of a paper about to be listed: its known `venue`, else the one its arXiv comment names."""
    if paper.get("venue"):
        return str(paper["venue"])
    when = str(paper.get("published") or paper.get("listed") or "")[:4]
    return venue_from_comment(str(paper.get("comment") or ""), when if when.isdigit() else None)
