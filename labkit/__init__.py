"""labkit: a teaching kit for image classification with a pretrained MobileNetV2.

Smallest example::

    from labkit import Classifier
    classifier = Classifier()
    print(classifier.classify("data/samples/beagle.jpg"))
"""

from labkit.errors import LabkitError
from labkit.images import ImageError, load_image
from labkit.model import Classifier, shared_classifier
from labkit.native_logs import quiet_tensorflow_import
from labkit.predict import ClassScore, Prediction
from labkit.preprocess import to_batch, to_model_input
from labkit.version import __version__
from labkit.weights import WeightsNotFound

# No labkit module imports TensorFlow when imported (only inside functions), so this still comes first: its start-up
# log lines stay out of notebooks (labkit.native_logs).
quiet_tensorflow_import()

__all__ = [
    "Classifier",
    "ClassScore",
    "ImageError",
    "LabkitError",
    "Prediction",
    "WeightsNotFound",
    "__version__",
    "load_image",
    "shared_classifier",
    "to_batch",
    "to_model_input",
]
