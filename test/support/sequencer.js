const Sequencer = require('@jest/test-sequencer').default;

/**
 * Jest's order (failed first, then the slowest of the last run, or the largest files on a clean clone), except that the
 * fault scenarios' files go first: each runs for minutes from a few lines, so by size they came last and the run ended
 * with one worker on them and the other idle.
 */
class SlowestFirst extends Sequencer {
  sort(tests) {
    const sorted = super.sort(tests);
    const isFaultScenario = (test) => /[\\/]test[\\/]integration[\\/]faults-[^\\/]+\.test\.ts$/.test(test.path);
    return [...sorted.filter(isFaultScenario), ...sorted.filter((test) => !isFaultScenario(test))];
  }
}

module.exports = SlowestFirst;
