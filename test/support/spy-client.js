// An application that uses a token through whatever module it is given: run by the spy-log tests in a process of its
// own (through pkcs11-spy.so, so that the spy logs what it does) or against SoftHSM directly to make its keys.
// Input: one JSON argument {module, tokenLabel, pin, steps}. Output: one JSON line of what it did.
// Plain JavaScript so that a child process runs it without a TypeScript loader.
const pkcs11js = require('pkcs11js');

const input = JSON.parse(process.argv[2]);
const pkcs11 = new pkcs11js.PKCS11();
pkcs11.load(input.module);
pkcs11.C_Initialize();
const done = [];
try {
  const slot = pkcs11.C_GetSlotList(true).find((candidate) => pkcs11.C_GetTokenInfo(candidate).label.replace(/[\s\0]+$/, '') === input.tokenLabel);
  if (slot === undefined) throw new Error(`no token labelled ${input.tokenLabel}`);
  const session = pkcs11.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION);
  pkcs11.C_Login(session, pkcs11js.CKU_USER, input.pin);

  const find = (by) => {
    const template = [{ type: pkcs11js.CKA_CLASS, value: by.class === 'secret' ? pkcs11js.CKO_SECRET_KEY : by.class === 'public' ? pkcs11js.CKO_PUBLIC_KEY : pkcs11js.CKO_PRIVATE_KEY }];
    if (by.id) template.push({ type: pkcs11js.CKA_ID, value: Buffer.from(by.id, 'hex') });
    if (by.label) template.push({ type: pkcs11js.CKA_LABEL, value: by.label });
    pkcs11.C_FindObjectsInit(session, template);
    try {
      const handle = pkcs11.C_FindObjects(session);
      if (!handle) throw new Error(`no key ${JSON.stringify(by)}`);
      return handle;
    } finally {
      pkcs11.C_FindObjectsFinal(session);
    }
  };
  const aesTemplate = (step, usages) => [
    { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
    { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
    { type: pkcs11js.CKA_VALUE_LEN, value: 32 },
    { type: pkcs11js.CKA_TOKEN, value: true },
    { type: pkcs11js.CKA_PRIVATE, value: true },
    { type: pkcs11js.CKA_SENSITIVE, value: true },
    { type: pkcs11js.CKA_EXTRACTABLE, value: Boolean(step.extractable) },
    { type: pkcs11js.CKA_ID, value: Buffer.from(step.id, 'hex') },
    { type: pkcs11js.CKA_LABEL, value: step.label },
    ...['ENCRYPT', 'DECRYPT', 'WRAP', 'UNWRAP', 'SIGN', 'VERIFY'].map((usage) => ({ type: pkcs11js[`CKA_${usage}`], value: usages.includes(usage.toLowerCase()) })),
  ];
  const ecdsa = { mechanism: pkcs11js.CKM_ECDSA };
  const cbc = () => ({ mechanism: pkcs11js.CKM_AES_CBC_PAD, parameter: Buffer.alloc(16, 7) });
  const digest = Buffer.alloc(32, 0x5a);

  for (const step of input.steps) {
    if (step.op === 'make-ec') {
      const common = [{ type: pkcs11js.CKA_TOKEN, value: true }, { type: pkcs11js.CKA_ID, value: Buffer.from(step.id, 'hex') }, { type: pkcs11js.CKA_LABEL, value: step.label }];
      pkcs11.C_GenerateKeyPair(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [...common, { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from('06082a8648ce3d030107', 'hex') }, { type: pkcs11js.CKA_VERIFY, value: true }],
        [...common, { type: pkcs11js.CKA_PRIVATE, value: true }, { type: pkcs11js.CKA_SENSITIVE, value: true }, { type: pkcs11js.CKA_SIGN, value: true }],
      );
    } else if (step.op === 'make-aes') {
      pkcs11.C_GenerateKey(session, { mechanism: pkcs11js.CKM_AES_KEY_GEN }, aesTemplate(step, step.usages));
    } else if (step.op === 'sign') {
      // One signature per round: SignInit then Sign, or SignInit, `parts` SignUpdates and SignFinal.
      const key = find(step.find);
      // An application that found its key by class alone and reads its ID and label afterwards.
      if (step.readAttributes) pkcs11.C_GetAttributeValue(session, key, [{ type: pkcs11js.CKA_ID }, { type: pkcs11js.CKA_LABEL }]);
      for (let i = 0; i < step.count; i += 1) {
        pkcs11.C_SignInit(session, step.parts ? { mechanism: pkcs11js.CKM_AES_CMAC } : ecdsa, key);
        if (step.parts) {
          for (let part = 0; part < step.parts; part += 1) pkcs11.C_SignUpdate(session, digest);
          pkcs11.C_SignFinal(session, Buffer.alloc(64));
        } else {
          if (step.tooSmallFirst) {
            try {
              pkcs11.C_Sign(session, digest, Buffer.alloc(8));
            } catch (error) {
              if (!String(error.message).includes('CKR_BUFFER_TOO_SMALL')) throw error;
            }
          }
          pkcs11.C_Sign(session, digest, Buffer.alloc(64));
        }
      }
    } else if (step.op === 'sign-refused') {
      // SignInit with a key that may not sign: the HSM refuses, nothing is used.
      const key = find(step.find);
      try {
        pkcs11.C_SignInit(session, ecdsa, key);
        throw new Error('SignInit was expected to fail');
      } catch (error) {
        if (!String(error.message).includes('CKR_KEY_FUNCTION_NOT_PERMITTED') && !String(error.message).includes('CKR_KEY_TYPE_INCONSISTENT')) throw error;
      }
    } else if (step.op === 'verify') {
      const key = find(step.find);
      const signer = find({ ...step.find, class: 'private' });
      pkcs11.C_SignInit(session, ecdsa, signer);
      const signature = pkcs11.C_Sign(session, digest, Buffer.alloc(64));
      for (let i = 0; i < step.count; i += 1) {
        pkcs11.C_VerifyInit(session, ecdsa, key);
        pkcs11.C_Verify(session, digest, signature);
      }
    } else if (step.op === 'encrypt-decrypt') {
      const key = find(step.find);
      for (let i = 0; i < step.count; i += 1) {
        pkcs11.C_EncryptInit(session, cbc(), key);
        const sealed = Buffer.from(pkcs11.C_Encrypt(session, Buffer.from('a secret message'), Buffer.alloc(64)));
        pkcs11.C_DecryptInit(session, cbc(), key);
        pkcs11.C_Decrypt(session, sealed, Buffer.alloc(64));
      }
    } else if (step.op === 'wrap-unwrap') {
      const kek = find(step.find);
      const target = find(step.target);
      const wrapped = Buffer.from(pkcs11.C_WrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, target, Buffer.alloc(64)));
      pkcs11.C_UnwrapKey(session, { mechanism: pkcs11js.CKM_AES_KEY_WRAP_PAD }, kek, wrapped, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_SECRET_KEY },
        { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_AES },
        { type: pkcs11js.CKA_TOKEN, value: false },
        { type: pkcs11js.CKA_ENCRYPT, value: true },
      ]);
    } else {
      throw new Error(`unknown step ${step.op}`);
    }
    done.push(step.op);
  }
  pkcs11.C_Logout(session);
  pkcs11.C_CloseSession(session);
} finally {
  pkcs11.C_Finalize();
}
process.stdout.write(`${JSON.stringify({ done })}\n`);
