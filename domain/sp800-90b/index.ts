export { assessmentJobs, assessNonIid, combineResults, ESTIMATORS, runAssessmentJob } from './non-iid';
export type { AssessmentJob, EstimatorName, EstimatorResult, NonIidAssessment, ProgressListener, Track } from './non-iid';
export { prepareSamples, TRUNCATED_BITSTRING_LENGTH } from './samples';
export type { SampleOptions, SampleSet } from './samples';
export { isEstimate } from './estimate';
export type { Estimate, EstimatorOutcome, NotApplicable } from './estimate';
export { assessmentRows, overallMinEntropy } from './rows';
export type { EstimatorRow } from './rows';
