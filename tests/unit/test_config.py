from dataclasses import dataclass, field

import pytest

from modalign.config import build, from_dict, parse_overrides, to_dict
from modalign.errors import ConfigError
from modalign.pipeline import RegisterConfig
from modalign.types import TransformType


@dataclass(frozen=True)
class Inner:
    size: int = 3
    ratio: float = 0.5


@dataclass(frozen=True)
class Outer:
    name: str = "x"
    inner: Inner = field(default_factory=Inner)
    scales: tuple[float, ...] = (1.0,)
    kind: TransformType = TransformType.AFFINE


def test_defaults_nested_values_and_conversions():
    config = from_dict(Outer, {"inner": {"ratio": 1}, "scales": [1, 2.5], "kind": "homography"})
    assert config == Outer(inner=Inner(ratio=1.0), scales=(1.0, 2.5), kind=TransformType.HOMOGRAPHY)
    assert isinstance(config.inner.ratio, float)
    # YAML 1.1 reads "1e-4" (no dot) as a string: a float field still takes it
    overridden = build(Outer, parse_overrides(["inner.ratio=1e-4"]))
    assert overridden.inner.ratio == pytest.approx(1e-4)


@pytest.mark.parametrize(
    "data, message",
    [
        ({"nope": 1}, "unknown key"),
        ({"inner": {"size": "3"}}, "inner.size"),
        ({"inner": {"size": True}}, "inner.size"),
        ({"inner": {"ratio": "fast"}}, "expected float"),
        ({"kind": "projective"}, "not one of"),
        ({"inner": 3}, "expected a mapping"),
    ],
)
def test_strict_loading_rejects(data, message):
    with pytest.raises(ConfigError, match=message):
        from_dict(Outer, data)


def test_overrides_parse_as_yaml_and_nest():
    assert parse_overrides(["a.b=3", "c=true", "d=[1, 2]", "e=text"]) == {
        "a": {"b": 3},
        "c": True,
        "d": [1, 2],
        "e": "text",
    }
    with pytest.raises(ConfigError, match="key=value"):
        parse_overrides(["novalue"])


def test_round_trip_and_layers_do_not_mutate_defaults():
    config = build(RegisterConfig, {"geometry": {"threshold": 7}}, {"rotation_search": True})
    assert config.geometry.threshold == 7.0 and config.rotation_search
    assert RegisterConfig().geometry.threshold == 5.0
    assert from_dict(RegisterConfig, to_dict(config)) == config
