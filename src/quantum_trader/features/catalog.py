"""The feature catalogue: the ordered names, the compiled plan and the version of a spec.

``FEATURE_VERSION`` is a hash of every output's name and graph key, and a node's key is a
hash of its operation, parameters and inputs (``graph.Node``): change a window, a span, a
formula or the order of the features and the version changes; rebuild the same spec in
another process and it is the same string. Bump ``DEFINITION_REVISION`` when the
*meaning* of an operation changes without its graph changing (say, the EMA seed).
"""

from __future__ import annotations

import hashlib
from functools import lru_cache

from quantum_trader.features.families import BASE_FAMILIES
from quantum_trader.features.graph import Node
from quantum_trader.features.higher import higher_features
from quantum_trader.features.plan import Plan, compile_plan
from quantum_trader.features.spec import FeatureSpec

DEFINITION_REVISION = 1
DEFAULT_SPEC = FeatureSpec()


def feature_graph(spec: FeatureSpec = DEFAULT_SPEC) -> tuple[tuple[str, Node], ...]:
    """Every feature of ``spec`` as (name, node), in the stable output order."""
    features: list[tuple[str, Node]] = []
    for family in BASE_FAMILIES:
        features.extend(family(spec))
    for tf in spec.higher_timeframes:
        features.extend(higher_features(tf))
    return tuple(features)


@lru_cache(maxsize=32)
def plan_for(spec: FeatureSpec = DEFAULT_SPEC) -> Plan:
    return compile_plan(feature_graph(spec))


def feature_names(spec: FeatureSpec = DEFAULT_SPEC) -> tuple[str, ...]:
    return plan_for(spec).names


def cross_section_names(spec: FeatureSpec = DEFAULT_SPEC) -> tuple[str, ...]:
    """``xs_rank_<f>`` then ``xs_z_<f>`` for each feature of ``spec.cross_section``."""
    unknown = [f for f in spec.cross_section if f not in feature_names(spec)]
    if unknown:
        raise ValueError(f"FeatureSpec.cross_section names unknown features: {unknown}")
    return tuple(f"xs_{kind}_{f}" for f in spec.cross_section for kind in ("rank", "z"))


def feature_version(spec: FeatureSpec = DEFAULT_SPEC) -> str:
    lines = [f"revision {DEFINITION_REVISION}"]
    lines += [f"{name} {node.key}" for name, node in feature_graph(spec)]
    lines += [f"{name} cross-section" for name in cross_section_names(spec)]
    return "fv-" + hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


FEATURE_NAMES: tuple[str, ...] = feature_names(DEFAULT_SPEC)
FEATURE_VERSION: str = feature_version(DEFAULT_SPEC)
