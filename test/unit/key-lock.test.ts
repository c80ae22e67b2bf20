import { describe, expect, it } from 'vitest';
import { KeyLock } from '../../stores/online/key-lock.ts';

describe('KeyLock', () => {
  it('runs the tasks of one key one at a time in call order, other keys beside them, past a failure', async () => {
    const lock = new KeyLock();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    const a1 = lock.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
      throw new Error('a1 failed');
    });
    const a2 = lock.run('a', async () => {
      log.push('a2');
      return 2;
    });
    const b = lock.run('b', async () => {
      log.push('b');
      return 'b';
    });
    expect(await b).toBe('b');
    expect(log).toEqual(['a1 start', 'b']);
    release();
    await expect(a1).rejects.toThrow('a1 failed');
    expect(await a2).toBe(2);
    expect(log).toEqual(['a1 start', 'b', 'a1 end', 'a2']);
  });
});
