"""DreamSeed psychometrics: IRT calibration, scoring, item fit and computerised adaptive testing.

A pure numpy/scipy library.  Main entry points:

Calibration (marginal ML by EM, Bock & Aitkin 1981; SQUAREM, Varadhan & Roland 2008):
    :func:`calibrate` → :class:`CalibrationResult` (items, SEs, log-likelihood, AIC/BIC).
Models (Rasch/1PL, 2PL, 3PL, Samejima's GRM): :class:`ItemParameters`,
    :func:`category_probabilities`, :func:`item_information`, :func:`test_information`.
Scoring: :func:`score`, :func:`eap_scores`, :func:`map_scores`, :func:`ml_scores`,
    :func:`wle_scores` (Warm 1989).
Fit: :func:`sx2_item_fit` (Orlando & Thissen 2000), :func:`marginal_reliability`,
    :func:`empirical_reliability`.  Classical: :func:`item_analysis`, :func:`cronbach_alpha`.
Linking and equating: :func:`link` (mean/mean, mean/sigma, Haebara, Stocking–Lord),
    :func:`link_anchors` (with purification of drifted anchors), :func:`transform_items`,
    :func:`true_score_equating` (Lord 1980).
Fairness: :func:`mantel_haenszel_dif` (ETS A/B/C), :func:`lr_dif` (IRT likelihood ratio),
    both purified; :func:`calibrate_multigroup` (group means and SDs free).
National scale: :func:`calibrate_stream` runs the same EM over a stream of long-format
    ``(person, item, response)`` chunks (:class:`ResponseSource`, e.g. :class:`ArraySource`),
    memory bounded by a chunk or a cache budget (:class:`StreamedResponses`).
CAT (stateless functions over a serialisable :class:`CATState`): :class:`CATConfig`,
    :class:`CATBank`, :func:`start`, :func:`select_next_item`, :func:`record_response`,
    :func:`check_stop`, :func:`finish`, :func:`simulate_cat`.
"""

from psychometrics.calibration import (
    CalibrationResult,
    ConvergenceReport,
    Priors,
    StandardErrors,
    calibrate,
)
from psychometrics.cat import (
    REASONS,
    CATBank,
    CATConfig,
    CATState,
    Decision,
    ItemChoice,
    SimulationResult,
    StopDecision,
    check_stop,
    finish,
    record_response,
    select_next_item,
    simulate_cat,
    start,
    sympson_hetter_calibrate,
)
from psychometrics.classical import ItemAnalysis, cronbach_alpha, item_analysis
from psychometrics.data import ResponseData, prepare_responses, responses_from_triples
from psychometrics.dif import (
    ETS_CLASSES,
    LikelihoodRatioDIF,
    MantelHaenszelDIF,
    ets_class,
    lr_dif,
    mantel_haenszel_dif,
)
from psychometrics.fit import (
    ItemFit,
    empirical_reliability,
    marginal_reliability,
    sx2_item_fit,
)
from psychometrics.linking import (
    LINKING_METHODS,
    AnchorLink,
    LinkingConstants,
    TrueScoreEquating,
    link,
    link_anchors,
    transform_items,
    transform_theta,
    true_score_equating,
)
from psychometrics.models import (
    ItemParameters,
    category_probabilities,
    item_information,
    test_information,
)
from psychometrics.multigroup import MultigroupResult, calibrate_multigroup
from psychometrics.quadrature import QuadratureGrid, normal_grid
from psychometrics.scoring import (
    ThetaEstimates,
    eap_scores,
    map_scores,
    ml_scores,
    score,
    wle_scores,
)
from psychometrics.stream import (
    ArraySource,
    ResponseChunk,
    ResponseSource,
    StreamedResponses,
    calibrate_stream,
)

__all__ = [
    "ETS_CLASSES",
    "LINKING_METHODS",
    "REASONS",
    "AnchorLink",
    "ArraySource",
    "CATBank",
    "CATConfig",
    "CATState",
    "CalibrationResult",
    "ConvergenceReport",
    "Decision",
    "ItemAnalysis",
    "ItemChoice",
    "ItemFit",
    "ItemParameters",
    "LikelihoodRatioDIF",
    "LinkingConstants",
    "MantelHaenszelDIF",
    "MultigroupResult",
    "Priors",
    "QuadratureGrid",
    "ResponseChunk",
    "ResponseData",
    "ResponseSource",
    "SimulationResult",
    "StandardErrors",
    "StopDecision",
    "StreamedResponses",
    "ThetaEstimates",
    "TrueScoreEquating",
    "calibrate",
    "calibrate_multigroup",
    "calibrate_stream",
    "category_probabilities",
    "check_stop",
    "cronbach_alpha",
    "eap_scores",
    "empirical_reliability",
    "ets_class",
    "finish",
    "item_analysis",
    "item_information",
    "link",
    "link_anchors",
    "lr_dif",
    "mantel_haenszel_dif",
    "map_scores",
    "marginal_reliability",
    "ml_scores",
    "normal_grid",
    "prepare_responses",
    "record_response",
    "responses_from_triples",
    "score",
    "select_next_item",
    "simulate_cat",
    "start",
    "sx2_item_fit",
    "sympson_hetter_calibrate",
    "test_information",
    "transform_items",
    "transform_theta",
    "true_score_equating",
    "wle_scores",
]
