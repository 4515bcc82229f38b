import { chai } from 'vitest';

/**
 * Vitest 3's `toThrow('text')` and `toThrow(/pattern/)` pass when the code throws, or the promise rejects
 * with, `undefined` or `null`: the expectation is not checked at all. A test that names the error it expects
 * must fail when there is none to name, so `toThrow` and `toThrowError` given an expectation first require
 * a thrown value; the matcher then checks it as before. Loaded for every suite (vitest.config.ts setupFiles).
 */
chai.use((api, utils) => {
  for (const name of ['toThrow', 'toThrowError']) {
    utils.overwriteMethod(api.Assertion.prototype, name, (original: (...args: unknown[]) => unknown) => {
      return function (this: Chai.AssertionStatic, ...args: unknown[]) {
        if (args.length === 0 || args[0] === undefined || utils.flag(this, 'negate')) return original.apply(this, args);
        let thrown: unknown;
        let threw = false;
        if (utils.flag(this, 'promise') === 'rejects') {
          thrown = utils.flag(this, 'object');
          threw = true;
        } else {
          const subject = utils.flag(this, 'object') as unknown;
          if (typeof subject !== 'function') return original.apply(this, args);
          try {
            (subject as () => unknown)();
          } catch (error) {
            thrown = error;
            threw = true;
          }
          // The matcher judges what was thrown, without calling the code a second time.
          utils.flag(this, 'object', () => {
            if (threw) throw thrown;
          });
        }
        if (threw && (thrown === undefined || thrown === null))
          throw new chai.AssertionError(`expected an error matching ${String(args[0])}, but ${String(thrown)} was thrown`);
        return original.apply(this, args);
      };
    });
  }
});
