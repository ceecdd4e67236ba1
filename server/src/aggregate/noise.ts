/** Laplace noise by inverse CDF from a uniform in (0, 1); `uniform` comes from libsodium's CSPRNG. */
export function laplaceNoise(scale: number, uniform: () => number): number {
  const u = uniform() - 0.5;
  return -scale * Math.sign(u) * Math.log(1 - 2 * Math.abs(u));
}
