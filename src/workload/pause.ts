/**
 * `membrane workload pause`: keeps a pod alive and does nothing, like a
 * pod's pause container. Exits 0 on SIGTERM or SIGINT.
 */
export function runPause(): Promise<void> {
  return new Promise((resolve) => {
    const timer = setInterval(() => { /* keeps the event loop alive */ }, 1 << 30);
    const stop = () => {
      clearInterval(timer);
      resolve();
    };
    process.once('SIGTERM', stop);
    process.once('SIGINT', stop);
  });
}
