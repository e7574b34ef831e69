/* The baseline of bench/startup.py: a preload library with nothing in it,
 * so that what any preload costs the loader cancels out of the ratio. */
int pinshim_bench_empty;
