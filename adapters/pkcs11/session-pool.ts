import * as pkcs11js from 'pkcs11js';
import { HsmError, ckrOf, toHsmError } from './errors';
import { destroyInFreshInstance, type FreshDestroyRequest, type FreshDestroyResult } from './fresh-instance';
import { acquireModule, releaseModule } from './module-registry';
import { findTokenSlot, tokenSummary, type TokenSummary } from './token';

export interface SessionPoolOptions {
  nodeId: string;
  modulePath: string;
  tokenLabel: string;
  /** The user PIN; kept only inside the pool, never in a message. */
  pin: string;
  size: number;
}

export interface PooledSession {
  pkcs11: pkcs11js.PKCS11;
  session: pkcs11js.Handle;
  nodeId: string;
  /**
   * Handles of token objects this pool found or made, by a name its caller chose (keys.ts: class and ID, or the
   * wrapping key's label). PKCS#11 gives a token object one handle in every session of the application, valid while
   * one of its sessions on the token is open (SoftHSM drops them when the last closes), which the pool's sessions are
   * for its whole life. A handle taken from here is checked against the object's attributes before use: another
   * process may have destroyed the object, and another HSM may give a freed handle to a new object.
   */
  knownHandles: Map<string, pkcs11js.Handle>;
}

/**
 * The PKCS#11 sessions of one token. One operation per session at a time (overlapping operations on a session race),
 * so callers borrow a session for the length of one operation. `close()` refuses new work, waits for the borrowed
 * sessions to come back (a C_Finalize under a running async call crashes the process), then logs out and finalises.
 */
export class TokenSessionPool {
  private readonly idle: pkcs11js.Handle[] = [];
  private readonly all: pkcs11js.Handle[] = [];
  private readonly waiters: Array<(session: pkcs11js.Handle) => void> = [];
  private readonly knownHandles = new Map<string, pkcs11js.Handle>();
  private borrowed = 0;
  private closing = false;
  private drained: (() => void) | undefined;

  /** The PIN among them, in a #private field, which JSON.stringify of the pool leaves out. */
  readonly #options: SessionPoolOptions;

  private constructor(
    options: SessionPoolOptions,
    readonly pkcs11: pkcs11js.PKCS11,
    readonly slot: pkcs11js.Handle,
    sessions: pkcs11js.Handle[],
  ) {
    this.#options = options;
    this.idle.push(...sessions);
    this.all.push(...sessions);
  }

  get nodeId(): string {
    return this.#options.nodeId;
  }

  get tokenLabel(): string {
    return this.#options.tokenLabel;
  }

  private get modulePath(): string {
    return this.#options.modulePath;
  }

  static open(options: SessionPoolOptions): TokenSessionPool {
    const { nodeId, modulePath, tokenLabel, pin, size } = options;
    const pkcs11 = acquireModule(nodeId, modulePath);
    const sessions: pkcs11js.Handle[] = [];
    try {
      const slot = findTokenSlot(pkcs11, nodeId, tokenLabel);
      for (let i = 0; i < size; i += 1) {
        sessions.push(pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION));
      }
      login(pkcs11, sessions[0] as pkcs11js.Handle, nodeId, tokenLabel, pin);
      return new TokenSessionPool(options, pkcs11, slot, sessions);
    } catch (error) {
      for (const session of sessions) pkcs11.C_CloseSession(session);
      releaseModule(modulePath);
      throw toHsmError(nodeId, 'opening the session pool', error);
    }
  }

  /**
   * Destroys key objects as a module instance of its own sees the token (fresh-instance.ts): the check after a
   * destruction that this process's module cannot make. The PIN goes to the child on its standard input.
   */
  destroyInFreshInstance(request: FreshDestroyRequest): Promise<FreshDestroyResult> {
    if (this.closing) return Promise.reject(new HsmError(this.nodeId, undefined, 'a fresh-instance check refused: the session pool is shutting down', true));
    return destroyInFreshInstance(this.#options, request);
  }

  token(): TokenSummary {
    return tokenSummary(this.pkcs11, this.slot);
  }

  /** Borrows a session for one operation; waits when every session is busy. */
  async withSession<T>(operation: string, work: (session: PooledSession) => T | Promise<T>): Promise<T> {
    if (this.closing) throw new HsmError(this.nodeId, undefined, `${operation} refused: the session pool is shutting down`, true);
    const session = this.idle.pop() ?? (await new Promise<pkcs11js.Handle>((resolve) => this.waiters.push(resolve)));
    this.borrowed += 1;
    try {
      return await work({ pkcs11: this.pkcs11, session, nodeId: this.nodeId, knownHandles: this.knownHandles });
    } catch (error) {
      throw toHsmError(this.nodeId, operation, error);
    } finally {
      this.borrowed -= 1;
      this.giveBack(session);
    }
  }

  private giveBack(session: pkcs11js.Handle): void {
    const waiter = this.waiters.shift();
    if (waiter) {
      waiter(session);
      return;
    }
    this.idle.push(session);
    if (this.closing && this.borrowed === 0) this.drained?.();
  }

  get inFlight(): number {
    return this.borrowed;
  }

  /** Waits up to `drainMs` for in-flight calls, then closes the sessions and releases the module. */
  async close(drainMs = 30_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    if (this.borrowed > 0) {
      const drained = new Promise<void>((resolve) => {
        this.drained = resolve;
      });
      let timer: NodeJS.Timeout | undefined;
      const timedOut = new Promise<'timeout'>((resolve) => {
        timer = setTimeout(() => resolve('timeout'), drainMs);
      });
      const outcome = await Promise.race([drained, timedOut]);
      clearTimeout(timer);
      if (outcome === 'timeout') {
        // Finalising now could crash the process under a running async call; keep the module loaded instead.
        throw new HsmError(this.nodeId, undefined, `${this.borrowed} PKCS#11 calls still running after ${drainMs} ms; the module was left initialised`, false);
      }
    }
    try {
      // Only this pool's sessions: C_CloseAllSessions would also close those of other pools on the token in this process.
      for (const session of this.all) this.pkcs11.C_CloseSession(session);
    } finally {
      this.idle.length = 0;
      this.all.length = 0;
      this.knownHandles.clear();
      releaseModule(this.modulePath);
    }
  }
}

function login(pkcs11: pkcs11js.PKCS11, session: pkcs11js.Handle, nodeId: string, tokenLabel: string, pin: string): void {
  try {
    pkcs11.C_Login(session, pkcs11js.CKU_USER, pin);
  } catch (error) {
    const ckr = ckrOf(error);
    // Login state is per token per process: another pool of this process may have logged in already.
    if (ckr === 'CKR_USER_ALREADY_LOGGED_IN') return;
    if (ckr === 'CKR_PIN_INCORRECT') {
      throw new HsmError(nodeId, ckr, `token '${tokenLabel}' refused the configured PIN (CKR_PIN_INCORRECT); put the token's user PIN in the node's pin source`, false);
    }
    if (ckr === 'CKR_PIN_LOCKED') {
      throw new HsmError(nodeId, ckr, `token '${tokenLabel}' has locked its user PIN (CKR_PIN_LOCKED); the Security Officer must reset it`, false);
    }
    throw toHsmError(nodeId, `C_Login to token '${tokenLabel}'`, error);
  }
}
