import { DefaultLogger, Runtime } from '@temporalio/worker';

// Worker state changes, bundler output and the expected 'no workflows registered' warnings of split workers drown the test report.
Runtime.install({ logger: new DefaultLogger('ERROR'), shutdownSignals: [] });
