export default async function globalTeardown(): Promise<void> {
  const services = globalThis.keyrotorTestServices;
  if (!services) return;
  await services.temporal.stop();
  await services.postgres.stop();
}
