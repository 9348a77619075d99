import { batteryInWorkerThread } from '../../../adapters/entropy/entropy-thread';
import { bitsFromBytes, runBattery } from '../../../domain/sp800-22';
import { randomBytes } from '../sp800-90b/random-bytes';

describe('the entropy tests\' worker thread', () => {
  it('answers the SP 800-22 battery that runs inline, while the caller\'s event loop keeps turning', async () => {
    const bytes = randomBytes(125_000, 'battery in a thread');
    const order: string[] = [];
    const battery = batteryInWorkerThread({ bytes, bits: 1_000_000 }).then((results) => {
      order.push('battery answered');
      return results;
    });
    // Inline, the battery would hold the loop until it is done: its answer would come before this timer.
    await new Promise((resolve) => setTimeout(resolve, 0));
    order.push('a timer fired');
    const results = await battery;
    expect(order).toEqual(['a timer fired', 'battery answered']);
    expect(results).toEqual(runBattery(bitsFromBytes(bytes).subarray(0, 1_000_000)));
  });

  it('refuses at once when its caller has already given up', async () => {
    const controller = new AbortController();
    controller.abort(new Error('the harvest was cancelled'));
    await expect(batteryInWorkerThread({ bytes: new Uint8Array(16), bits: 128 }, controller.signal)).rejects.toThrow('the harvest was cancelled');
  });
});
