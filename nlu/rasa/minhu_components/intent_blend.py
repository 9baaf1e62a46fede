"""IntentBlender: a linear text model that re-ranks DIET's intents.

DIET on ~1,200 hand-written examples is sharp but brittle on short, unusual phrasings; a
linear model over TF-IDF words + character n-grams (the CategoryClassifier machinery, trained
on the intent labels, no lexicon) is steadier there. This component sits right after
DIETClassifier and replaces ``intent`` / ``intent_ranking`` with the weighted average

    p(intent) = diet_weight * p_DIET(intent) + (1 - diet_weight) * p_linear(intent)

DIET must report the full ranking (``ranking_length: 0``) for the average to cover every intent.
Entities are untouched. The blended confidence stays in [0, 1] and sums to 1 over intents.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from minhu_components.category import CategoryClassifier


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class IntentBlender(CategoryClassifier):
    """Blends DIET's intent distribution with a linear model's."""

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            **CategoryClassifier.get_default_config(),
            "diet_weight": 0.5,
            "lexicon_path": None,
            "classifier": "logreg",
            "C": 20.0,
            "ranking_length": 10,
        }

    def _training_examples(self, training_data: TrainingData) -> tuple[list[Message], list[str]]:
        examples = [m for m in training_data.intent_examples if m.get(TEXT) and m.get(INTENT)]
        return examples, [str(m.get(INTENT)) for m in examples]

    def process(self, messages: list[Message]) -> list[Message]:
        w = float(self._config["diet_weight"])
        keep = int(self._config["ranking_length"])
        for message in messages:
            if not self._classes:
                continue
            linear = {r["name"]: r["confidence"] for r in self.predict(message)}
            diet = {
                r["name"]: float(r["confidence"]) for r in message.get(INTENT_RANKING_KEY) or []
            }
            if not diet and message.get(INTENT):
                top = message.get(INTENT)
                diet = {top["name"]: float(top.get("confidence") or 0.0)}
            names = set(linear) | set(diet)
            blended = sorted(
                (
                    {"name": n, "confidence": w * diet.get(n, 0.0) + (1 - w) * linear.get(n, 0.0)}
                    for n in names
                ),
                key=lambda r: -r["confidence"],
            )
            message.set(INTENT, blended[0], add_to_output=True)
            message.set(INTENT_RANKING_KEY, blended[:keep], add_to_output=True)
        return messages
