/**
 * Sequential store round trips of one request: a call's round is one more than the deepest round that had
 * completed when it started (a call started only after another ended may have waited for it), so calls
 * made at once share a round. `reset` before each request, `count` after it.
 */
export class Rounds {
  #settled = 0;
  #deepest = 0;

  reset(): void {
    this.#settled = 0;
    this.#deepest = 0;
  }

  get count(): number {
    return this.#deepest;
  }

  start(): number {
    const round = this.#settled + 1;
    this.#deepest = Math.max(this.#deepest, round);
    return round;
  }

  end(round: number): void {
    this.#settled = Math.max(this.#settled, round);
  }
}
