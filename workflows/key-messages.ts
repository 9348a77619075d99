// The messages of the key lifecycle workflow, defined once for the workflow, the API and the tests.
import { SearchAttributeType, defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type { KeyPolicy } from '../domain/keys/policy';
import type { MachineView, RotationAccepted } from '../domain/keys/lifecycle-machine';
import type { PredictionSummary } from '../domain/keys/lifecycle-state';

export const keyNameSearchAttribute = defineSearchAttributeKey('KeyName', SearchAttributeType.KEYWORD);
export const keyPhaseSearchAttribute = defineSearchAttributeKey('KeyPhase', SearchAttributeType.KEYWORD);
export const activeVersionSearchAttribute = defineSearchAttributeKey('ActiveVersion', SearchAttributeType.KEYWORD);

export interface RotateKeyRequest {
  reason: string;
  emergency: boolean;
  actor: string;
}

export interface RotateKeyResult {
  version: number;
  kid: string;
  fingerprint: string;
  previous: { version: number; state: string } | null;
  /** Emergency rotations: the nodes on which the old version's CKA_SIGN was switched off before this answer. */
  signingDisabledOn: string[];
}

export interface ExtendGraceRequest {
  /** Milliseconds; the API parses the caller's duration. */
  byMs: number;
  reason: string;
  actor: string;
}

export interface CompleteGraceRequest {
  reason: string;
  actor: string;
}

export interface CompleteGraceResult {
  version: number;
  state: string;
  verdictOk: boolean | null;
}

export interface RaiseMinDecryptionRequest {
  version: number;
  reason?: string;
  actor: string;
}

export interface UpdatePolicyRequest {
  change: Partial<KeyPolicy>;
  actor: string;
}

export interface DecommissionRequest {
  reason: string;
  actor: string;
}

export interface EvaluateKeyRequest {
  actor: string;
}

/** Runs the step a held key stopped at again, once its cause is fixed. */
export interface ResumeKeyRequest {
  reason: string;
  actor: string;
}

export interface ExtendGraceResult {
  deadline: string;
  cap: string | null;
}

export const keyStateQuery = defineQuery<MachineView>('keyState');
export const rotateKeyUpdate = defineUpdate<RotateKeyResult, [RotateKeyRequest]>('rotateKey');
/**
 * The same rotation, the same refusals, answered early (`Prefer: respond-async`): once the new version is recorded and
 * published, active, or waiting for nodes. A name of its own, so histories of `rotateKey` replay unchanged.
 */
export const startRotationUpdate = defineUpdate<RotationAccepted, [RotateKeyRequest]>('startRotation');
/** For the Web UI and CLI: a refused extension is recorded in the audit log. The API uses the Update, which answers. */
export const extendGracePeriodSignal = defineSignal<[ExtendGraceRequest]>('extendGracePeriod');
export const extendGracePeriodUpdate = defineUpdate<ExtendGraceResult, [ExtendGraceRequest]>('extendGrace');
export const resumeKeyUpdate = defineUpdate<{ resumed: string }, [ResumeKeyRequest]>('resumeKey');
export const completeGraceUpdate = defineUpdate<CompleteGraceResult, [CompleteGraceRequest]>('completeGrace');
/**
 * Encryption keys: archives every decrypt-only version below `version` now. Answers with the last archive's
 * verification, or `{ minDecryptionVersion, archived: [] }` when no version was below it.
 */
export const raiseMinDecryptionUpdate = defineUpdate<CompleteGraceResult | { minDecryptionVersion: number | null; archived: number[] }, [RaiseMinDecryptionRequest]>('raiseMinDecryptionVersion');
export const updatePolicyUpdate = defineUpdate<KeyPolicy, [UpdatePolicyRequest]>('updatePolicy');
export const decommissionKeyUpdate = defineUpdate<{ destroyedVersions: number[] }, [DecommissionRequest]>('decommissionKey');
/** Runs a risk evaluation now (it may rotate the key, as a scheduled one would) and answers with its summary. */
export const evaluateKeyUpdate = defineUpdate<PredictionSummary, [EvaluateKeyRequest]>('evaluateKey');
/** Asks for an evaluation as soon as the workflow is free (new threat intelligence, for instance); answers nothing. */
export const reevaluateKeySignal = defineSignal<[{ why: string }]>('reevaluateKey');
