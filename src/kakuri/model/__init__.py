"""Frozen data passed between the stages. Imports nothing else from kakuri."""

from kakuri.model.envelope import Direction, Envelope
from kakuri.model.finding import Finding, SymbolSpec
from kakuri.model.message import ParsedMessage, Part
from kakuri.model.verdict import Action, Verdict

__all__ = ["Action", "Direction", "Envelope", "Finding", "ParsedMessage", "Part", "SymbolSpec", "Verdict"]
