// Crash points for tests (PHOTOSYNC_FAULT_INJECTION, only with NODE_ENV=test): the code that must
// survive a crash names its steps, and a test process dies at the one it was told.

/** Kills the process outright at the named point, as a power cut or OOM kill would. */
export function crashAt(point: string): (name: string) => void {
  return (name) => {
    if (name === point) process.kill(process.pid, 'SIGKILL');
  };
}
