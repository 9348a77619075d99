-- Encryption keys (issue #15). An aes-256 version is a secret key: it has no public key, so no SPKI. An RSA-OAEP
-- version is published with the JWE algorithm its HSM decrypts (RSA-OAEP-256 where the module does OAEP with SHA-256,
-- RSA-OAEP on SoftHSM 2.6), chosen once when it is generated. The envelope API's own HSM calls (datakey, unwrap,
-- rewrap) are a usage source of their own: keyrotor saw them, no application reported them.
ALTER TABLE key_versions ALTER COLUMN spki DROP NOT NULL;
ALTER TABLE key_versions ADD COLUMN jwe_alg text CHECK (jwe_alg IN ('RSA-OAEP', 'RSA-OAEP-256'));

ALTER TABLE usage_events DROP CONSTRAINT usage_events_source_check;
ALTER TABLE usage_events ADD CONSTRAINT usage_events_source_check CHECK (source IN ('app-report', 'hsm-log', 'envelope-api'));
ALTER TABLE usage_hourly DROP CONSTRAINT usage_hourly_source_check;
ALTER TABLE usage_hourly ADD CONSTRAINT usage_hourly_source_check CHECK (source IN ('app-report', 'hsm-log', 'envelope-api'));

-- Tokens of the envelope API's applications: an encrypter makes and rewraps data keys, a decrypter unwraps them.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('admin', 'operator', 'auditor', 'encrypter', 'decrypter'));
