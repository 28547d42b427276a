"""Assay's statistics: error rates, paired comparisons, consensus, agreement, sample size,
prediction-powered estimates (PPI++), active gold samples and judges against gold labels.

Label matrices are float arrays ``(n_units, n_raters)`` with NaN for missing values; see
``audit.stats.coding``. Results are small dataclasses with ``to_dict()``.
"""

from audit.stats.active import active_inclusion_probabilities, pareto_sample, uncertainty
from audit.stats.agreement import (
    cohen_kappa,
    cohen_kappa_table,
    coincidence_matrix,
    confusion_matrix,
    fleiss_kappa,
    gwet_ac1,
    krippendorff_alpha,
    pairwise_cohen_kappa,
    pairwise_confusion,
    percent_agreement,
)
from audit.stats.bootstrap import (
    UnitStatistic,
    group_patterns,
    percentile_interval,
    unit_statistic,
)
from audit.stats.coding import (
    as_label_matrix,
    category_counts,
    encode_labels,
    labels_from_counts,
)
from audit.stats.consensus import (
    DawidSkeneResult,
    MajorityVote,
    WeightedConsensus,
    dawid_skene,
    majority_vote,
    weighted_consensus,
)
from audit.stats.diagnostic import DiagnosticAccuracy, diagnostic_accuracy
from audit.stats.paired import compare_paired, mcnemar_exact, newcombe_paired_interval
from audit.stats.plan import margin_reached, sample_size_for_margin, wilson_half_width
from audit.stats.ppi import PPIEstimate, ppi_mean, ppi_rate, t_value
from audit.stats.rates import (
    clopper_pearson_interval,
    error_rate,
    fpc_factor,
    hypergeometric_interval,
    rate_range,
    wilson_interval,
    z_value,
)
from audit.stats.results import (
    AgreementResult,
    Interval,
    PairedComparison,
    RateEstimate,
    RateRange,
)

__all__ = [
    "AgreementResult",
    "DawidSkeneResult",
    "DiagnosticAccuracy",
    "Interval",
    "MajorityVote",
    "PPIEstimate",
    "PairedComparison",
    "RateEstimate",
    "RateRange",
    "UnitStatistic",
    "WeightedConsensus",
    "active_inclusion_probabilities",
    "as_label_matrix",
    "category_counts",
    "clopper_pearson_interval",
    "cohen_kappa",
    "cohen_kappa_table",
    "coincidence_matrix",
    "compare_paired",
    "confusion_matrix",
    "dawid_skene",
    "diagnostic_accuracy",
    "encode_labels",
    "error_rate",
    "fleiss_kappa",
    "fpc_factor",
    "group_patterns",
    "gwet_ac1",
    "hypergeometric_interval",
    "krippendorff_alpha",
    "labels_from_counts",
    "majority_vote",
    "margin_reached",
    "mcnemar_exact",
    "newcombe_paired_interval",
    "pairwise_cohen_kappa",
    "pairwise_confusion",
    "pareto_sample",
    "percent_agreement",
    "percentile_interval",
    "ppi_mean",
    "ppi_rate",
    "rate_range",
    "sample_size_for_margin",
    "t_value",
    "uncertainty",
    "unit_statistic",
    "weighted_consensus",
    "wilson_half_width",
    "wilson_interval",
    "z_value",
]
