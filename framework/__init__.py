"""The inspection framework as data, and the pure scoring rules.

Importable without Textual or SQLite: the TUI, storage and reports stand on it.
"""

from .load import (
    DEFAULT_FRAMEWORK_ID,
    USER_FRAMEWORKS_ENV,
    Catalogue,
    DefinitionError,
    DefinitionProblem,
    UnknownFramework,
    available_frameworks,
    catalogue,
    load_file,
    load_framework,
    shipped_frameworks,
    user_frameworks_dir,
)
from .model import Answer, BandBasis, DataItem, Framework, KeyQuestion, Origin, Prompt, Rating, RatingMethod, Standard
from .rules import AnswerCounts, Percentage, percent_yes, round_half_up

__all__ = [
    "DEFAULT_FRAMEWORK_ID",
    "USER_FRAMEWORKS_ENV",
    "Catalogue",
    "DefinitionError",
    "DefinitionProblem",
    "UnknownFramework",
    "available_frameworks",
    "catalogue",
    "load_file",
    "load_framework",
    "shipped_frameworks",
    "user_frameworks_dir",
    "Answer",
    "BandBasis",
    "DataItem",
    "Framework",
    "KeyQuestion",
    "Origin",
    "Prompt",
    "Rating",
    "RatingMethod",
    "Standard",
    "AnswerCounts",
    "Percentage",
    "percent_yes",
    "round_half_up",
]
