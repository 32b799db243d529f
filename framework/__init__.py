"""The inspection framework as data, and the pure scoring rules.

Importable without Textual or SQLite: the TUI, storage and reports stand on it.
"""

from .load import DEFAULT_FRAMEWORK_ID, DefinitionError, UnknownFramework, load_file, load_framework, shipped_frameworks
from .model import Answer, BandBasis, Framework, KeyQuestion, Prompt, DataItem, Rating, RatingMethod, Standard
from .rules import AnswerCounts, Percentage, percent_yes, round_half_up

__all__ = [
    "DEFAULT_FRAMEWORK_ID", "DefinitionError", "UnknownFramework", "load_file", "load_framework",
    "shipped_frameworks", "Answer", "BandBasis", "Framework", "KeyQuestion", "Prompt", "DataItem",
    "Rating", "RatingMethod", "Standard", "AnswerCounts", "Percentage", "percent_yes", "round_half_up",
]
