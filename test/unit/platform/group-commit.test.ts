import { GroupCommit } from '../../../adapters/postgres/group-commit';

/** A writer whose transactions settle when the test says so; it records each batch it was given. */
function controlledWriter() {
  const batches: string[][] = [];
  const pending: Array<{ resolve: () => void; reject: (error: Error) => void }> = [];
  const write = (items: string[]): Promise<string[]> => new Promise<string[]>((resolve, reject) => {
    batches.push(items);
    pending.push({ resolve: () => resolve(items.map((item) => `${item} stored`)), reject });
  });
  return { write, batches, pending };
}

const settle = async (): Promise<void> => {
  for (let i = 0; i < 10; i += 1) await Promise.resolve();
};

describe('GroupCommit (the recordings of lifecycle steps)', () => {
  it('writes a lone item at once, in a batch of its own, and answers its result', async () => {
    const { write, batches, pending } = controlledWriter();
    const group = new GroupCommit(write);
    const answer = group.submit('a');
    expect(batches).toEqual([['a']]);
    pending[0]?.resolve();
    await expect(answer).resolves.toBe('a stored');
  });

  it('writes every item that came while a batch was being written in the next one, in their order, each answered its own result', async () => {
    const { write, batches, pending } = controlledWriter();
    const group = new GroupCommit(write);
    const first = group.submit('a');
    const later = ['b', 'c', 'd'].map((item) => group.submit(item));
    await settle();
    expect(batches).toEqual([['a']]);
    pending[0]?.resolve();
    await expect(first).resolves.toBe('a stored');
    await settle();
    expect(batches).toEqual([['a'], ['b', 'c', 'd']]);
    pending[1]?.resolve();
    await expect(Promise.all(later)).resolves.toEqual(['b stored', 'c stored', 'd stored']);
    // Nothing queued: the next item starts a batch of its own at once.
    const next = group.submit('e');
    expect(batches).toEqual([['a'], ['b', 'c', 'd'], ['e']]);
    pending[2]?.resolve();
    await expect(next).resolves.toBe('e stored');
  });

  it('keeps batches within their largest size', async () => {
    const { write, batches, pending } = controlledWriter();
    const group = new GroupCommit(write, 2);
    const answers = ['a', 'b', 'c', 'd', 'e'].map((item) => group.submit(item));
    for (let i = 0; i < 3; i += 1) {
      await settle();
      pending[i]?.resolve();
    }
    await expect(Promise.all(answers)).resolves.toEqual(['a stored', 'b stored', 'c stored', 'd stored', 'e stored']);
    expect(batches).toEqual([['a'], ['b', 'c'], ['d', 'e']]);
  });

  it('writes a failed batch again one item at a time, so that only the item that cannot be written fails', async () => {
    const batches: string[][] = [];
    let failNext = true;
    const group = new GroupCommit<string, string>(async (items) => {
      batches.push(items);
      await Promise.resolve();
      if (failNext && items.length > 1) {
        failNext = false;
        throw new Error('a batch failed');
      }
      if (items.includes('poison')) throw new Error('poison cannot be written');
      return items.map((item) => `${item} stored`);
    });
    const first = group.submit('a');
    const later = ['b', 'poison', 'c'].map((item) => group.submit(item).then((value) => ({ value }), (error: Error) => ({ error: error.message })));
    await expect(first).resolves.toBe('a stored');
    await expect(Promise.all(later)).resolves.toEqual([{ value: 'b stored' }, { error: 'poison cannot be written' }, { value: 'c stored' }]);
    expect(batches).toEqual([['a'], ['b', 'poison', 'c'], ['b'], ['poison'], ['c']]);
  });

  it('reports a write that committed but answered another number of results, without writing its items again', async () => {
    const batches: string[][] = [];
    const group = new GroupCommit<string, string>(async (items) => {
      batches.push(items);
      await Promise.resolve();
      return items.slice(1).map((item) => `${item} stored`);
    });
    const answers = ['a', 'b', 'c'].map((item) => group.submit(item).then((value) => ({ value }), (error: Error) => ({ error: error.message })));
    await expect(Promise.all(answers)).resolves.toEqual([
      { error: 'a group commit answered 0 results for 1 items' },
      { error: 'a group commit answered 1 results for 2 items' },
      { error: 'a group commit answered 1 results for 2 items' },
    ]);
    expect(batches).toEqual([['a'], ['b', 'c']]);
  });

  it('fails a lone item with its own error, and goes on with the next', async () => {
    const { write, pending, batches } = controlledWriter();
    const group = new GroupCommit(write);
    const failed = group.submit('a');
    const next = group.submit('b');
    pending[0]?.reject(new Error('connection lost'));
    await expect(failed).rejects.toThrow('connection lost');
    await settle();
    pending[1]?.resolve();
    await expect(next).resolves.toBe('b stored');
    expect(batches).toEqual([['a'], ['b']]);
  });
});
