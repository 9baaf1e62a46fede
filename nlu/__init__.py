"""NLU side of minhu: input normalisation, evaluation maths and the Rasa project (nlu/rasa)."""
