/** Seconds spent per named stage of a long run (reported in its report's `timings`). */
export function stageTimer(): { stages: Record<string, number>; timed: <T>(stage: string, fn: () => Promise<T>) => Promise<T> } {
  const stages: Record<string, number> = {};
  const timed = async <T>(stage: string, fn: () => Promise<T>): Promise<T> => {
    const st = performance.now();
    try {
      return await fn();
    } finally {
      stages[stage] = (stages[stage] ?? 0) + (performance.now() - st) / 1000;
    }
  };
  return { stages, timed };
}
