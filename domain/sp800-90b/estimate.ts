/** What an estimator found: min-entropy per symbol of the sequence it read, and the figures it was computed from. */
export interface Estimate {
  minEntropy: number;
  detail: Readonly<Record<string, number>>;
}

/** An estimator that cannot run on this sequence (too short, nothing repeats often enough) contributes nothing. */
export interface NotApplicable {
  notApplicable: string;
}

export type EstimatorOutcome = Estimate | NotApplicable;

export function isEstimate(outcome: EstimatorOutcome): outcome is Estimate {
  return 'minEntropy' in outcome;
}
