import { RandomForestRegression } from 'ml-random-forest';
import { UserError } from '../errors';
import { seasonalProfile } from './baseline';
import { FEATURE_COUNT, FEATURE_NAMES, MIN_FEATURE_HISTORY, writeFeatures } from './features';
import { type HourlySeries, hourOfWeek, timestampAt } from './series';

/** Uniform in [0, 1). Passed in, so that training is reproducible and domain code never reaches for Math.random. */
export type Random = () => number;

/** mulberry32: a 32-bit state, fast and well mixed; enough for sampling rows, not for anything secret. */
export function createSeededRandom(seed: number): Random {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
  };
}

/**
 * ml-random-forest 2.1 searches splits in time quadratic in a node's rows and samples features once per tree, so the
 * forest is built as many small trees, each trained by its own one-tree RandomForestRegression on its own random sample
 * of rows (drawn here, with replacement, from all keys: bagging) and its own share of the features. Training time is
 * then trees × rowsPerTree² × features, independent of the number of keys; the defaults take a few seconds.
 */
export interface ForestTrainingOptions {
  trees: number;
  rowsPerTree: number;
  maxDepth: number;
  /** A node with this many rows or fewer becomes a leaf. */
  minLeafRows: number;
  /** Share of the features each tree sees, (0, 1]. */
  featureFraction: number;
}

/**
 * Targets are cut at +2 (three times the seasonal expectation). Squared-error trees chase rare bursts, and a recursive
 * forecast feeds a leaf that learned one back into its own lags: uncut, a sparse bursty key's week-ahead forecast ran
 * away to its ceiling. Below, a target cannot pass -1 (a count of zero).
 */
const MAX_TARGET = 2;

export const DEFAULT_FOREST_OPTIONS: ForestTrainingOptions = { trees: 40, rowsPerTree: 320, maxDepth: 8, minLeafRows: 6, featureFraction: 0.5 };

/** The JSON form of a tree: nodes in arrays, a leaf where `feature` is -1. */
export interface TreeJson {
  feature: number[];
  threshold: number[];
  left: number[];
  right: number[];
  value: number[];
}

export const FOREST_FORMAT = 'keyrotor-forest/1';

export interface ForestModelJson {
  format: typeof FOREST_FORMAT;
  /** Names the model in risk explanations: the format plus a hash of the trees, so equal models have equal versions. */
  modelVersion: string;
  trainedAt: string;
  featureNames: string[];
  options: ForestTrainingOptions;
  /** Keys and candidate rows the training sample was drawn from. */
  trainingKeys: number;
  trainingRows: number;
  trees: TreeJson[];
}

interface FlatTree {
  feature: Int32Array;
  threshold: Float64Array;
  left: Int32Array;
  right: Int32Array;
  value: Float64Array;
}

/**
 * A trained global model. Prediction walks flattened trees rather than ml-random-forest's objects: the same splits
 * (`x < threshold` goes left), without building a matrix per call, which keeps a 168-hour recursive forecast of
 * thousands of keys cheap.
 */
export class ForestModel {
  private readonly trees: FlatTree[];

  private constructor(private readonly json: ForestModelJson) {
    this.trees = json.trees.map((tree) => ({
      feature: Int32Array.from(tree.feature),
      threshold: Float64Array.from(tree.threshold),
      left: Int32Array.from(tree.left),
      right: Int32Array.from(tree.right),
      value: Float64Array.from(tree.value),
    }));
  }

  get modelVersion(): string {
    return this.json.modelVersion;
  }

  /** Scale-free outputs for `rows` rows of FEATURE_COUNT features each, laid out one row after another. */
  predict(features: Float64Array, rows: number): Float64Array {
    const out = new Float64Array(rows);
    const trees = this.trees;
    // An imported constant is a module getter once compiled to CommonJS: read it once, not once per row.
    const width = FEATURE_COUNT;
    for (let r = 0; r < rows; r++) {
      const offset = r * width;
      let sum = 0;
      for (const tree of trees) {
        let node = 0;
        let feature = tree.feature[0]!;
        while (feature >= 0) {
          node = features[offset + feature]! < tree.threshold[node]! ? tree.left[node]! : tree.right[node]!;
          feature = tree.feature[node]!;
        }
        sum += tree.value[node]!;
      }
      out[r] = sum / trees.length;
    }
    return out;
  }

  toJSON(): ForestModelJson {
    return this.json;
  }

  /** Loads a model saved by toJSON, checking it fully: a model that cannot be read is an error, never a default. */
  static fromJSON(value: unknown): ForestModel {
    return new ForestModel(validateModel(value));
  }
}

/** The rows a key offers for training: hours with a full week before them, before `before` when given. */
function candidateRows(series: HourlySeries, before: number | undefined): number {
  const end = Math.min(series.counts.length, before ?? Infinity);
  return Math.max(0, end - MIN_FEATURE_HISTORY);
}

export interface TrainForestInput {
  series: readonly HourlySeries[];
  /** Train only on hours before this index of every series (a backtest origin); default: all hours. */
  before?: number;
  random: Random;
  /** When the model was trained (ISO 8601); time is passed in. */
  trainedAt: string;
  options?: Partial<ForestTrainingOptions>;
}

/**
 * Trains the global model on a random sample of (key, hour) rows from all the series. Throws a UserError when no
 * series has more than a week of history.
 */
export function trainForest(input: TrainForestInput): ForestModel {
  const options = resolveOptions(input.options);
  const { series, random, before } = input;
  if (Number.isNaN(Date.parse(input.trainedAt))) throw new UserError('invalid_forest_options', `trainedAt '${input.trainedAt}' is not an ISO 8601 time`);
  const cumulative: number[] = [];
  let total = 0;
  let keys = 0;
  for (const s of series) {
    const rows = candidateRows(s, before);
    if (rows > 0) keys++;
    total += rows;
    cumulative.push(total);
  }
  if (total === 0) {
    throw new UserError('insufficient_history', `the forest needs series with more than ${MIN_FEATURE_HISTORY} hours of history`);
  }
  const row = new Float64Array(FEATURE_COUNT);
  const trees: TreeJson[] = [];
  // A pool smaller than a tree's sample gives each tree a bootstrap of the pool's own size, as plain bagging would.
  const rowsPerTree = Math.min(options.rowsPerTree, total);
  for (let k = 0; k < options.trees; k++) {
    const x: number[][] = [];
    const y: number[] = [];
    for (let i = 0; i < rowsPerTree; i++) {
      const pick = Math.floor(random() * total);
      const key = upperBound(cumulative, pick);
      const s = series[key]!;
      const t = MIN_FEATURE_HISTORY + pick - (key === 0 ? 0 : cumulative[key - 1]!);
      const profile = seasonalProfile(s, t).byHourOfWeek;
      const { base, scale } = writeFeatures(s.counts, { t, hourOfWeek: hourOfWeek(timestampAt(s, t)), profile }, row, 0);
      x.push(Array.from(row));
      y.push(Math.min(MAX_TARGET, (s.counts[t]! - base) / scale));
    }
    const forest = new RandomForestRegression({
      nEstimators: 1,
      maxFeatures: options.featureFraction,
      replacement: false,
      useSampleBagging: false,
      noOOB: true,
      seed: Math.floor(random() * 2_147_483_647),
      treeOptions: { maxDepth: options.maxDepth, minNumSamples: options.minLeafRows },
    });
    forest.train(x, y);
    trees.push(flattenTrainedTree(forest.toJSON()));
  }
  const body = { trees, options };
  const json: ForestModelJson = {
    format: FOREST_FORMAT,
    modelVersion: `${FOREST_FORMAT}#${fnv1a(JSON.stringify(body))}`,
    trainedAt: input.trainedAt,
    featureNames: [...FEATURE_NAMES],
    options,
    trainingKeys: keys,
    trainingRows: total,
    trees,
  };
  return ForestModel.fromJSON(json);
}

function resolveOptions(given: Partial<ForestTrainingOptions> = {}): ForestTrainingOptions {
  const options = { ...DEFAULT_FOREST_OPTIONS, ...given };
  const problems: string[] = [];
  for (const field of ['trees', 'rowsPerTree', 'maxDepth', 'minLeafRows'] as const) {
    if (!Number.isSafeInteger(options[field]) || options[field] < 1) problems.push(`${field} must be a whole number of at least 1`);
  }
  if (!(options.featureFraction > 0 && options.featureFraction <= 1)) problems.push('featureFraction must be greater than 0 and at most 1');
  if (Math.floor(options.featureFraction * FEATURE_COUNT) < 1) problems.push(`featureFraction must leave each tree at least one of the ${FEATURE_COUNT} features`);
  if (problems.length > 0) throw new UserError('invalid_forest_options', problems.join('; '));
  return options;
}

/** Index of the first element greater than `value` in an ascending list. */
function upperBound(sorted: readonly number[], value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (sorted[middle]! > value) high = middle;
    else low = middle + 1;
  }
  return low;
}

/** 32-bit FNV-1a, hex: a short stable fingerprint, not a security hash. */
function fnv1a(text: string): string {
  let hash = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    hash ^= text.charCodeAt(i);
    hash = Math.imul(hash, 0x01000193);
  }
  return (hash >>> 0).toString(16).padStart(8, '0');
}

interface TrainedNode {
  splitColumn?: unknown;
  splitValue?: unknown;
  left?: TrainedNode;
  right?: TrainedNode;
  distribution?: unknown;
}

/**
 * Turns the one tree of a trained one-tree forest into arrays. ml-cart's node sends a row left when
 * `row[splitColumn] < splitValue`, a node is internal only when it has both children (a node that found a split but
 * stopped keeps the split fields and a leaf value), and the tree's columns are positions in the forest's feature subset.
 */
export function flattenTrainedTree(trained: { baseModel: { indexes: number[][]; estimators: unknown[] } }): TreeJson {
  const columns = trained.baseModel.indexes[0];
  const estimator = trained.baseModel.estimators[0] as { root?: TrainedNode } | undefined;
  if (columns === undefined || estimator?.root === undefined) throw new Error('ml-random-forest returned no tree');
  const tree: TreeJson = { feature: [], threshold: [], left: [], right: [], value: [] };
  const visit = (node: TrainedNode): number => {
    const index = tree.feature.length;
    if (node.left !== undefined && node.right !== undefined) {
      const column = columns[node.splitColumn as number];
      if (column === undefined || typeof node.splitValue !== 'number') throw new Error('ml-random-forest returned a split without a column or value');
      tree.feature.push(column);
      tree.threshold.push(node.splitValue);
      tree.value.push(0);
      tree.left.push(-1);
      tree.right.push(-1);
      tree.left[index] = visit(node.left);
      tree.right[index] = visit(node.right);
    } else {
      if (typeof node.distribution !== 'number' || !Number.isFinite(node.distribution)) throw new Error('ml-random-forest returned a leaf without a value');
      tree.feature.push(-1);
      tree.threshold.push(0);
      tree.value.push(node.distribution);
      tree.left.push(-1);
      tree.right.push(-1);
    }
    return index;
  };
  visit(estimator.root);
  return tree;
}

function invalid(problem: string): UserError {
  return new UserError('invalid_forest_model', `the forest model cannot be used: ${problem}; retrain it`);
}

function isNumberArray(value: unknown): value is number[] {
  return Array.isArray(value) && value.every((item) => typeof item === 'number' && Number.isFinite(item));
}

function validateModel(value: unknown): ForestModelJson {
  if (typeof value !== 'object' || value === null) throw invalid('it is not a JSON object');
  const json = value as Partial<Record<keyof ForestModelJson, unknown>>;
  if (json.format !== FOREST_FORMAT) throw invalid(`its format is ${JSON.stringify(json.format)}, this version reads ${FOREST_FORMAT}`);
  if (typeof json.modelVersion !== 'string' || typeof json.trainedAt !== 'string') throw invalid('modelVersion or trainedAt is missing');
  if (!Array.isArray(json.featureNames) || json.featureNames.join(',') !== FEATURE_NAMES.join(',')) {
    throw invalid('it was trained on other features than this version computes');
  }
  if (!Array.isArray(json.trees) || json.trees.length === 0) throw invalid('it has no trees');
  json.trees.forEach((tree: unknown, t) => {
    const { feature, threshold, left, right, value: leafValue } = (tree ?? {}) as Partial<Record<keyof TreeJson, unknown>>;
    if (!isNumberArray(feature) || !isNumberArray(threshold) || !isNumberArray(left) || !isNumberArray(right) || !isNumberArray(leafValue)) {
      throw invalid(`tree ${t} lacks one of feature, threshold, left, right, value`);
    }
    const size = feature.length;
    if (size === 0 || [threshold, left, right, leafValue].some((list) => list.length !== size)) throw invalid(`tree ${t} has arrays of different lengths`);
    for (let node = 0; node < size; node++) {
      const f = feature[node]!;
      if (f === -1) continue;
      if (!Number.isInteger(f) || f < 0 || f >= FEATURE_COUNT) throw invalid(`tree ${t} node ${node} splits on feature ${f}`);
      // Children after their parent: the walk always ends.
      for (const child of [left[node]!, right[node]!]) {
        if (!Number.isInteger(child) || child <= node || child >= size) throw invalid(`tree ${t} node ${node} has a child ${child} out of order`);
      }
    }
  });
  const options = resolveOptions(json.options as Partial<ForestTrainingOptions> | undefined);
  const counts = [json.trainingKeys, json.trainingRows];
  if (!counts.every((count) => typeof count === 'number' && Number.isSafeInteger(count) && count >= 0)) throw invalid('trainingKeys or trainingRows is missing');
  return { ...(value as ForestModelJson), options };
}
