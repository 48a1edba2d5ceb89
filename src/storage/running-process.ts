/**
 * Whether process `pid` still runs on this machine. Only "no such process" (ESRCH) counts as gone:
 * a process of another user (EPERM) runs, and so does one we cannot ask about, so that what it
 * holds (a lock, a temporary file, a staging folder) is never taken from a live owner.
 */
export function processIsRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
