"""Rasa graph components of this assistant (loaded by config.yml)."""
import logging

# Rasa's LogisticRegressionClassifier imports skops when its model loads, and that import (through
# numpy.distutils) sets the root logger to WARNING: every INFO line of the running server would go.
# Importing it here, before any model loads, and putting the level back keeps logging as configured.
_level = logging.getLogger().level
import skops.io  # noqa: E402,F401  (imported for its side effect, undone below)

logging.getLogger().setLevel(_level)
