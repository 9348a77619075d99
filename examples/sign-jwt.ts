/**
 * Signs a JWT (ES256) with a keyrotor key inside the HSM, through PKCS#11, as an application does: the private key
 * never leaves the token. It opens the first HSM node of keyrotor's configuration (for `npm start`: the SoftHSM token
 * keyrotor-hsm-1 in .keyrotor/), finds version VERSION of key NAME by the label keyrotor gives it, and names it in the
 * header by its kid, so that a verifier picks the right public key from the JWKS.
 *
 *   npx tsx examples/sign-jwt.ts NAME VERSION
 */
import { createHash } from 'node:crypto';
import * as pkcs11js from 'pkcs11js';
import { loadConfig } from '../adapters/config-loader';
import { useModuleEnvironment } from '../adapters/pkcs11/module-environment';
import { readSecret } from '../adapters/secrets';
import { kidFor, pkcs11Label } from '../domain/keys/key-model';

const [name = '', version = '1'] = process.argv.slice(2);
const config = loadConfig();
const node = config.hsm.nodes[0]!;
useModuleEnvironment(config.dataDir, [node]); // for SoftHSM: SOFTHSM2_CONF, where `npm start` keeps the tokens
const hsm = new pkcs11js.PKCS11();
hsm.load(node.modulePath);
hsm.C_Initialize();
const slot = hsm.C_GetSlotList(true).find((s) => hsm.C_GetTokenInfo(s).label.replace(/[\s\0]+$/, '') === node.tokenLabel);
if (slot === undefined) throw new Error(`no token ${node.tokenLabel} on ${node.modulePath}`);
const session = hsm.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION);
hsm.C_Login(session, pkcs11js.CKU_USER, readSecret(node.pin, `PIN of ${node.id}`));
hsm.C_FindObjectsInit(session, [{ type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY }, { type: pkcs11js.CKA_LABEL, value: pkcs11Label(name, Number(version)) }]);
const [key] = hsm.C_FindObjects(session, 1);
hsm.C_FindObjectsFinal(session);
if (key === undefined) throw new Error(`no private key of ${name} v${version} on ${node.tokenLabel}`);
// keyrotor's CKA_ID is the SHA-256 of the public key (its fingerprint); the kid is made from it.
const fingerprint = Buffer.from(hsm.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_ID }])[0]!.value as Uint8Array).toString('hex');
const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
const input = `${part({ alg: 'ES256', typ: 'JWT', kid: kidFor(name, Number(version), fingerprint) })}.${part({ sub: 'quick-start', iat: Math.floor(Date.now() / 1000) })}`;
hsm.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, key);
// CKM_ECDSA signs a digest and answers r || s, which is the JWS form of an ES256 signature.
const signature = hsm.C_Sign(session, createHash('sha256').update(input).digest(), Buffer.alloc(64));
process.stdout.write(`${input}.${signature.toString('base64url')}\n`);
hsm.C_Logout(session);
hsm.C_CloseSession(session);
hsm.C_Finalize();
