// The shapes of the API replies the dashboard reads: the same JSON a script gets (see /openapi.json).

export type Role = 'admin' | 'operator' | 'auditor';

export interface Whoami {
  id: string;
  name: string;
  role: Role;
  mayAct: boolean;
}

export interface Info {
  nodes: string[];
  temporal: { namespace: string; webUiUrl: string | null };
  entropy: { minimumCreditedBits: number; harvestIntervalSeconds: number };
}

export interface ComponentHealth {
  status: 'up' | 'down';
  latencyMs: number;
  reason?: string;
}

export interface NodeHealth {
  id: string;
  status: 'up' | 'down';
  reason?: string;
  tokenLabel?: string;
  manufacturer?: string;
  model?: string;
  hsmMs?: number;
}

export interface Health {
  status: 'ok' | 'degraded' | 'down';
  checkedAt: string;
  components: { temporal: ComponentHealth; postgres: ComponentHealth };
  nodes: NodeHealth[];
}

export interface Prediction {
  riskScore: number | null;
  riskThreshold: number;
  predictedRotationAt: string | null;
  predictedTrigger: 'risk' | 'capacity' | 'age' | null;
  nextEvaluationAt: string | null;
  evaluatedAt: string | null;
  reason: string | null;
}

export interface KeyPolicy {
  gracePeriod?: string;
  maxGracePeriod?: string;
  retention?: string;
  maxAge?: string;
  riskThreshold?: number;
  sensitivity?: string;
  entropyPolicy?: string | null;
}

export interface KeyListItem {
  name: string;
  keyType: string;
  phase: string;
  policy?: KeyPolicy;
  activeVersion: number | null;
  nextRotationAt: string | null;
  createdAt: string;
  graceDeadline?: string | null;
  nextPurgeAt?: string | null;
  prediction?: Prediction;
}

export interface KeyList {
  keys: KeyListItem[];
  total: number;
}

export interface EntropyProvenance {
  nodeId?: string;
  mode?: 'pool' | 'hsm-only';
  creditedBits?: number;
  minimumCreditedBits?: number;
  healthy?: boolean;
  drbg?: { reseeds: number };
  sources?: Array<{ name: string; state: string; minEntropy: number | null }>;
  battery?: { passed: number; failed: string[] } | null;
}

export interface KeyVersion {
  version: number;
  kid: string;
  fingerprint: string;
  state: string;
  generatedOn: string;
  createdAt: string;
  activatedAt?: string | null;
  retiringAt?: string | null;
  archivedAt?: string | null;
  purgedAt?: string | null;
  compromisedAt?: string | null;
  graceDeadline?: string | null;
  purgeAfter?: string | null;
  lineage: { previousVersion?: number | null; trigger?: string; reason?: string; actor?: string };
  verdict?: { ok?: boolean } | null;
  entropyProvenance?: EntropyProvenance | null;
}

export interface KeyDetail extends KeyListItem {
  workflowId?: string;
  versions: KeyVersion[];
  deadlines: { graceDeadline: string | null; graceCap: string | null; nextRotationAt: string | null; nextEvaluationAt?: string | null };
  /** Set when a step failed for good: the key waits there until resumed. */
  held?: { step: string; reason: string; since: string } | null;
  /** Something the key expects and waits for (an HSM node, a healthy entropy pool). */
  waiting?: { for: string; since: string } | null;
  working?: string | null;
}

export interface UsageReply {
  key: string;
  actual: Array<{ at: string; count: number }>;
  forecast: {
    startAt: string;
    horizon: number;
    method: string;
    reason: string;
    modelVersion: string;
    mean: number[];
    lower: number[];
    upper: number[];
    intervalLevel: number;
  } | null;
  anomalies: { score: number; flagged: Array<{ at: string; actual: number; expected: number; direction: 'spike' | 'drop' }> };
}

export interface RiskComponent {
  name: string;
  value: number;
  weight: number;
  contribution: number;
  detail: string;
}

export interface RiskEvaluation {
  evaluatedAt: string;
  version: number;
  score: number;
  threshold: number;
  trigger: string | null;
  reason: string | null;
  predictedRotationAt: string | null;
  components: RiskComponent[];
  modelVersion: string;
  forecastMethod: string;
}

export interface RiskReply {
  key: string;
  items: RiskEvaluation[];
}

/** GET /risk-trends: each named key's newest risk scores, oldest first; names that are no key in unknown. */
export interface RiskTrendsReply {
  trends: Array<{ key: string; points: Array<{ evaluatedAt: string; score: number }> }>;
  unknown: string[];
}

export interface KeymapNode {
  id: string;
  acknowledged: { epoch: number; digest: string; at: string | null } | null;
  inSync: boolean;
  lastSyncAt: string | null;
  stale: boolean;
  snapshot?: { status: string | null };
  drift: { total?: number } | null;
}

export interface KeymapNodes {
  epoch: number;
  digest: string;
  nodes: KeymapNode[];
}

export interface SourceStatus {
  name: string;
  bitsPerSample?: number;
  credit?: 'assessed' | 'none';
  state: string;
  assessment: { minEntropy: number; samples: number; at: string } | null;
  lastHealth: { verdict: string; alerts: number; failedAt: number | null; samples: number } | null;
  creditedBitsLastHarvest?: number;
  error?: string | null;
}

export interface BatterySummary {
  at: string;
  bits: number;
  passed: number;
  failed: string[];
  notApplicable: number;
}

export interface EntropyReport {
  nodeId: string;
  at: string;
  healthy: boolean;
  snapshot: {
    creditedBits: number;
    minimumCreditedBits: number;
    healthy: boolean;
    drbg: { instantiated: boolean; reseeds: number; lastReseedAt: string | null };
    battery: BatterySummary | null;
  };
  sources: SourceStatus[];
}

export interface Alert {
  id: string;
  dedupKey: string;
  severity: 'info' | 'warning' | 'critical';
  source: string;
  subject: string;
  message: string;
  firstSeen: string;
  lastSeen: string;
  count: number;
  acknowledgedBy: string | null;
  acknowledgedAt: string | null;
}

export interface AlertList {
  alerts: Alert[];
  total: number;
}

/** An RFC 9457 problem, the body of every API error. */
export interface Problem {
  status: number;
  code: string;
  title?: string;
  detail?: string;
}
