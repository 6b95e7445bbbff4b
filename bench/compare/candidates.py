"""The candidates ``bench compare`` weighs against each other: ``STRATEGY[:SOURCE][@BACKBONE]``.

- ``scratch``, ``scratch@cgcnn``: a fresh backbone (a baseline such as ``scratch@mean`` once registered);
- ``ptft`` (source ``fe``), ``ptft:bg``, ``ptft:mptrj@chgnet``: pre-train on one source, fine-tune;
- ``mpt`` (the task's default sources), ``mpt:fe+bg+gv``: multi-property pre-training on those sources.

``,`` separates candidates, so several MPT sources are joined with ``+``. Without ``@`` a candidate uses
``DEFAULT_BACKBONE``. Parsing checks names only (no data is read); ``bench.compare.engine`` then checks every
cell as a ``RunSpec`` against the task before anything runs.
"""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_BACKBONE = "alignn"
DEFAULT_CANDIDATES = "scratch,ptft:fe,ptft:bg,mpt"
REFERENCE = "scratch"  # what every candidate is paired with


class CandidateError(ValueError):
    """A ``--candidates`` entry that cannot be run; the message names the entry and what is accepted."""


@dataclass(frozen=True)
class Candidate:
    strategy: str
    source: str | None = None  # ptft: the source as typed (a task name or a property code)
    sources: tuple[str, ...] | None = None  # mpt: as typed; None: the task's default set
    backbone: str = DEFAULT_BACKBONE

    @property
    def label(self) -> str:
        """The candidate as one would type it, in canonical form (the default backbone left out)."""
        text = self.strategy
        if self.source:
            text += f":{self.source}"
        if self.sources:
            text += ":" + "+".join(self.sources)
        return text + (f"@{self.backbone}" if self.backbone != DEFAULT_BACKBONE else "")

    @property
    def pretrain(self) -> dict:
        """The ``pretrain`` options of a run (``RunSpec.from_options``, a sweep cell)."""
        if self.strategy == "ptft":
            return {"source": self.source or "fe"}
        if self.strategy == "mpt" and self.sources:
            return {"sources": list(self.sources)}
        return {}

    def identity(self, task: str) -> tuple:
        """What the candidate runs, with aliases resolved: ``ptft:fe`` and ``ptft:devi2024-fe`` are one."""
        from bench.strategies import resolve_source

        if self.strategy == "ptft":
            return ("ptft", resolve_source(self.source or "fe", task), self.backbone)
        if self.strategy == "mpt" and self.sources:
            return ("mpt", tuple(resolve_source(s, task) for s in self.sources), self.backbone)
        return (self.strategy, None, self.backbone)


def parse_candidate(text: str) -> Candidate:
    """One entry; raises ``CandidateError`` naming it."""
    from backbones import BACKBONES
    from bench.strategies import STRATEGIES

    where = f"--candidates entry {text!r}"
    body, at, backbone = text.strip().partition("@")
    if at and not backbone:
        raise CandidateError(f"{where}: nothing after '@'; name a backbone ({', '.join(BACKBONES)}; "
                             "see `bench backbones`)")
    backbone = backbone or DEFAULT_BACKBONE
    if backbone not in BACKBONES:
        raise CandidateError(f"{where}: unknown backbone {backbone!r}; registered backbones: "
                             f"{', '.join(BACKBONES)} (see `bench backbones`)")
    strategy, colon, arg = body.partition(":")
    if strategy not in STRATEGIES:
        raise CandidateError(f"{where}: unknown strategy {strategy!r}; known strategies: {', '.join(STRATEGIES)} "
                             "(form STRATEGY[:SOURCE][@BACKBONE], e.g. ptft:fe or scratch@cgcnn)")
    if colon and not arg:
        raise CandidateError(f"{where}: nothing after ':'; name a source (e.g. {strategy}:fe) or drop the ':'")
    if strategy == "scratch":
        if arg:
            raise CandidateError(f"{where}: scratch pre-trains nothing, so it takes no source; use scratch or "
                                 f"ptft:{arg}")
        return Candidate("scratch", backbone=backbone)
    if strategy == "ptft":
        if "+" in arg:
            raise CandidateError(f"{where}: ptft pre-trains on one source; several sources joined by '+' are "
                                 f"mpt:{arg}")
        return Candidate("ptft", source=arg or None, backbone=backbone)
    if strategy == "mpt":
        sources = tuple(s for s in arg.split("+")) if arg else None
        if sources and (any(not s for s in sources) or len(sources) < 2):
            raise CandidateError(f"{where}: mpt takes two or more sources joined by '+' (e.g. mpt:fe+bg+gv), "
                                 "or none for the task's default set")
        return Candidate("mpt", sources=sources, backbone=backbone)
    raise CandidateError(f"{where}: bench compare does not know how to run strategy {strategy!r} yet")


def parse_candidates(text: str | None, task: str) -> tuple[Candidate, ...]:
    """``--candidates`` (None: ``DEFAULT_CANDIDATES``) for ``task``: every entry parsed, pre-training sources
    resolved (an unknown one is named), no candidate twice, and a ``scratch`` to pair the others with."""
    entries = [e.strip() for e in (DEFAULT_CANDIDATES if text is None else text).split(",")]
    if not any(entries) or "" in entries:
        raise CandidateError(f"--candidates {text!r}: an empty entry; give names separated by commas, e.g. "
                             f"{DEFAULT_CANDIDATES}")
    out: list[Candidate] = []
    seen: dict[tuple, str] = {}
    for entry in entries:
        cand = parse_candidate(entry)
        try:
            ident = cand.identity(task)
        except KeyError as err:
            raise CandidateError(f"--candidates entry {entry!r}: {err.args[0]}") from None
        if ident in seen:
            raise CandidateError(f"--candidates entry {entry!r} runs the same as {seen[ident]!r}; give it once")
        seen[ident] = entry
        out.append(cand)
    if not any(c.strategy == REFERENCE for c in out):
        raise CandidateError(f"--candidates {text!r} has no scratch: every candidate is measured against scratch "
                             "on the same trials, so include scratch (e.g. scratch," + ",".join(entries) + ")")
    return tuple(out)


def reference_of(candidates: tuple[Candidate, ...]) -> Candidate:
    """The scratch candidate the others are paired with: the default backbone's, else the first scratch."""
    scratch = [c for c in candidates if c.strategy == REFERENCE]
    return next((c for c in scratch if c.backbone == DEFAULT_BACKBONE), scratch[0])
