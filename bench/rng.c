/* The benchmarks' seeded random streams (fleet.h): splitmix64, so a seed
 * gives the same fleet, certificates and events on every run. */
#include "fleet.h"

uint64_t rng_next(uint64_t *s)
{
	uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

uint64_t rng_stream(uint64_t seed, uint64_t purpose, uint64_t index)
{
	uint64_t s = seed * 0x100000001b3ULL ^ purpose << 40 ^ index;

	rng_next(&s);
	return rng_next(&s);
}

double rng_unit(uint64_t *s)
{
	return (double)(rng_next(s) >> 11) * (1.0 / 9007199254740992.0);
}

uint64_t rng_below(uint64_t *s, uint64_t n)
{
	return n > 0 ? rng_next(s) % n : 0;
}
