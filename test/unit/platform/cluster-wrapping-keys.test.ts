import { judgeWrappingKeys, type WrappingKeyOnNodes } from '../../../domain/cluster-wrapping-keys';
import { ARCHIVE_KEK_LABEL, CLUSTER_KEK_LABEL } from '../../../domain/identifiers';

const held = (kek: string, archive: string, state: WrappingKeyOnNodes['state'] = 'present') => ({
  [CLUSTER_KEK_LABEL]: { state, checkValue: kek },
  [ARCHIVE_KEK_LABEL]: { state, checkValue: archive },
});

describe('the cluster wrapping keys a start finds, against those the database recorded', () => {
  it('records the keys of a first start, and of a database from before the check, as the nodes hold them', () => {
    expect(judgeWrappingKeys({ recorded: {}, onNodes: held('aaaaaa', 'bbbbbb', 'created'), keysAtStake: 0 })).toEqual({
      record: [{ label: CLUSTER_KEK_LABEL, checkValue: 'aaaaaa' }, { label: ARCHIVE_KEK_LABEL, checkValue: 'bbbbbb' }],
      problems: [],
    });
    expect(judgeWrappingKeys({ recorded: {}, onNodes: held('aaaaaa', 'bbbbbb'), keysAtStake: 12 }).problems).toEqual([]);
  });

  it('goes on without writing when the nodes hold the recorded keys', () => {
    expect(judgeWrappingKeys({ recorded: { [CLUSTER_KEK_LABEL]: 'aaaaaa', [ARCHIVE_KEK_LABEL]: 'bbbbbb' }, onNodes: held('aaaaaa', 'bbbbbb'), keysAtStake: 12 }))
      .toEqual({ record: [], problems: [] });
  });

  it('stops when the nodes hold other keys while key versions depend on the recorded ones, and says which and what to do', () => {
    const verdict = judgeWrappingKeys({ recorded: { [CLUSTER_KEK_LABEL]: 'aaaaaa', [ARCHIVE_KEK_LABEL]: 'bbbbbb' }, onNodes: held('cccccc', 'bbbbbb', 'created'), keysAtStake: 3 });
    expect(verdict.record).toEqual([]);
    expect(verdict.problems).toHaveLength(1);
    expect(verdict.problems[0]).toContain(`the nodes hold a ${CLUSTER_KEK_LABEL} with check value cccccc, made by this start because no node held one, not the aaaaaa recorded, while the database lists 3 key(s)`);
    expect(verdict.problems[0]).toContain('restore every node\'s token from a backup');
  });

  it('stops when provisioning made the keys now while keys are at stake, even with nothing recorded (a database from before the check)', () => {
    const verdict = judgeWrappingKeys({ recorded: {}, onNodes: held('cccccc', 'dddddd', 'created'), keysAtStake: 5 });
    expect(verdict.record).toEqual([]);
    expect(verdict.problems).toEqual([
      expect.stringContaining(`the nodes hold a ${CLUSTER_KEK_LABEL} with check value cccccc, made by this start because no node held one, while the database lists 5 key(s)`),
      expect.stringContaining(`the nodes hold a ${ARCHIVE_KEK_LABEL} with check value dddddd, made by this start because no node held one, while the database lists 5 key(s)`),
    ]);
  });

  it('records new keys when no key is at stake', () => {
    expect(judgeWrappingKeys({ recorded: { [CLUSTER_KEK_LABEL]: 'aaaaaa', [ARCHIVE_KEK_LABEL]: 'bbbbbb' }, onNodes: held('cccccc', 'dddddd', 'created'), keysAtStake: 0 })).toEqual({
      record: [{ label: CLUSTER_KEK_LABEL, checkValue: 'cccccc' }, { label: ARCHIVE_KEK_LABEL, checkValue: 'dddddd' }],
      problems: [],
    });
  });
});
