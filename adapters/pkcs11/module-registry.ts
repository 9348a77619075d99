import { existsSync } from 'node:fs';
import * as pkcs11js from 'pkcs11js';
import { HsmError, ckrOf, toHsmError } from './errors';

interface LoadedModule {
  pkcs11: pkcs11js.PKCS11;
  users: number;
}

// A PKCS#11 library may be initialised once per process, however many tokens (nodes) it serves.
const modules = new Map<string, LoadedModule>();

/** Loads and initialises the module at `modulePath` (once per process) and counts the caller as a user. */
export function acquireModule(nodeId: string, modulePath: string): pkcs11js.PKCS11 {
  const loaded = modules.get(modulePath);
  if (loaded) {
    loaded.users += 1;
    return loaded.pkcs11;
  }
  if (!existsSync(modulePath)) {
    throw new HsmError(nodeId, undefined, `PKCS#11 module '${modulePath}' does not exist; install the HSM's client library or fix the node's modulePath`, false);
  }
  const pkcs11 = new pkcs11js.PKCS11();
  try {
    pkcs11.load(modulePath);
  } catch (error) {
    throw new HsmError(nodeId, undefined, `'${modulePath}' could not be loaded as a PKCS#11 module (${(error as Error).message}); check the node's modulePath`, false, { cause: error });
  }
  try {
    // Without CKF_OS_LOCKING_OK SoftHSM turns its own locking off, and async calls run on several threads.
    pkcs11.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    // Another copy of this registry in the process (a second loader of this file) initialised the library already.
    if (ckrOf(error) !== 'CKR_CRYPTOKI_ALREADY_INITIALIZED') {
      pkcs11.close();
      throw toHsmError(nodeId, `C_Initialize of '${modulePath}'`, error);
    }
  }
  modules.set(modulePath, { pkcs11, users: 1 });
  return pkcs11;
}

/** Drops one user; the last one finalises the module. Callers must have drained their in-flight calls first. */
export function releaseModule(modulePath: string): void {
  const loaded = modules.get(modulePath);
  if (!loaded) return;
  loaded.users -= 1;
  if (loaded.users > 0) return;
  modules.delete(modulePath);
  try {
    loaded.pkcs11.C_Finalize();
  } finally {
    loaded.pkcs11.close();
  }
}
