import { isEstimate } from './estimate';
import { ESTIMATORS, type NonIidAssessment } from './non-iid';

/** One estimate of an assessment: estimator is one of ESTIMATORS or Overall; Overall also has the `assessed` track. */
export interface EstimatorRow {
  estimator: string;
  track: 'original' | 'bitstring' | 'assessed';
  minEntropy: number;
}

/** An assessment as rows, in the order of ESTIMATORS, the overall estimates last (what `keyrotor ea --json` prints). */
export function assessmentRows(assessment: NonIidAssessment): EstimatorRow[] {
  const out: EstimatorRow[] = [];
  for (const estimator of ESTIMATORS) {
    for (const result of assessment.results) {
      if (result.estimator === estimator && isEstimate(result.outcome)) {
        out.push({ estimator, track: result.track, minEntropy: result.outcome.minEntropy });
      }
    }
  }
  out.push({ estimator: 'Overall', track: 'original', minEntropy: assessment.hOriginal });
  if (assessment.hBitstring !== undefined) out.push({ estimator: 'Overall', track: 'bitstring', minEntropy: assessment.hBitstring });
  out.push({ estimator: 'Overall', track: 'assessed', minEntropy: assessment.assessed });
  return out;
}

/** The estimate a source is credited with: the assessed track, or the original one where there is no bitstring. */
export function overallMinEntropy(rows: readonly EstimatorRow[]): number | null {
  const overall = rows.find((row) => row.estimator === 'Overall' && row.track === 'assessed') ?? rows.find((row) => row.estimator === 'Overall' && row.track === 'original');
  return overall ? overall.minEntropy : null;
}
