"""Voice in the dialogue: transcript normalisation, the confirmation step, the rider fast path."""

from handlers.voice.gate import VOICE_NO, VOICE_YES, VoiceGate, failure_reply
from handlers.voice.normalise import chinese_number, normalise_transcript
from handlers.voice.rider import (
    RIDER_FLOW,
    RIDER_PROBLEMS,
    RiderFlow,
    RiderHandler,
    RiderProblem,
    rider_menu,
)

__all__ = [
    "RIDER_FLOW",
    "RIDER_PROBLEMS",
    "VOICE_NO",
    "VOICE_YES",
    "RiderFlow",
    "RiderHandler",
    "RiderProblem",
    "VoiceGate",
    "chinese_number",
    "failure_reply",
    "normalise_transcript",
    "rider_menu",
]
