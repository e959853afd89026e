"""modalign: cross-modal image matching and registration.

Image 0 is the fixed image, image 1 the moving one; pixel (x, y) has its origin at the
centre of the top-left pixel; ``H_1to0`` maps moving pixels to fixed pixels.
"""

from ._version import __version__
from .errors import ConfigError, InputError, ModalignError, RegistrationError
from .geometry.estimate import GeometryConfig
from .io import NormalizationConfig, read_image
from .matchers.base import Matcher, MatcherConfig
from .pipeline import RegisterConfig, register
from .products import read_registration
from .registry import DEFAULT_MATCHER, MATCHERS, load_matcher
from .types import MatchResult, Modality, Registration, TransformType

__all__ = [
    "DEFAULT_MATCHER",
    "MATCHERS",
    "ConfigError",
    "GeometryConfig",
    "InputError",
    "MatchResult",
    "Matcher",
    "MatcherConfig",
    "Modality",
    "ModalignError",
    "NormalizationConfig",
    "RegisterConfig",
    "Registration",
    "RegistrationError",
    "TransformType",
    "__version__",
    "load_matcher",
    "read_image",
    "read_registration",
    "register",
]
