"""Features for the signal model: pure functions of bars, one definition, two evaluations.

``compute(series, funding)`` gives a :class:`FeatureFrame` for a whole series (numpy, for
training and backtests); :class:`FeatureState` gives the same row one closed bar at a time
(O(1) per bar with fixed memory, for the live signal engine), and
:class:`UniverseFeatureState` the same rows for a whole universe in one numpy pass per
bar. Every formula is written once as a small expression graph (``families.py``,
``higher.py``) that every evaluation runs (``plan.py``); tests hold them equal to 1e-9 at
every bar of every feature.

Conventions
-----------
* **Stamp.** Row ``i`` carries bar ``i``'s open time and uses bars ``0..i`` only: it is
  what was knowable when bar ``i`` closed. A test changes every bar after ``j`` and checks
  rows ``0..j`` do not move.
* **Gaps.** A window or lag of ``k`` means ``k`` *positions* in the series as given: with
  bars missing, ``ret_60`` reaches back 60 bars, more than 60 intervals. ``gap_bars`` and
  ``missing_bars_<w>`` tell the model how many intervals a window really spans.
* **Warm-up.** A feature is NaN until it has its history: lags and windows of ``k`` until
  bar ``k`` (``k − 1`` when the window includes the current bar), EMAs and Wilder
  averages until ``span`` / ``period`` real inputs. Both evaluations agree on every NaN.
* **Higher timeframes** (``htf_<interval>_*``) are resampled from the base bars in UTC
  buckets and use only higher bars *completed* by the stamped bar's close (``higher.py``).
* **Funding** (``funding_rate``) is the last rate settled at or before the bar's close;
  NaN without funding data (``funding.py``).
* **Cross-section** (``xs_rank_*``, ``xs_z_*``): each symbol against the universe at the
  same bar, from the per-symbol frames (``cross_section.py``).

Features are float64 statistics, never money. ``FEATURE_NAMES`` is the column order and
``FEATURE_VERSION`` a hash of the definitions (``catalog.py``): store it with a model.
This package reads only ``quantum_trader.data``, numpy and the standard library.
"""

from quantum_trader.features.catalog import (
    DEFAULT_SPEC,
    FEATURE_NAMES,
    FEATURE_VERSION,
    cross_section_names,
    feature_graph,
    feature_names,
    feature_version,
)
from quantum_trader.features.compute import FeatureState, compute
from quantum_trader.features.cross_section import (
    align,
    cross_section,
    cross_section_at,
    cross_section_matrix,
    rank_and_z,
)
from quantum_trader.features.frame import FeatureFrame, FeatureRow
from quantum_trader.features.funding import FundingCursor, funding_at
from quantum_trader.features.spec import FeatureSpec, HigherTimeframe, spec_for
from quantum_trader.features.universe import UniverseFeatureState

__all__ = [
    "DEFAULT_SPEC",
    "FEATURE_NAMES",
    "FEATURE_VERSION",
    "FeatureFrame",
    "FeatureRow",
    "FeatureSpec",
    "FeatureState",
    "FundingCursor",
    "HigherTimeframe",
    "UniverseFeatureState",
    "align",
    "compute",
    "cross_section",
    "cross_section_at",
    "cross_section_matrix",
    "cross_section_names",
    "feature_graph",
    "feature_names",
    "feature_version",
    "funding_at",
    "rank_and_z",
    "spec_for",
]
